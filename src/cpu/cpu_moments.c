// CPU twin of kernels/cuda_moments.cu: the two elementwise passes around the GEMMs of
// the weighted feature moments (core/ops_style.c). Features are (c, m) row-major; the
// guide factors r (m) weight position i by r[i]^2.
#include "cpu/cpu.h"

static int moments_sizes(const char *what, int c, int64_t m, nst_err *e) {
    if (c < 1 || m < 1) return nst_fail(e, "cpu: %s sizes c=%d m=%lld", what, c, (long long)m);
    return 0;
}

int nst_cpu_moments_center(float *out, const float *f, const float *mu, const float *r, int c,
                           int64_t m, float r0, nst_err *e) {
    if (moments_sizes("moments_center", c, m, e)) return -1;
    size_t total = (size_t)c * (size_t)m;
#pragma omp parallel for schedule(static) if (total > NST_CPU_PAR_MIN)
    for (int k = 0; k < c; k++) {
        const float *fk = f + (size_t)k * m;
        float *ok = out + (size_t)k * m, mk = mu ? mu[k] : 0.0f;
        for (int64_t i = 0; i < m; i++) ok[i] = (fk[i] - mk) * (r ? r[i] : r0);
    }
    return 0;
}

int nst_cpu_moments_grad(float *grad, const float *y, const float *v, const float *r, int c,
                         int64_t m, float r0, nst_err *e) {
    if (moments_sizes("moments_grad", c, m, e)) return -1;
    size_t total = (size_t)c * (size_t)m;
#pragma omp parallel for schedule(static) if (total > NST_CPU_PAR_MIN)
    for (int k = 0; k < c; k++) {
        const float *yk = y + (size_t)k * m;
        float *gk = grad + (size_t)k * m, vk = v ? v[k] : 0.0f;
        for (int64_t i = 0; i < m; i++) {
            float ri = r ? r[i] : r0;
            gk[i] = ri * yk[i] + ri * ri * vk;
        }
    }
    return 0;
}
