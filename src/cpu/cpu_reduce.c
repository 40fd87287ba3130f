// CPU reductions and the pixel losses (twin of kernels/cuda_reduce.cu): sum, sum of
// squares, min, max, dot, the content (mse) loss and total variation. Sums accumulate
// in double over a fixed partition of [0, n) that depends only on n, so results are
// the same whatever the thread count.
#include <math.h>

#include "core/elementwise.h"
#include "cpu/cpu.h"

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

// The double sum over [0, n) of part(lo, hi, ctx) on the fixed chunks of red_chunks.
typedef double chunk_sum_fn(size_t lo, size_t hi, const void *ctx);

static double chunked_sum(size_t n, chunk_sum_fn *part_of, const void *ctx) {
    size_t len, k = red_chunks(n, &len);
    double part[RED_CHUNKS];
#pragma omp parallel for schedule(static) if (k > 1)
    for (size_t j = 0; j < k; j++) {
        size_t lo = j * len, hi = lo + len < n ? lo + len : n;
        part[j] = part_of(lo, hi, ctx);
    }
    return sum_parts(part, k);
}

typedef struct {
    const float *a, *b;
} dot_args;

static double dot_part(size_t lo, size_t hi, const void *ctx) {
    const float *a = ((const dot_args *)ctx)->a, *b = ((const dot_args *)ctx)->b;
    double acc = 0;
    for (size_t i = lo; i < hi; i++) acc += (double)a[i] * b[i];
    return acc;
}

int nst_cpu_dot(float *out1, const float *a, const float *b, size_t n, nst_err *e) {
    (void)e;
    dot_args d = {a, b};
    *out1 = (float)chunked_sum(n, dot_part, &d);
    return 0;
}

typedef struct {
    float *grad;
    const float *f, *p;
    float scale;
} mse_args;

// The squared differences of [lo, hi) and, where wanted, their gradient scale * d.
static double mse_part(size_t lo, size_t hi, const void *ctx) {
    const mse_args *m = ctx;
    const float *f = m->f, *p = m->p;
    float *grad = m->grad, scale = m->scale;
    double acc = 0;
    for (size_t i = lo; i < hi; i++) {
        float d = f[i] - p[i];
        acc += (double)d * d;
        if (grad) grad[i] = scale * d;
    }
    return acc;
}

int nst_cpu_mse_loss(float *loss1, float *grad, const float *f, const float *p, size_t n,
                     float scale, nst_err *e) {
    (void)e;
    mse_args m = {grad, f, p, scale};
    *loss1 = (float)(0.5 * (double)scale * chunked_sum(n, mse_part, &m));
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
        float dxl = j > 0 ? v - r[j - 1] : 0; // the one ending here
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
            acc += tv_row(grad ? grad + p * plane : NULL, x + p * plane, (int)(r % h), h, wd, l1,
                          scale);
        }
        part[j] = acc;
    }
    *loss1 = (float)((double)scale * sum_parts(part, k));
    return 0;
}
