// Separable resampling with a triangle filter, computed like PIL's ImagingResample
// (and torch's interpolate(..., antialias=True)): output pixel i has its centre at
// (i + 0.5) * in/out in input coordinates; when shrinking, the filter's support grows
// by the factor, so every input pixel contributes (antialiasing); when enlarging this
// is plain bilinear with half-pixel centres. Weights are renormalized at the borders.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/image.h"

// Weights of one axis: output i reads count[i] inputs from start[i] with weights
// w[i * ksize ..].
typedef struct axis_coeffs {
    int64_t *start;
    int64_t *count;
    double *w;
    int64_t ksize;
} axis_coeffs;

static void coeffs_free(axis_coeffs *c) {
    free(c->start);
    free(c->count);
    free(c->w);
}

static double triangle(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static int coeffs_make(axis_coeffs *c, int64_t in, int64_t out, nst_err *e) {
    memset(c, 0, sizeof *c);
    double scale = (double)in / (double)out;
    double fscale = scale > 1.0 ? scale : 1.0;
    double support = 1.0 * fscale; // the triangle's support is 1
    c->ksize = (int64_t)ceil(support) * 2 + 1;
    size_t nw;
    if (nst_mul_size((size_t)out, (size_t)c->ksize, &nw) || nst_mul_size(nw, sizeof(double), &nw))
        return nst_fail(e, "resize: filter too large (%lld -> %lld)", (long long)in,
                        (long long)out);
    c->start = malloc((size_t)out * sizeof *c->start);
    c->count = malloc((size_t)out * sizeof *c->count);
    c->w = malloc(nw);
    if (!c->start || !c->count || !c->w) {
        coeffs_free(c);
        return nst_fail(e, "resize: out of memory for the filter (%lld -> %lld)", (long long)in,
                        (long long)out);
    }
    for (int64_t i = 0; i < out; i++) {
        double center = ((double)i + 0.5) * scale;
        int64_t lo = (int64_t)floor(center - support + 0.5),
                hi = (int64_t)floor(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in) hi = in;
        if (hi - lo > c->ksize) hi = lo + c->ksize; // cannot happen; keeps writes in bounds
        double *w = c->w + i * c->ksize, total = 0.0;
        for (int64_t j = lo; j < hi; j++)
            total += w[j - lo] = triangle(((double)j - center + 0.5) / fscale);
        if (total > 0.0)
            for (int64_t j = 0; j < hi - lo; j++) w[j] /= total;
        c->start[i] = lo;
        c->count[i] = hi - lo;
    }
    return 0;
}

// src (planes, h, win) -> dst (planes, h, wout)
static void resample_rows(float *dst, const float *src, int64_t planes_rows, int64_t win,
                          int64_t wout, const axis_coeffs *c) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < planes_rows; r++) {
        const float *s = src + r * win;
        float *d = dst + r * wout;
        for (int64_t x = 0; x < wout; x++) {
            const double *w = c->w + x * c->ksize;
            const float *sx = s + c->start[x];
            double acc = 0.0;
            for (int64_t k = 0; k < c->count[x]; k++) acc += w[k] * sx[k];
            d[x] = (float)acc;
        }
    }
}

// src (planes, hin, w) -> dst (planes, hout, w)
static void resample_cols(float *dst, const float *src, int64_t planes, int64_t hin, int64_t hout,
                          int64_t w, const axis_coeffs *c) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < planes * hout; r++) {
        int64_t p = r / hout, y = r % hout;
        const float *s = src + (p * hin + c->start[y]) * w;
        const double *wy = c->w + y * c->ksize;
        float *d = dst + r * w;
        for (int64_t x = 0; x < w; x++) d[x] = 0.0f;
        // Row by row keeps the reads sequential.
        for (int64_t k = 0; k < c->count[y]; k++) {
            const float wk = (float)wy[k], *sk = s + k * w;
            for (int64_t x = 0; x < w; x++) d[x] += wk * sk[x];
        }
    }
}

nst_tensor *nst_image_resize(const nst_tensor *t, int64_t h, int64_t w, nst_err *e) {
    if (!t) {
        nst_fail(e, "resize: no tensor");
        return NULL;
    }
    if (nst_dev(t) != NST_CPU) {
        nst_fail(e, "resize: expected a CPU tensor; call :cpu() first");
        return NULL;
    }
    if (t->ndim < 2) {
        nst_fail(e, "resize: expected a tensor (..., H, W) with at least 2 dims, got %d", t->ndim);
        return NULL;
    }
    if (h < 1 || w < 1 || h > 0x7fffffff || w > 0x7fffffff ||
        (uint64_t)h * (uint64_t)w > (uint64_t)nst_max_image_pixels) {
        nst_fail(e, "resize: cannot resize to %lldx%lld (sides >= 1, at most %zu pixels)",
                 (long long)h, (long long)w, nst_max_image_pixels);
        return NULL;
    }
    int nd = t->ndim;
    int64_t hin = t->shape[nd - 2], win = t->shape[nd - 1], planes = 1;
    for (int i = 0; i < nd - 2; i++) planes *= t->shape[i];
    int64_t shape[NST_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[nd - 2] = h;
    shape[nd - 1] = w;
    nst_tensor *out = nst_tensor_new(NST_CPU, nd, shape, e);
    if (!out) return NULL;

    // Rows first, into (planes, hin, w); then columns into the output.
    axis_coeffs cx, cy;
    float *tmp = NULL;
    size_t ntmp;
    if (nst_mul_size((size_t)planes * (size_t)hin, (size_t)w, &ntmp) ||
        nst_mul_size(ntmp, sizeof(float), &ntmp) || !(tmp = malloc(ntmp))) {
        nst_fail(e, "resize: out of memory for an intermediate %lldx%lld image", (long long)hin,
                 (long long)w);
        nst_tensor_free(out);
        return NULL;
    }
    if (coeffs_make(&cx, win, w, e)) {
        free(tmp);
        nst_tensor_free(out);
        return NULL;
    }
    if (coeffs_make(&cy, hin, h, e)) {
        coeffs_free(&cx);
        free(tmp);
        nst_tensor_free(out);
        return NULL;
    }
    resample_rows(tmp, nst_data(t), planes * hin, win, w, &cx);
    resample_cols(nst_data(out), tmp, planes, hin, h, w, &cy);
    coeffs_free(&cx);
    coeffs_free(&cy);
    free(tmp);
    return out;
}
