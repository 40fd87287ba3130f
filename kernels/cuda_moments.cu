// The weighted moments' two elementwise passes on the GPU (the CPU twin is
// src/cpu/cpu_moments.c); the GEMMs around them are cuda_blas.cu's. Features are (c, m)
// row-major; the guide factors r (m) weight position i by r[i]^2 (r NULL: r0 everywhere).
#include "cuda_internal.h"

// out = (a - v[k]) * r[i] to center, r[i] * a + r[i]^2 * v[k] for the gradient; the
// CPU twin's moments_pass, one thread per element.
__global__ void moments_pass_kernel(float *out, const float *a, const float *v, const float *r,
                                    int64_t m, float r0, size_t total, int grad) {
    NST_CU_GRID_STRIDE(idx, total) {
        size_t k = idx / (size_t)m, i = idx % (size_t)m;
        float ri = r ? r[i] : r0, vk = v ? v[k] : 0.0f;
        out[idx] = grad ? ri * a[idx] + ri * ri * vk : (a[idx] - vk) * ri;
    }
}

static int moments_pass(const char *what, int grad, float *out, const float *a, const float *v,
                        const float *r, int c, int64_t m, float r0, nst_err *e) {
    cudaStream_t s;
    if (c < 1 || m < 1) return nst_fail(e, "%s: bad sizes c=%d m=%lld", what, c, (long long)m);
    if (nst_cu_stream(&s, e)) return -1;
    size_t total = (size_t)c * (size_t)m;
    moments_pass_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(out, a, v, r, m, r0, total,
                                                                        grad);
    return nst_cu_launched(what, e);
}

int nst_cu_moments_center(float *out, const float *f, const float *mu, const float *r, int c,
                          int64_t m, float r0, nst_err *e) {
    return moments_pass("moments_center", 0, out, f, mu, r, c, m, r0, e);
}

int nst_cu_moments_grad(float *grad, const float *y, const float *v, const float *r, int c,
                        int64_t m, float r0, nst_err *e) {
    return moments_pass("moments_grad", 1, grad, y, v, r, c, m, r0, e);
}
