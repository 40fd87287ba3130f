// Core video ops (src/core/video.h): shape and device checks, then one call into the
// backend slot of the tensor's device. Flow runs on the host: frames are downloaded,
// OpenCV's DIS runs (src/io/flow.cpp) and the flow is uploaded to the frames' device.
#include <stdio.h>
#include <stdlib.h>

#include "core/backend.h"
#include "io/flow.h"
#include "core/video.h"

const nst_consistency nst_consistency_defaults = {0.01f, 0.5f, 0.01f, 0.002f};

static int same_device(const char *op, const nst_tensor *a, const nst_tensor *b, nst_err *e) {
    if (nst_dev(a) != nst_dev(b))
        return nst_fail(e, "%s: tensors on different devices (%s and %s)", op,
                        nst_device_name(nst_dev(a)), nst_device_name(nst_dev(b)));
    return 0;
}

// t is (n, c, h, w) with c in {c1, c2} (c2 = 0: only c1); what names it in the message.
static int check_4d(const char *op, const char *what, const nst_tensor *t, int64_t n, int64_t c1,
                    int64_t c2, int64_t h, int64_t w, nst_err *e) {
    if (t->ndim == 4 && t->shape[0] == n && (t->shape[1] == c1 || (c2 && t->shape[1] == c2)) &&
        t->shape[2] == h && t->shape[3] == w)
        return 0;
    char got[64], want[96];
    nst_shape_str(t, got, sizeof got);
    if (c2)
        snprintf(want, sizeof want, "%lldx%lldx%lldx%lld or %lldx%lldx%lldx%lld", (long long)n,
                 (long long)c1, (long long)h, (long long)w, (long long)n, (long long)c2,
                 (long long)h, (long long)w);
    else
        snprintf(want, sizeof want, "%lldx%lldx%lldx%lld", (long long)n, (long long)c1,
                 (long long)h, (long long)w);
    return nst_fail(e, "%s: %s must be %s, got %s", op, what, want, got);
}

// x is (N,C,H,W) with sides that fit an int; fills d = {N, C, H, W}.
static int image_dims(const char *op, const char *what, const nst_tensor *x, int d[4], nst_err *e) {
    if (x->ndim != 4) {
        char s[64];
        nst_shape_str(x, s, sizeof s);
        return nst_fail(e, "%s: %s must be 4-D (N,C,H,W), got %s", op, what, s);
    }
    if (x->shape[0] * x->shape[1] > INT32_MAX || x->shape[2] > INT32_MAX || x->shape[3] > INT32_MAX)
        return nst_fail(e, "%s: %s is too large", op, what);
    for (int i = 0; i < 4; i++) d[i] = (int)x->shape[i];
    return 0;
}

int nst_flow(nst_tensor *fwd, nst_tensor *bwd, const nst_tensor *a, const nst_tensor *b,
             nst_flow_preset preset, nst_err *e) {
    int d[4] = {0, 0, 0, 0};
    if (image_dims("flow", "first frame", a, d, e)) return -1;
    if (d[0] != 1 || (d[1] != 1 && d[1] != 3))
        return check_4d("flow", "first frame", a, 1, 3, 1, d[2], d[3], e);
    if (check_4d("flow", "second frame", b, 1, d[1], 0, d[2], d[3], e) ||
        same_device("flow", a, b, e) || check_4d("flow", "output", fwd, 1, 2, 0, d[2], d[3], e) ||
        same_device("flow", fwd, a, e) ||
        (bwd && (check_4d("flow", "output", bwd, 1, 2, 0, d[2], d[3], e) ||
                 same_device("flow", bwd, a, e))))
        return -1;
    size_t n = a->numel, nf = fwd->numel;
    // One block: a, b, then the two flows.
    float *host = malloc((2 * n + 2 * nf) * sizeof *host);
    if (!host) return nst_fail(e, "flow: out of memory for %zu floats", 2 * n + 2 * nf);
    float *ha = host, *hb = host + n, *hf = hb + n, *hbw = hf + nf;
    int rc = nst_download(a, ha, e) || nst_download(b, hb, e) ||
             nst_flow_dis(hf, bwd ? hbw : NULL, ha, hb, d[1], d[2], d[3], (int)preset, e) ||
             nst_upload(fwd, hf, e) || (bwd && nst_upload(bwd, hbw, e));
    free(host);
    return rc ? -1 : 0;
}

int nst_warp(nst_tensor *out, const nst_tensor *img, const nst_tensor *flow, nst_border border,
             nst_err *e) {
    int d[4] = {0, 0, 0, 0};
    if (image_dims("warp", "image", img, d, e) ||
        check_4d("warp", "flow", flow, d[0], 2, 0, d[2], d[3], e) ||
        check_4d("warp", "output", out, d[0], d[1], 0, d[2], d[3], e) ||
        same_device("warp", img, flow, e) || same_device("warp", out, img, e))
        return -1;
    if (out->st == img->st || out->st == flow->st)
        return nst_fail(e, "warp: the output must not share storage with the image or the flow");
    const nst_backend *vb = nst_backend_get(nst_dev(img), e);
    return vb ? vb->warp(nst_data(out), nst_data(img), nst_data(flow), d[0], d[1], d[2], d[3],
                         border, e)
              : -1;
}

int nst_flow_consistency(nst_tensor *mask, const nst_tensor *fwd, const nst_tensor *bwd,
                         const nst_consistency *p, nst_err *e) {
    int d[4] = {0, 0, 0, 0};
    if (image_dims("flow consistency", "forward flow", fwd, d, e) ||
        check_4d("flow consistency", "forward flow", fwd, d[0], 2, 0, d[2], d[3], e) ||
        check_4d("flow consistency", "backward flow", bwd, d[0], 2, 0, d[2], d[3], e) ||
        check_4d("flow consistency", "mask", mask, d[0], 1, 0, d[2], d[3], e) ||
        same_device("flow consistency", fwd, bwd, e) ||
        same_device("flow consistency", mask, fwd, e))
        return -1;
    const float th[4] = {p->occ_rel, p->occ_abs, p->mb_rel, p->mb_abs};
    for (int i = 0; i < 4; i++)
        if (!(th[i] >= 0 && th[i] <= 1e30f))
            return nst_fail(e, "flow consistency: thresholds must be finite and >= 0");
    const nst_backend *vb = nst_backend_get(nst_dev(fwd), e);
    return vb ? vb->consistency(nst_data(mask), nst_data(fwd), nst_data(bwd), d[0], d[2], d[3], p,
                                e)
              : -1;
}

int nst_temporal_loss(nst_tensor *loss1, nst_tensor *grad, const nst_tensor *x, const nst_tensor *w,
                      const nst_tensor *c, float scale, nst_err *e) {
    int d[4] = {0, 0, 0, 0};
    const char *op = "temporal loss";
    if (image_dims(op, "image", x, d, e) ||
        check_4d(op, "warped previous frame", w, d[0], d[1], 0, d[2], d[3], e) ||
        same_device(op, x, w, e) ||
        (c && (check_4d(op, "mask", c, d[0], 1, d[1], d[2], d[3], e) || same_device(op, c, x, e))))
        return -1;
    if (loss1->numel != 1) return nst_fail(e, "%s: the loss output must have one element", op);
    if (same_device(op, loss1, x, e) ||
        (grad && (check_4d(op, "gradient", grad, d[0], d[1], 0, d[2], d[3], e) ||
                  same_device(op, grad, x, e))))
        return -1;
    const nst_backend *vb = nst_backend_get(nst_dev(x), e);
    return vb ? vb->temporal_loss(nst_data(loss1), grad ? nst_data(grad) : NULL, nst_data(x),
                                  nst_data(w), c ? nst_data(c) : NULL, d[0], d[1],
                                  (size_t)d[2] * d[3], c ? (int)c->shape[1] : 1, scale, e)
              : -1;
}
