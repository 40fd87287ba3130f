// CPU elementwise ops (twin of kernels/cuda_elementwise.cu): fill, binary, scalar and
// unary ops, axpy, clamp, ReLU, channel_affine and the fused Adam step. Memory-bound
// loops: one OpenMP parallel-for each when the array is big enough to pay for the
// threads. The scalar rules are core/elementwise.h's, shared with the CUDA kernels.
#include <math.h>

#include "cpu/cpu.h"
#include "core/elementwise.h"

static int check_binop(nst_binop op, nst_err *e) {
    if ((int)op < (int)NST_ADD || (int)op > (int)NST_MINIMUM)
        return nst_fail(e, "cpu: unknown binary op %d", (int)op);
    return 0;
}

int nst_cpu_fill(float *out, size_t n, float v, nst_err *e) {
    (void)e;
#pragma omp parallel for schedule(static) if (n > NST_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = v;
    return 0;
}

int nst_cpu_binary(float *out, const float *a, size_t na, const float *b, size_t nb, nst_binop op,
                   nst_err *e) {
    if (check_binop(op, e)) return -1;
    size_t n = na > nb ? na : nb;
    if ((na != 1 && na != n) || (nb != 1 && nb != n))
        return nst_fail(e, "cpu: binary op sizes %zu and %zu do not broadcast", na, nb);
    // Separate loops so the common full-size case vectorizes without index selects.
    if (na == n && nb == n) {
#pragma omp parallel for schedule(static) if (n > NST_CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) out[i] = nst_binop_apply(op, a[i], b[i]);
    } else if (nb == 1) {
        float s = b[0];
#pragma omp parallel for schedule(static) if (n > NST_CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) out[i] = nst_binop_apply(op, a[i], s);
    } else {
        float s = a[0];
#pragma omp parallel for schedule(static) if (n > NST_CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) out[i] = nst_binop_apply(op, s, b[i]);
    }
    return 0;
}

int nst_cpu_binary_scalar(float *out, const float *a, size_t n, float s, int reversed, nst_binop op,
                          nst_err *e) {
    if (check_binop(op, e)) return -1;
    if (reversed) {
#pragma omp parallel for schedule(static) if (n > NST_CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) out[i] = nst_binop_apply(op, s, a[i]);
    } else {
#pragma omp parallel for schedule(static) if (n > NST_CPU_PAR_MIN)
        for (size_t i = 0; i < n; i++) out[i] = nst_binop_apply(op, a[i], s);
    }
    return 0;
}

int nst_cpu_unary(float *out, const float *a, size_t n, nst_unop op, nst_err *e) {
    if ((int)op < (int)NST_NEG || (int)op > (int)NST_SIGN)
        return nst_fail(e, "cpu: unknown unary op %d", (int)op);
#pragma omp parallel for schedule(static) if (n > NST_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = nst_unop_apply(op, a[i]);
    return 0;
}

int nst_cpu_axpy(float *y, const float *x, size_t n, float alpha, nst_err *e) {
    (void)e;
#pragma omp parallel for schedule(static) if (n > NST_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] += alpha * x[i];
    return 0;
}

int nst_cpu_clamp(float *out, const float *a, size_t n, float lo, float hi, nst_err *e) {
    (void)e;
    // As torch.clamp: min first, then max; NaN stays NaN.
#pragma omp parallel for schedule(static) if (n > NST_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float x = a[i];
        if (x < lo) x = lo;
        if (x > hi) x = hi;
        out[i] = x;
    }
    return 0;
}

int nst_cpu_relu_fwd(float *y, const float *x, size_t n, nst_err *e) {
    (void)e;
#pragma omp parallel for schedule(static) if (n > NST_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
    return 0;
}

int nst_cpu_relu_bwd(float *dx, const float *dy, const float *y, size_t n, nst_err *e) {
    (void)e;
#pragma omp parallel for schedule(static) if (n > NST_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
    return 0;
}

int nst_cpu_channel_affine(float *out, const float *x, int batch, size_t hw, const int perm[3],
                           const float scale[3], const float shift[3], nst_err *e) {
    for (int c = 0; c < 3; c++)
        if (perm[c] < 0 || perm[c] > 2)
            return nst_fail(e, "cpu: channel_affine perm[%d] = %d", c, perm[c]);
    for (int b = 0; b < batch; b++) {
        const float *xb = x + (size_t)b * 3 * hw;
        float *ob = out + (size_t)b * 3 * hw;
        const float *s0 = xb + (size_t)perm[0] * hw, *s1 = xb + (size_t)perm[1] * hw,
                    *s2 = xb + (size_t)perm[2] * hw;
        // All three inputs of a pixel are read before any output is written, so out
        // may alias x.
#pragma omp parallel for schedule(static) if (hw > NST_CPU_PAR_MIN)
        for (size_t i = 0; i < hw; i++) {
            float v0 = s0[i], v1 = s1[i], v2 = s2[i];
            ob[i] = scale[0] * v0 + shift[0];
            ob[hw + i] = scale[1] * v1 + shift[1];
            ob[2 * hw + i] = scale[2] * v2 + shift[2];
        }
    }
    return 0;
}

int nst_cpu_adam_counted(float *x, const float *g, float *m, float *v, size_t n, float lr,
                         float beta1, float beta2, float eps, float *steps, nst_err *e) {
    float t = steps[0] + 1.0f;
    if (!(t >= 1.0f && t < 16777216.0f)) // integers stay exact in float below 2^24
        return nst_fail(e, "cpu: adam step count %g is not a count of steps", (double)steps[0]);
    if (nst_cpu_adam(x, g, m, v, n, lr, beta1, beta2, eps, (int)t, e)) return -1;
    steps[0] = t;
    return 0;
}

int nst_cpu_adam(float *x, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                 float beta2, float eps, int t, nst_err *e) {
    if (t < 1) return nst_fail(e, "cpu: adam step t must be >= 1, got %d", t);
    // As torch.optim.Adam: bias corrections in double, the update in float.
    double bc1 = 1.0 - pow((double)beta1, t), bc2 = 1.0 - pow((double)beta2, t);
    float step = (float)((double)lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    float a1 = (float)(1.0 - (double)beta1), a2 = (float)(1.0 - (double)beta2);
#pragma omp parallel for schedule(static) if (n > NST_CPU_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        nst_adam_update(&x[i], g[i], &m[i], &v[i], beta1, beta2, a1, a2, eps, step, bc2_sqrt);
    return 0;
}
