// The style losses' operations: shape and device checks, then the backend's slots.
#include <math.h>

#include "core/ops.h"
#include "core/ops_style.h"

static int on_device(const char *op, const nst_tensor *t, const nst_tensor *f, nst_err *e) {
    if (t && nst_dev(t) != nst_dev(f))
        return nst_fail(e, "%s: tensors on different devices (%s and %s)", op,
                        nst_device_name(nst_dev(t)), nst_device_name(nst_dev(f)));
    return 0;
}

static int want_numel(const char *op, const char *what, const nst_tensor *t, size_t n, nst_err *e) {
    if (t && t->numel != n)
        return nst_fail(e, "%s: %s has %zu elements, expected %zu", op, what, t->numel, n);
    return 0;
}

// f's channels and positions; features of one image only.
static int feature_dims(const char *op, const nst_tensor *f, int *c, int64_t *m, nst_err *e) {
    int nd, batch;
    int64_t shape[NST_MAX_DIMS];
    if ((f->ndim == 4 && f->shape[0] != 1) || f->ndim < 2 ||
        nst_gram_shape(f, &nd, shape, &batch, c, m, e))
        return nst_fail(e, "%s: features must be (1,C,H,W), (C,H,W) or (C,M)", op);
    if (*m > INT32_MAX) return nst_fail(e, "%s: feature map too large", op);
    return 0;
}

// The guide's checks: M elements on f's device.
static int check_guide(const char *op, const nst_tensor *r, const nst_tensor *f, int64_t m,
                       nst_err *e) {
    if (!r) return 0;
    if (r->numel != (size_t)m)
        return nst_fail(e, "%s: the guide has %zu elements for features of %lld positions", op,
                        r->numel, (long long)m);
    return on_device(op, r, f, e);
}

int nst_moments(nst_tensor *mu, nst_tensor *cov, nst_tensor *fc, const nst_tensor *f,
                const nst_tensor *r, nst_err *e) {
    const char *op = "moments";
    int c;
    int64_t m;
    if (feature_dims(op, f, &c, &m, e) || check_guide(op, r, f, m, e) ||
        want_numel(op, "the mean", mu, (size_t)c, e) ||
        want_numel(op, "the covariance", cov, (size_t)c * c, e) ||
        want_numel(op, "the weighted features", fc, f->numel, e) || on_device(op, mu, f, e) ||
        on_device(op, cov, f, e) || on_device(op, fc, f, e))
        return -1;
    const nst_backend *be = nst_backend_get(nst_dev(f), e);
    if (!be) return -1;
    float r0 = (float)(1.0 / sqrt((double)m));
    int rc = 0;
    if (mu) { // mu (C,1) = F (C,M) w (M,1), w = r^2 or 1/M
        int64_t ws = m;
        nst_tensor *w = nst_tensor_new(nst_dev(f), 1, &ws, e);
        if (!w) return -1;
        rc = r ? be->binary(nst_data(w), nst_data(r), r->numel, nst_data(r), r->numel, NST_MUL, e)
               : be->fill(nst_data(w), (size_t)m, (float)(1.0 / (double)m), e);
        if (!rc)
            rc =
                be->gemm(nst_data(mu), nst_data(f), nst_data(w), c, 1, (int)m, 0, 0, 1.0f, 0.0f, e);
        nst_tensor_free(w);
    }
    if (!rc)
        rc = be->moments_center(nst_data(fc), nst_data(f), mu ? nst_data(mu) : NULL,
                                r ? nst_data(r) : NULL, c, m, r0, e);
    if (!rc) rc = be->gram(nst_data(cov), nst_data(fc), 1, c, m, 1.0f, e);
    return rc;
}

int nst_moments_backward(nst_tensor *grad, const nst_tensor *fc, const nst_tensor *r,
                         const nst_tensor *dcov, const nst_tensor *dmu, nst_err *e) {
    const char *op = "moments backward";
    int c;
    int64_t m;
    if (feature_dims(op, fc, &c, &m, e) || check_guide(op, r, fc, m, e) ||
        want_numel(op, "the covariance's gradient", dcov, (size_t)c * c, e) ||
        want_numel(op, "the mean's gradient", dmu, (size_t)c, e) ||
        want_numel(op, "the gradient", grad, fc->numel, e) || on_device(op, dcov, fc, e) ||
        on_device(op, dmu, fc, e) || on_device(op, grad, fc, e))
        return -1;
    const nst_backend *be = nst_backend_get(nst_dev(fc), e);
    if (!be) return -1;
    // grad = r * (2 dcov fc) + r^2 * dmu, the product written into grad first
    int rc =
        be->gemm(nst_data(grad), nst_data(dcov), nst_data(fc), c, (int)m, c, 0, 0, 2.0f, 0.0f, e);
    if (!rc)
        rc = be->moments_grad(nst_data(grad), nst_data(grad), dmu ? nst_data(dmu) : NULL,
                              r ? nst_data(r) : NULL, c, m, (float)(1.0 / sqrt((double)m)), e);
    return rc;
}

// x square (n,n); the floor a number >= 0 (> 0 when positive is set).
static int check_square(const char *op, const nst_tensor *x, float floor, int positive,
                        nst_err *e) {
    if (x->ndim != 2 || x->shape[0] != x->shape[1])
        return nst_fail(e, "%s: expected a square matrix (n,n), got %d-D", op, x->ndim);
    if (x->shape[0] > 65536) return nst_fail(e, "%s: matrix too large", op);
    if (!(floor >= 0) || isinf(floor) || (positive && !(floor > 0)))
        return nst_fail(e, "%s: floor must be a number %s 0, got %g", op,
                        positive ? ">" : ">=", floor);
    return 0;
}

int nst_sym_sqrt(nst_tensor *root, const nst_tensor *x, float floor, nst_err *e) {
    const char *op = "sym_sqrt";
    if (check_square(op, x, floor, 0, e) || want_numel(op, "the root", root, x->numel, e) ||
        on_device(op, root, x, e))
        return -1;
    const nst_backend *be = nst_backend_get(nst_dev(x), e);
    return be ? be->sym_sqrt(nst_data(root), nst_data(x), (int)x->shape[0], floor, e) : -1;
}

int nst_w2_map(nst_tensor *map, nst_tensor *trace1, const nst_tensor *s, const nst_tensor *x,
               float floor, nst_err *e) {
    const char *op = "w2_map";
    if (check_square(op, x, floor, 1, e) || want_numel(op, "the root", s, x->numel, e) ||
        want_numel(op, "the map", map, x->numel, e) || want_numel(op, "the trace", trace1, 1, e) ||
        on_device(op, s, x, e) || on_device(op, map, x, e) || on_device(op, trace1, x, e))
        return -1;
    const nst_backend *be = nst_backend_get(nst_dev(x), e);
    return be ? be->w2_map(nst_data(map), nst_data(trace1), nst_data(s), nst_data(x),
                           (int)x->shape[0], floor, e)
              : -1;
}

int nst_erode3x3(nst_tensor *out, const nst_tensor *x, nst_err *e) {
    if (x->ndim != 4)
        return nst_fail(e, "erode3x3: input must be 4-D (N,C,H,W), got %d-D", x->ndim);
    if (!nst_same_shape(out, x) || on_device("erode3x3", out, x, e))
        return nst_fail(e, "erode3x3: the output must be like the input");
    if (x->shape[0] * x->shape[1] > INT32_MAX || x->shape[2] > INT32_MAX || x->shape[3] > INT32_MAX)
        return nst_fail(e, "erode3x3: input too large");
    const nst_backend *be = nst_backend_get(nst_dev(x), e);
    return be ? be->erode3x3(nst_data(out), nst_data(x), (int)(x->shape[0] * x->shape[1]),
                             (int)x->shape[2], (int)x->shape[3], e)
              : -1;
}
