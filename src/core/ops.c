// Core operations: shape and device checks, then one call into the tensor's backend.
#include <math.h>
#include <stdlib.h>

#include "core/ops.h"

static const nst_backend *backend_of(const nst_tensor *t, nst_err *e) {
    return nst_backend_get(nst_dev(t), e);
}

static int same_device(const char *op, const nst_tensor *a, const nst_tensor *b, nst_err *e) {
    if (nst_dev(a) != nst_dev(b))
        return nst_fail(e, "%s: tensors on different devices (%s and %s)", op,
                        nst_device_name(nst_dev(a)), nst_device_name(nst_dev(b)));
    return 0;
}

static int shape_mismatch(const char *op, const nst_tensor *a, const nst_tensor *b, nst_err *e) {
    char sa[64], sb[64];
    nst_shape_str(a, sa, sizeof sa);
    nst_shape_str(b, sb, sizeof sb);
    return nst_fail(e, "%s: shape mismatch (%s vs %s)", op, sa, sb);
}

static int check_pair(const char *op, const nst_tensor *a, const nst_tensor *b, nst_err *e) {
    if (same_device(op, a, b, e)) return -1;
    if (!nst_same_shape(a, b)) return shape_mismatch(op, a, b, e);
    return 0;
}

static int check_scalar(const char *op, const nst_tensor *s, nst_err *e) {
    if (s->numel != 1)
        return nst_fail(e, "%s: expected a one-element tensor, got %zu elements", op, s->numel);
    return 0;
}

int nst_binary(nst_tensor *out, const nst_tensor *a, const nst_tensor *b, nst_binop op,
               nst_err *e) {
    if (same_device("binary op", a, b, e) || same_device("binary op", out, a, e)) return -1;
    const nst_tensor *big = a->numel >= b->numel ? a : b;
    if (!(nst_same_shape(a, b) || a->numel == 1 || b->numel == 1))
        return shape_mismatch("elementwise op", a, b, e);
    if (out->numel != big->numel) return shape_mismatch("elementwise op (output)", out, big, e);
    const nst_backend *be = backend_of(a, e);
    return be ? be->binary(nst_data(out), nst_data(a), a->numel, nst_data(b), b->numel, op, e) : -1;
}

int nst_binary_scalar(nst_tensor *out, const nst_tensor *a, float s, int reversed, nst_binop op,
                      nst_err *e) {
    if (check_pair("scalar op", out, a, e)) return -1;
    const nst_backend *be = backend_of(a, e);
    return be ? be->binary_scalar(nst_data(out), nst_data(a), a->numel, s, reversed, op, e) : -1;
}

int nst_unary(nst_tensor *out, const nst_tensor *a, nst_unop op, nst_err *e) {
    if (check_pair("unary op", out, a, e)) return -1;
    const nst_backend *be = backend_of(a, e);
    return be ? be->unary(nst_data(out), nst_data(a), a->numel, op, e) : -1;
}

int nst_fill(nst_tensor *t, float v, nst_err *e) {
    const nst_backend *be = backend_of(t, e);
    return be ? be->fill(nst_data(t), t->numel, v, e) : -1;
}

int nst_axpy(nst_tensor *y, const nst_tensor *x, float alpha, nst_err *e) {
    if (check_pair("add_", y, x, e)) return -1;
    const nst_backend *be = backend_of(y, e);
    return be ? be->axpy(nst_data(y), nst_data(x), x->numel, alpha, e) : -1;
}

int nst_clamp(nst_tensor *out, const nst_tensor *a, float lo, float hi, nst_err *e) {
    if (check_pair("clamp", out, a, e)) return -1;
    if (!(lo <= hi)) return nst_fail(e, "clamp: min %g is greater than max %g", lo, hi);
    const nst_backend *be = backend_of(a, e);
    return be ? be->clamp(nst_data(out), nst_data(a), a->numel, lo, hi, e) : -1;
}

int nst_reduction(nst_tensor *out1, const nst_tensor *a, nst_reduce op, nst_err *e) {
    if (check_scalar("reduction output", out1, e) || same_device("reduction", out1, a, e))
        return -1;
    const nst_backend *be = backend_of(a, e);
    return be ? be->reduce(nst_data(out1), nst_data(a), a->numel, op, e) : -1;
}

int nst_dot(nst_tensor *out1, const nst_tensor *a, const nst_tensor *b, nst_err *e) {
    if (check_scalar("dot output", out1, e) || same_device("dot", out1, a, e)) return -1;
    if (same_device("dot", a, b, e)) return -1;
    if (a->numel != b->numel) return shape_mismatch("dot", a, b, e);
    const nst_backend *be = backend_of(a, e);
    return be ? be->dot(nst_data(out1), nst_data(a), nst_data(b), a->numel, e) : -1;
}

int nst_matmul(nst_tensor *out, const nst_tensor *a, const nst_tensor *b, int ta, int tb,
               nst_err *e) {
    if (same_device("matmul", a, b, e) || same_device("matmul", out, a, e)) return -1;
    if (a->ndim != 2 || b->ndim != 2) return nst_fail(e, "matmul: expected 2-D tensors");
    int64_t m = ta ? a->shape[1] : a->shape[0], k = ta ? a->shape[0] : a->shape[1];
    int64_t k2 = tb ? b->shape[1] : b->shape[0], n = tb ? b->shape[0] : b->shape[1];
    if (k != k2) return shape_mismatch("matmul (inner dimensions)", a, b, e);
    if (out->ndim != 2 || out->shape[0] != m || out->shape[1] != n)
        return nst_fail(e, "matmul: output must be %lldx%lld", (long long)m, (long long)n);
    if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX) return nst_fail(e, "matmul: too large");
    const nst_backend *be = backend_of(a, e);
    return be ? be->gemm(nst_data(out), nst_data(a), nst_data(b), (int)m, (int)n, (int)k, ta, tb,
                         1.0f, 0.0f, e)
              : -1;
}

int nst_gram_shape(const nst_tensor *f, int *ndim, int64_t shape[NST_MAX_DIMS], int *batch, int *c,
                   int64_t *m, nst_err *e) {
    if (f->ndim == 4) {
        *batch = (int)f->shape[0], *c = (int)f->shape[1], *m = f->shape[2] * f->shape[3];
        *ndim = 3, shape[0] = f->shape[0], shape[1] = shape[2] = f->shape[1];
    } else if (f->ndim == 3 || f->ndim == 2) {
        *batch = 1, *c = (int)f->shape[0], *m = (int64_t)(f->numel / (size_t)f->shape[0]);
        *ndim = 2, shape[0] = shape[1] = f->shape[0];
    } else {
        return nst_fail(e, "gram: expected features (N,C,H,W), (C,H,W) or (C,M), got %d-D",
                        f->ndim);
    }
    if (f->shape[f->ndim == 4 ? 1 : 0] > 65536) return nst_fail(e, "gram: too many channels");
    return 0;
}

int nst_gram(nst_tensor *out, const nst_tensor *f, float scale, nst_err *e) {
    int nd, batch, c;
    int64_t shape[NST_MAX_DIMS], m;
    if (nst_gram_shape(f, &nd, shape, &batch, &c, &m, e) || same_device("gram", out, f, e))
        return -1;
    if (out->numel != (size_t)batch * c * c) return nst_fail(e, "gram: output has the wrong size");
    const nst_backend *be = backend_of(f, e);
    return be ? be->gram(nst_data(out), nst_data(f), batch, c, m, scale, e) : -1;
}

// Checks x (N,C,H,W) and w (K,C,3,3) and returns the dims.
static int conv_dims(const nst_tensor *x, const nst_tensor *w, int d[5], nst_err *e) {
    if (x->ndim != 4) return nst_fail(e, "conv3x3: input must be 4-D (N,C,H,W), got %d-D", x->ndim);
    if (w->ndim != 4 || w->shape[2] != 3 || w->shape[3] != 3)
        return nst_fail(e, "conv3x3: weight must be (K,C,3,3)");
    if (w->shape[1] != x->shape[1])
        return nst_fail(e, "conv3x3: weight expects %lld input channels, input has %lld",
                        (long long)w->shape[1], (long long)x->shape[1]);
    for (int i = 0; i < 4; i++)
        if (x->shape[i] > INT32_MAX) return nst_fail(e, "conv3x3: input too large");
    d[0] = (int)x->shape[0], d[1] = (int)x->shape[1], d[2] = (int)x->shape[2];
    d[3] = (int)x->shape[3], d[4] = (int)w->shape[0];
    return same_device("conv3x3", x, w, e);
}

static int check_dims4(const char *op, const nst_tensor *t, int64_t n, int64_t c, int64_t h,
                       int64_t w, nst_err *e) {
    if (t->ndim != 4 || t->shape[0] != n || t->shape[1] != c || t->shape[2] != h ||
        t->shape[3] != w) {
        const int64_t want[4] = {n, c, h, w};
        char ws[64], got[64];
        nst_shape_format(4, want, ws, sizeof ws);
        nst_shape_str(t, got, sizeof got);
        return nst_fail(e, "%s: expected shape %s, got %s", op, ws, got);
    }
    return 0;
}

int nst_conv3x3(nst_tensor *y, const nst_tensor *x, const nst_tensor *w, const nst_tensor *bias,
                int relu, nst_err *e) {
    int d[5];
    if (conv_dims(x, w, d, e) || check_dims4("conv3x3 output", y, d[0], d[4], d[2], d[3], e) ||
        same_device("conv3x3", y, x, e))
        return -1;
    if (bias && (bias->numel != (size_t)d[4] || same_device("conv3x3", bias, x, e)))
        return nst_fail(e, "conv3x3: bias must have %d elements on the input's device", d[4]);
    const nst_backend *be = backend_of(x, e);
    return be ? be->conv3x3_fwd(nst_data(y), nst_data(x), nst_data(w), bias ? nst_data(bias) : NULL,
                                d[0], d[1], d[2], d[3], d[4], relu, e)
              : -1;
}

int nst_conv3x3_bwd_data(nst_tensor *dx, const nst_tensor *dy, const nst_tensor *relu_y,
                         const nst_tensor *w, nst_err *e) {
    if (dx->ndim != 4) return nst_fail(e, "conv3x3 backward: gradient must be 4-D");
    int d[5];
    if (conv_dims(dx, w, d, e) ||
        check_dims4("conv3x3 backward (grad output)", dy, d[0], d[4], d[2], d[3], e) ||
        same_device("conv3x3 backward", dx, dy, e))
        return -1;
    if (relu_y &&
        (check_dims4("conv3x3 backward (ReLU output)", relu_y, d[0], d[4], d[2], d[3], e) ||
         same_device("conv3x3 backward", relu_y, dy, e)))
        return -1;
    const nst_backend *be = backend_of(dy, e);
    return be ? be->conv3x3_bwd_data(nst_data(dx), nst_data(dy), relu_y ? nst_data(relu_y) : NULL,
                                     nst_data(w), d[0], d[1], d[2], d[3], d[4], e)
              : -1;
}

int nst_relu(nst_tensor *y, const nst_tensor *x, nst_err *e) {
    if (check_pair("relu", y, x, e)) return -1;
    const nst_backend *be = backend_of(x, e);
    return be ? be->relu_fwd(nst_data(y), nst_data(x), x->numel, e) : -1;
}

int nst_relu_bwd(nst_tensor *dx, const nst_tensor *dy, const nst_tensor *y, nst_err *e) {
    if (check_pair("relu backward", dy, y, e) || check_pair("relu backward", dx, dy, e)) return -1;
    const nst_backend *be = backend_of(y, e);
    return be ? be->relu_bwd(nst_data(dx), nst_data(dy), nst_data(y), y->numel, e) : -1;
}

static int pool_dims(const nst_tensor *x, int *planes, int *h, int *w, nst_err *e) {
    if (x->ndim != 4) return nst_fail(e, "pool: input must be 4-D (N,C,H,W), got %d-D", x->ndim);
    if (x->shape[2] < 2 || x->shape[3] < 2)
        return nst_fail(e, "pool: input of %lldx%lld is smaller than the 2x2 window",
                        (long long)x->shape[2], (long long)x->shape[3]);
    if (x->shape[0] * x->shape[1] > INT32_MAX || x->shape[2] > INT32_MAX || x->shape[3] > INT32_MAX)
        return nst_fail(e, "pool: input too large");
    *planes = (int)(x->shape[0] * x->shape[1]), *h = (int)x->shape[2], *w = (int)x->shape[3];
    return 0;
}

int nst_pool2d(nst_tensor *y, const nst_tensor *x, nst_pool mode, nst_err *e) {
    int planes = 0, h = 0, w = 0;
    if (pool_dims(x, &planes, &h, &w, e) ||
        check_dims4("pool output", y, x->shape[0], x->shape[1], h / 2, w / 2, e) ||
        same_device("pool", y, x, e))
        return -1;
    const nst_backend *be = backend_of(x, e);
    return be ? be->pool_fwd(nst_data(y), nst_data(x), planes, h, w, mode, e) : -1;
}

int nst_pool2d_bwd(nst_tensor *dx, const nst_tensor *dy, const nst_tensor *x, nst_pool mode,
                   nst_err *e) {
    int planes = 0, h = 0, w = 0;
    if (pool_dims(x, &planes, &h, &w, e) ||
        check_dims4("pool backward (grad output)", dy, x->shape[0], x->shape[1], h / 2, w / 2, e) ||
        check_pair("pool backward", dx, x, e) || same_device("pool backward", dy, x, e))
        return -1;
    const nst_backend *be = backend_of(x, e);
    return be ? be->pool_bwd(nst_data(dx), nst_data(dy), nst_data(x), planes, h, w, mode, e) : -1;
}

int nst_channel_affine(nst_tensor *out, const nst_tensor *x, const int perm[3],
                       const float scale[3], const float shift[3], nst_err *e) {
    if (x->ndim != 4 || x->shape[1] != 3) return nst_fail(e, "expected an image tensor (N,3,H,W)");
    if (check_pair("channel affine", out, x, e)) return -1;
    for (int i = 0; i < 3; i++)
        if (perm[i] < 0 || perm[i] > 2) return nst_fail(e, "channel affine: bad permutation");
    const nst_backend *be = backend_of(x, e);
    return be ? be->channel_affine(nst_data(out), nst_data(x), (int)x->shape[0],
                                   (size_t)(x->shape[2] * x->shape[3]), perm, scale, shift, e)
              : -1;
}

int nst_adam_counted(nst_tensor *x, const nst_tensor *g, nst_tensor *m, nst_tensor *v,
                     nst_tensor *steps, float lr, float beta1, float beta2, float eps, nst_err *e) {
    if (check_pair("adam (gradient)", x, g, e) || check_pair("adam (state)", x, m, e) ||
        check_pair("adam (state)", x, v, e) || check_scalar("adam (step count)", steps, e) ||
        same_device("adam (step count)", x, steps, e))
        return -1;
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
        return nst_fail(e, "adam: betas must be in [0, 1), got %g and %g", beta1, beta2);
    const nst_backend *be = backend_of(x, e);
    return be ? be->adam_counted(nst_data(x), nst_data(g), nst_data(m), nst_data(v), x->numel, lr,
                                 beta1, beta2, eps, nst_data(steps), e)
              : -1;
}

int nst_adam(nst_tensor *x, const nst_tensor *g, nst_tensor *m, nst_tensor *v, float lr,
             float beta1, float beta2, float eps, int t, nst_err *e) {
    if (check_pair("adam (gradient)", x, g, e) || check_pair("adam (state)", x, m, e) ||
        check_pair("adam (state)", x, v, e))
        return -1;
    if (t < 1) return nst_fail(e, "adam: step count must be >= 1");
    const nst_backend *be = backend_of(x, e);
    return be ? be->adam(nst_data(x), nst_data(g), nst_data(m), nst_data(v), x->numel, lr, beta1,
                         beta2, eps, t, e)
              : -1;
}

int nst_mse_loss(nst_tensor *loss1, nst_tensor *grad, const nst_tensor *f, const nst_tensor *p,
                 float scale, nst_err *e) {
    if (check_pair("content loss", f, p, e) || check_scalar("loss", loss1, e) ||
        same_device("content loss", loss1, f, e) ||
        (grad && check_pair("content loss", grad, f, e)))
        return -1;
    const nst_backend *be = backend_of(f, e);
    return be ? be->mse_loss(nst_data(loss1), grad ? nst_data(grad) : NULL, nst_data(f),
                             nst_data(p), f->numel, scale, e)
              : -1;
}

int nst_tv_loss(nst_tensor *loss1, nst_tensor *grad, const nst_tensor *x, int l1, float scale,
                nst_err *e) {
    if (x->ndim != 4) return nst_fail(e, "tv loss: input must be 4-D (N,C,H,W)");
    if (check_scalar("loss", loss1, e) || same_device("tv loss", loss1, x, e) ||
        (grad && check_pair("tv loss", grad, x, e)))
        return -1;
    if (x->shape[0] * x->shape[1] > INT32_MAX || x->shape[2] > INT32_MAX || x->shape[3] > INT32_MAX)
        return nst_fail(e, "tv loss: input too large");
    const nst_backend *be = backend_of(x, e);
    return be ? be->tv_loss(nst_data(loss1), grad ? nst_data(grad) : NULL, nst_data(x),
                            (int)x->shape[0], (int)x->shape[1], (int)x->shape[2], (int)x->shape[3],
                            l1, scale, e)
              : -1;
}

int nst_style_loss(nst_tensor *loss1, nst_tensor *grad, const nst_tensor *f, const nst_tensor *a,
                   float scale, nst_err *e) {
    if ((f->ndim == 4 && f->shape[0] != 1) || f->ndim < 3)
        return nst_fail(e, "style loss: features must be (1,C,H,W) or (C,H,W)");
    int nd, batch, c;
    int64_t gshape[NST_MAX_DIMS], m;
    if (nst_gram_shape(f, &nd, gshape, &batch, &c, &m, e)) return -1;
    if (a->numel != (size_t)c * c)
        return nst_fail(e, "style loss: target Gram matrix must be %dx%d for %d channels", c, c, c);
    if (same_device("style loss", f, a, e) || check_scalar("loss", loss1, e) ||
        same_device("style loss", loss1, f, e) || (grad && check_pair("style loss", grad, f, e)))
        return -1;
    const nst_backend *be = backend_of(f, e);
    if (!be) return -1;
    int64_t gs[2] = {c, c};
    nst_tensor *d = nst_tensor_new(nst_dev(f), 2, gs, e);
    if (!d) return -1;
    double n2m2 = (double)c * c * (double)m * (double)m;
    // D = G - A; E = scale * |D|^2 / (4 C^2 M^2); dE/dF = scale * D F / (C^2 M^2)  (D symmetric)
    int rc = be->gram(nst_data(d), nst_data(f), 1, c, m, 1.0f, e);
    if (!rc) rc = be->binary(nst_data(d), nst_data(d), d->numel, nst_data(a), a->numel, NST_SUB, e);
    if (!rc) rc = be->reduce(nst_data(loss1), nst_data(d), d->numel, NST_SUMSQ, e);
    if (!rc)
        rc = be->binary_scalar(nst_data(loss1), nst_data(loss1), 1, (float)(scale / (4.0 * n2m2)),
                               0, NST_MUL, e);
    if (!rc && grad) {
        if (m > INT32_MAX) rc = nst_fail(e, "style loss: feature map too large");
        else
            rc = be->gemm(nst_data(grad), nst_data(d), nst_data(f), c, (int)m, c, 0, 0,
                          (float)(scale / n2m2), 0.0f, e);
    }
    nst_tensor_free(d);
    return rc;
}
