// CPU elementwise ops, reductions, Adam and the pixel losses. Memory-bound loops: one
// OpenMP parallel-for each when the array is big enough to pay for the threads.
// Reductions accumulate in double over a fixed partition of [0, n) that depends only
// on n, so results are the same whatever the thread count.
#include <math.h>

#include "cpu/cpu.h"
#include "core/elementwise.h"

// Reductions split [0, n) into at most RED_CHUNKS pieces of at least RED_MIN elements.
#define RED_CHUNKS 64
#define RED_MIN 8192

static size_t red_chunks(size_t n, size_t *len) {
    size_t k = (n + RED_MIN - 1) / RED_MIN;
    if (k > RED_CHUNKS) k = RED_CHUNKS;
    if (k == 0) k = 1;
    *len = (n + k - 1) / k;
    // Recount so that every chunk is non-empty.
    return n == 0 ? 1 : (n + *len - 1) / *len;
}

static double sum_parts(const double *p, size_t k) {
    double s = 0;
    for (size_t i = 0; i < k; i++) s += p[i];
    return s;
}

// NaN-propagating max/min, as torch.maximum / torch.minimum.

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

int nst_cpu_reduce(float *out1, const float *a, size_t n, nst_reduce op, nst_err *e) {
    if ((int)op < (int)NST_SUM || (int)op > (int)NST_MAX)
        return nst_fail(e, "cpu: unknown reduction %d", (int)op);
    if (n == 0) {
        if (op == NST_MIN || op == NST_MAX) return nst_fail(e, "cpu: min/max of an empty tensor");
        *out1 = 0;
        return 0;
    }
    size_t len, k = red_chunks(n, &len);
    double part[RED_CHUNKS];
#pragma omp parallel for schedule(static) if (k > 1)
    for (size_t j = 0; j < k; j++) {
        size_t lo = j * len, hi = lo + len < n ? lo + len : n;
        double acc;
        if (op == NST_SUM) {
            acc = 0;
            for (size_t i = lo; i < hi; i++) acc += a[i];
        } else if (op == NST_SUMSQ) {
            acc = 0;
            for (size_t i = lo; i < hi; i++) acc += (double)a[i] * a[i];
        } else {
            float m = a[lo];
            for (size_t i = lo + 1; i < hi; i++)
                m = op == NST_MIN ? nst_min_nan(m, a[i]) : nst_max_nan(m, a[i]);
            acc = m;
        }
        part[j] = acc;
    }
    if (op == NST_SUM || op == NST_SUMSQ) {
        *out1 = (float)sum_parts(part, k);
    } else {
        float m = (float)part[0];
        for (size_t j = 1; j < k; j++)
            m = op == NST_MIN ? nst_min_nan(m, (float)part[j]) : nst_max_nan(m, (float)part[j]);
        *out1 = m;
    }
    return 0;
}

int nst_cpu_dot(float *out1, const float *a, const float *b, size_t n, nst_err *e) {
    (void)e;
    size_t len, k = red_chunks(n, &len);
    double part[RED_CHUNKS];
#pragma omp parallel for schedule(static) if (k > 1)
    for (size_t j = 0; j < k; j++) {
        size_t lo = j * len, hi = lo + len < n ? lo + len : n;
        double acc = 0;
        for (size_t i = lo; i < hi; i++) acc += (double)a[i] * b[i];
        part[j] = acc;
    }
    *out1 = (float)sum_parts(part, k);
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
        if (perm[c] < 0 || perm[c] > 2) return nst_fail(e, "cpu: channel_affine perm[%d] = %d", c, perm[c]);
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

int nst_cpu_mse_loss(float *loss1, float *grad, const float *f, const float *p, size_t n,
                     float scale, nst_err *e) {
    (void)e;
    size_t len, k = red_chunks(n, &len);
    double part[RED_CHUNKS];
#pragma omp parallel for schedule(static) if (k > 1)
    for (size_t j = 0; j < k; j++) {
        size_t lo = j * len, hi = lo + len < n ? lo + len : n;
        double acc = 0;
        for (size_t i = lo; i < hi; i++) {
            float d = f[i] - p[i];
            acc += (double)d * d;
            if (grad) grad[i] = scale * d;
        }
        part[j] = acc;
    }
    *loss1 = (float)(0.5 * (double)scale * sum_parts(part, k));
    return 0;
}

static inline float sgnf(float x) { return (float)((x > 0) - (x < 0)); }

// Loss of one row of one plane and its gradient. Row i of a plane (h, w) at xp.
static double tv_row(float *gp, const float *xp, int i, int h, int w, int l1, float scale) {
    const float *r = xp + (size_t)i * w;
    double acc = 0;
    for (int j = 0; j < w; j++) {
        float v = r[j];
        float dxr = j + 1 < w ? r[j + 1] - v : 0; // forward difference to the right
        float dxl = j > 0 ? v - r[j - 1] : 0;     // the one ending here
        float dyd = i + 1 < h ? r[j + w] - v : 0;
        float dyu = i > 0 ? v - r[j - (ptrdiff_t)w] : 0;
        if (l1) {
            acc += fabsf(dxr) + fabsf(dyd);
            if (gp) gp[(size_t)i * w + j] = scale * (sgnf(dxl) - sgnf(dxr) + sgnf(dyu) - sgnf(dyd));
        } else {
            acc += (double)dxr * dxr + (double)dyd * dyd;
            if (gp) gp[(size_t)i * w + j] = scale * 2.0f * (dxl - dxr + dyu - dyd);
        }
    }
    return acc;
}

int nst_cpu_tv_loss(float *loss1, float *grad, const float *x, int n, int c, int h, int wd, int l1,
                    float scale, nst_err *e) {
    if (n < 1 || c < 1 || h < 1 || wd < 1)
        return nst_fail(e, "cpu: tv_loss shape %dx%dx%dx%d", n, c, h, wd);
    size_t rows = (size_t)n * c * h;
    // Chunks of whole rows, fixed by the shape only (deterministic sums).
    size_t k = rows < RED_CHUNKS ? rows : RED_CHUNKS, len = (rows + k - 1) / k;
    k = (rows + len - 1) / len; // every chunk non-empty
    double part[RED_CHUNKS];
    size_t plane = (size_t)h * wd;
#pragma omp parallel for schedule(static) if (rows * wd > NST_CPU_PAR_MIN)
    for (size_t j = 0; j < k; j++) {
        size_t lo = j * len, hi = lo + len < rows ? lo + len : rows;
        double acc = 0;
        for (size_t r = lo; r < hi; r++) {
            size_t p = r / h;
            acc += tv_row(grad ? grad + p * plane : NULL, x + p * plane, (int)(r % h), h, wd, l1, scale);
        }
        part[j] = acc;
    }
    *loss1 = (float)((double)scale * sum_parts(part, k));
    return 0;
}
