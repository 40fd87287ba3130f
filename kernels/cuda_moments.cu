// The weighted moments' two elementwise passes on the GPU (the CPU twin is
// src/cpu/cpu_moments.c); the GEMMs around them are cuda_blas.cu's. Features are (c, m)
// row-major; the guide factors r (m) weight position i by r[i]^2 (r NULL: r0 everywhere).
#include "cuda_internal.h"

__global__ void moments_center_kernel(float *out, const float *f, const float *mu, const float *r,
                                      int64_t m, float r0, size_t total) {
    NST_CU_GRID_STRIDE(idx, total) {
        size_t k = idx / (size_t)m, i = idx % (size_t)m;
        out[idx] = (f[idx] - (mu ? mu[k] : 0.0f)) * (r ? r[i] : r0);
    }
}

__global__ void moments_grad_kernel(float *grad, const float *y, const float *v, const float *r,
                                    int64_t m, float r0, size_t total) {
    NST_CU_GRID_STRIDE(idx, total) {
        size_t k = idx / (size_t)m, i = idx % (size_t)m;
        float ri = r ? r[i] : r0;
        grad[idx] = ri * y[idx] + ri * ri * (v ? v[k] : 0.0f);
    }
}

static int moments_sizes(const char *what, int c, int64_t m, cudaStream_t *s, nst_err *e) {
    if (c < 1 || m < 1) return nst_fail(e, "%s: bad sizes c=%d m=%lld", what, c, (long long)m);
    return nst_cu_stream(s, e);
}

int nst_cu_moments_center(float *out, const float *f, const float *mu, const float *r, int c,
                          int64_t m, float r0, nst_err *e) {
    cudaStream_t s;
    if (moments_sizes("moments_center", c, m, &s, e)) return -1;
    size_t total = (size_t)c * (size_t)m;
    moments_center_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(out, f, mu, r, m, r0,
                                                                          total);
    return nst_cu_launched("moments_center_kernel", e);
}

int nst_cu_moments_grad(float *grad, const float *y, const float *v, const float *r, int c,
                        int64_t m, float r0, nst_err *e) {
    cudaStream_t s;
    if (moments_sizes("moments_grad", c, m, &s, e)) return -1;
    size_t total = (size_t)c * (size_t)m;
    moments_grad_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(grad, y, v, r, m, r0,
                                                                        total);
    return nst_cu_launched("moments_grad_kernel", e);
}
