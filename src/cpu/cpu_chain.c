// The channels-last chain (core/backend.h, nst_chain_ops) of the CPU (twin of
// kernels/cuda_chain.cu), used when a test sets the CPU's layout to chain
// (nst.cpu_set_chain): it runs model/vgg_chain.c (buffers, padding, masks, taps) on
// machines without a GPU, against the plain NCHW path as reference. Layout as on CUDA:
// (n, P, nst_pad8(c)) float, padded channels zero. The math converts to NCHW and calls
// the CPU backend, so the numbers are the plain path's; only the bookkeeping is under
// test.
#include <string.h>

#include "cpu/cpu.h"

static size_t elem_size(nst_precision p) {
    (void)p;
    return sizeof(float);
}

static int from_nchw(void *out, const float *in, int n, int c, size_t P, nst_err *e) {
    (void)e;
    int cp = nst_pad8(c);
    float *o = out;
    for (int b = 0; b < n; b++)
        for (size_t p = 0; p < P; p++)
            for (int ch = 0; ch < cp; ch++)
                o[((size_t)b * P + p) * cp + ch] = ch < c ? in[((size_t)b * c + ch) * P + p] : 0.0f;
    return 0;
}

static int to_nchw(float *out, const void *in, int n, int c, size_t P, nst_err *e) {
    (void)e;
    int cp = nst_pad8(c);
    const float *x = in;
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++)
            for (size_t p = 0; p < P; p++)
                out[((size_t)b * c + ch) * P + p] = x[((size_t)b * P + p) * cp + ch];
    return 0;
}

// NCHW scratch copy of a chain buffer (n, c, P).
static float *unchain(const void *in, int n, int c, size_t P, nst_err *e) {
    float *t = nst_cpu_scratch((size_t)n * c * P, e);
    if (t) to_nchw(t, in, n, c, P, e);
    return t;
}

// The CPU's convolutions take (k,c,3,3) float: the weights are copied as they are.
static size_t weight_bytes(nst_precision p, int k, int c) {
    (void)p;
    return (size_t)k * c * 9 * sizeof(float);
}
static int weights(void *out, const float *w, int k, int c, nst_err *e) {
    (void)e;
    memcpy(out, w, weight_bytes(NST_FP32, k, c));
    return 0;
}

static int conv_fwd(void *y, const void *x, const void *w, const float *bias, int n, int c, int h,
                    int wd, int k, int relu, nst_err *e) {
    size_t P = (size_t)h * wd;
    float *xs = unchain(x, n, c, P, e), *ys = xs ? nst_cpu_scratch((size_t)n * k * P, e) : NULL;
    int rc = ys ? nst_cpu_conv3x3_fwd(ys, xs, w, bias, n, c, h, wd, k, relu, e) : -1;
    if (!rc) from_nchw(y, ys, n, k, P, e);
    nst_cpu_free(xs);
    nst_cpu_free(ys);
    return rc;
}

static int conv_bwd(void *dx, const void *dy, const void *w, int n, int c, int h, int wd, int k,
                    nst_err *e) {
    size_t P = (size_t)h * wd;
    float *dys = unchain(dy, n, k, P, e), *dxs = dys ? nst_cpu_scratch((size_t)n * c * P, e) : NULL;
    int rc = dxs ? nst_cpu_conv3x3_bwd_data(dxs, dys, NULL, w, n, c, h, wd, k, e) : -1;
    if (!rc) from_nchw(dx, dxs, n, c, P, e);
    nst_cpu_free(dys);
    nst_cpu_free(dxs);
    return rc;
}

static int pool_fwd(void *y, const void *x, int n, int c, int h, int wd, nst_pool mode,
                    nst_err *e) {
    size_t P = (size_t)h * wd, Po = (size_t)(h / 2) * (wd / 2);
    float *xs = unchain(x, n, c, P, e), *ys = xs ? nst_cpu_scratch((size_t)n * c * Po, e) : NULL;
    int rc = ys ? nst_cpu_pool_fwd(ys, xs, n * c, h, wd, mode, e) : -1;
    if (!rc) from_nchw(y, ys, n, c, Po, e);
    nst_cpu_free(xs);
    nst_cpu_free(ys);
    return rc;
}

static int pool_bwd(void *dx, const void *dy, const void *x, int n, int c, int h, int wd,
                    nst_pool mode, nst_err *e) {
    size_t P = (size_t)h * wd, Po = (size_t)(h / 2) * (wd / 2);
    float *xs = unchain(x, n, c, P, e), *dys = xs ? unchain(dy, n, c, Po, e) : NULL;
    float *dxs = dys ? nst_cpu_scratch((size_t)n * c * P, e) : NULL;
    int rc = dxs ? nst_cpu_pool_bwd(dxs, dys, xs, n * c, h, wd, mode, e) : -1;
    if (!rc) from_nchw(dx, dxs, n, c, P, e);
    nst_cpu_free(xs);
    nst_cpu_free(dys);
    nst_cpu_free(dxs);
    return rc;
}

static int grad(void *g, int valid, const float *tap, const void *mask, int n, int c, size_t P,
                nst_err *e) {
    if (!tap && !valid) return nst_fail(e, "chain grad: nothing to mask");
    int cp = nst_pad8(c);
    float *gg = g;
    const float *m = mask;
    for (int b = 0; b < n; b++)
        for (size_t p = 0; p < P; p++)
            for (int ch = 0; ch < cp; ch++) {
                size_t at = ((size_t)b * P + p) * cp + ch;
                float v = valid ? gg[at] : 0.0f;
                if (tap && ch < c) v += tap[((size_t)b * c + ch) * P + p];
                if (m && !(m[at] > 0.0f)) v = 0.0f;
                gg[at] = v;
            }
    return 0;
}

const nst_chain_ops nst_cpu_chain = {
    .elem_size = elem_size,
    .from_nchw = from_nchw,
    .to_nchw = to_nchw,
    .weight_bytes = weight_bytes,
    .weights = weights,
    .conv_fwd = conv_fwd,
    .conv_bwd = conv_bwd,
    .pool_fwd = pool_fwd,
    .pool_bwd = pool_bwd,
    .grad = grad,
};
