// CPU twin of kernels/cuda_moments.cu: the two elementwise passes around the GEMMs of
// the weighted feature moments (core/ops_style.c). Features are (c, m) row-major; the
// guide factors r (m) weight position i by r[i]^2.
#include "cpu/cpu.h"

// One pass over (c, m): out[k][i] = (a[k][i] - v[k]) * r[i] to center, or
// r[i] * a[k][i] + r[i]^2 * v[k] for the gradient (v NULL: 0; r NULL: r0 everywhere).
static int moments_pass(const char *what, int grad, float *out, const float *a, const float *v,
                        const float *r, int c, int64_t m, float r0, nst_err *e) {
    if (c < 1 || m < 1) return nst_fail(e, "cpu: %s sizes c=%d m=%lld", what, c, (long long)m);
    size_t total = (size_t)c * (size_t)m;
#pragma omp parallel for schedule(static) if (total > NST_CPU_PAR_MIN)
    for (int k = 0; k < c; k++) {
        const float *ak = a + (size_t)k * m;
        float *ok = out + (size_t)k * m, vk = v ? v[k] : 0.0f;
        for (int64_t i = 0; i < m; i++) {
            float ri = r ? r[i] : r0;
            ok[i] = grad ? ri * ak[i] + ri * ri * vk : (ak[i] - vk) * ri;
        }
    }
    return 0;
}

int nst_cpu_moments_center(float *out, const float *f, const float *mu, const float *r, int c,
                           int64_t m, float r0, nst_err *e) {
    return moments_pass("moments_center", 0, out, f, mu, r, c, m, r0, e);
}

int nst_cpu_moments_grad(float *grad, const float *y, const float *v, const float *r, int c,
                         int64_t m, float r0, nst_err *e) {
    return moments_pass("moments_grad", 1, grad, y, v, r, c, m, r0, e);
}
