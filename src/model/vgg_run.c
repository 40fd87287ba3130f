// Running the VGG (see vgg.h): argument checks, the NCHW path through the core's ops,
// and the hand-off to the channels-last chain (vgg_chain.c) when the settings say so.
#include <string.h>

#include "core/ops.h"
#include "core/profile.h"
#include "model/vgg_internal.h"

int nst_vgg_keep(nst_vgg *v, int i, nst_tensor *t, nst_err *e) {
    nst_tensor_free(v->kept[i]);
    v->kept[i] = nst_tensor_view(t, t->ndim, t->shape, e);
    return v->kept[i] ? 0 : -1;
}

int nst_vgg_out_shape(const nst_vgg_layer *l, int64_t s[4], nst_err *e) {
    s[1] = l->out_c;
    if (l->kind != NST_VGG_POOL) return 0;
    if (s[2] < 2 || s[3] < 2)
        return nst_fail(e, "forward: input too small: %s gets %lldx%lld", l->name, (long long)s[2],
                        (long long)s[3]);
    s[2] /= 2, s[3] /= 2;
    return 0;
}

// The end of a forward: on failure (rc != 0) nothing half-made is left behind.
static int forward_done(nst_vgg *v, int rc, int ntaps, nst_tensor **outs, int depth) {
    if (rc) {
        for (int t = 0; t < ntaps; t++) {
            nst_tensor_free(outs[t]);
            outs[t] = NULL;
        }
        nst_vgg_drop_kept(v);
        return -1;
    }
    v->depth = depth + 1;
    return 0;
}

// The NCHW path of a checked forward: layers 0..depth through the core's ops; tapped[i]
// marks the layers asked for (a tapped conv is not fused with its ReLU).
static int plain_forward(nst_vgg *v, const nst_tensor *x, int ntaps, const int *taps,
                         nst_tensor **outs, int depth, const int *tapped, nst_err *e) {
    nst_tensor *cur = nst_tensor_view(x, 4, x->shape, e);
    if (!cur) return -1;
    int rc = 0, i = 0;
    for (; i <= depth && !rc; i++) {
        nst_vgg_layer *l = &v->layer[i];
        int64_t s[4] = {cur->shape[0], cur->shape[1], cur->shape[2], cur->shape[3]};
        if ((rc = nst_vgg_out_shape(l, s, e))) break;
        nst_tensor *y = nst_tensor_new(v->device, 4, s, e);
        if (!y) {
            rc = -1;
            break;
        }
        // A conv whose own output nobody asked for is fused with the ReLU after it.
        int fuse = l->kind == NST_VGG_CONV && !tapped[i] && i + 1 <= depth;
        if (l->kind == NST_VGG_CONV) rc = nst_conv3x3(y, cur, l->w, l->b, fuse, e);
        else if (l->kind == NST_VGG_RELU) rc = nst_relu(y, cur, e);
        else rc = nst_pool2d(y, cur, v->pool, e);
        if (!rc) rc = nst_profile_mark(v->device, l->name, fuse ? "+relu fwd" : " fwd", e);
        memcpy(v->out_shape[i], s, sizeof s);
        if (!rc && fuse) { // the fused result is the ReLU's output
            i++;
            memcpy(v->out_shape[i], s, sizeof s);
        }
        if (!rc && v->layer[i].kind == NST_VGG_RELU) rc = nst_vgg_keep(v, i, y, e);
        for (int t = 0; t < ntaps && !rc; t++)
            if (taps[t] == i && !outs[t]) {
                outs[t] = nst_tensor_view(y, 4, y->shape, e);
                if (!outs[t]) rc = -1;
            }
        nst_tensor_free(cur);
        cur = y;
    }
    nst_tensor_free(cur);
    return rc;
}

int nst_vgg_forward(nst_vgg *v, const nst_settings *mode, const nst_tensor *x, int ntaps,
                    const int *taps, nst_tensor **outs, nst_err *e) {
    int depth = -1, tapped[NST_VGG_MAX_LAYERS] = {0};
    for (int t = 0; t < ntaps; t++) {
        outs[t] = NULL;
        if (taps[t] < 0 || taps[t] >= v->n) return nst_fail(e, "forward: bad layer index");
        if (taps[t] >= v->usable)
            return nst_fail(e, "layer %s is unavailable: the weights file stops before it",
                            v->layer[taps[t]].name);
        tapped[taps[t]] = 1;
        if (taps[t] > depth) depth = taps[t];
    }
    if (x->ndim != 4 || x->shape[1] != 3)
        return nst_fail(e, "forward: expected an image batch (N,3,H,W)");
    if (nst_dev(x) != v->device)
        return nst_fail(e, "forward: input is on %s, the network on %s",
                        nst_device_name(nst_dev(x)), nst_device_name(v->device));
    nst_vgg_drop_kept(v);
    memcpy(v->in_shape, x->shape, sizeof v->in_shape);
    const nst_backend *be = nst_backend_get(v->device, e);
    if (!be) return -1;
    int conv_tapped = 0;
    for (int t = 0; t < ntaps; t++) conv_tapped |= v->layer[taps[t]].kind == NST_VGG_CONV;
    // A tapped conv output exists only on the NCHW path (the chain fuses conv and ReLU).
    v->chained = be->chain && mode->layout == NST_LAYOUT_CHAIN && depth >= 0 && !conv_tapped;
    if (v->chained) {
        int rc = nst_vgg_chain_forward(v, be->chain, mode, x, ntaps, taps, outs, depth, e);
        return forward_done(v, rc, ntaps, outs, depth);
    }
    return forward_done(v, plain_forward(v, x, ntaps, taps, outs, depth, tapped, e), ntaps, outs,
                        depth);
}

// Checks each gradient against the last forward's output shapes; the deepest layer a
// gradient arrives at, or -1 with a message.
static int check_grads(const nst_vgg *v, int ngrads, const int *layers,
                       const nst_tensor *const *grads, nst_err *e) {
    int deepest = -1;
    for (int g = 0; g < ngrads; g++) {
        if (layers[g] < 0 || layers[g] >= v->depth) {
            return nst_fail(
                e, "backward: no forward output for layer %s (run forward with it as a tap first)",
                layers[g] >= 0 && layers[g] < v->n ? v->layer[layers[g]].name : "?");
        }
        const int64_t *s = v->out_shape[layers[g]];
        const nst_tensor *gr = grads[g];
        if (gr->ndim != 4 || gr->shape[0] != s[0] || gr->shape[1] != s[1] || gr->shape[2] != s[2] ||
            gr->shape[3] != s[3] || nst_dev(gr) != v->device) {
            char want[64];
            nst_shape_format(4, s, want, sizeof want);
            return nst_fail(e, "backward: gradient for %s must be %s on %s",
                            v->layer[layers[g]].name, want, nst_device_name(v->device));
        }
        if (layers[g] > deepest) deepest = layers[g];
    }
    if (deepest < 0) return nst_fail(e, "backward: no gradients given");
    return deepest;
}

nst_tensor *nst_vgg_backward(nst_vgg *v, const nst_settings *mode, int ngrads, const int *layers,
                             const nst_tensor *const *grads, nst_err *e) {
    int deepest = check_grads(v, ngrads, layers, grads, e);
    if (deepest < 0) return NULL;
    if (v->chained) {
        const nst_backend *be = nst_backend_get(v->device, e);
        return be ? nst_vgg_chain_backward(v, be->chain, mode, ngrads, layers, grads, deepest, e)
                  : NULL;
    }
    nst_tensor *g = NULL;
    const nst_tensor *mask = NULL; // a ReLU output whose mask the next conv applies
    int rc = 0;
    for (int i = deepest; i >= 0 && !rc; i--) {
        for (int k = 0; k < ngrads && !rc; k++) { // gradients arriving at layer i's output
            if (layers[k] != i) continue;
            if (!g) {
                g = nst_tensor_like(grads[k], e);
                rc = g ? nst_copy(g, grads[k], e) : -1;
            } else {
                rc = nst_binary(g, g, grads[k], NST_ADD, e);
            }
        }
        if (rc || !g) continue;
        nst_vgg_layer *l = &v->layer[i];
        const int64_t *in = i > 0 ? v->out_shape[i - 1] : v->in_shape;
        nst_tensor *dx = NULL;
        if (l->kind == NST_VGG_RELU) { // dx = dy * (y > 0)
            // Fused into the conv below unless a gradient arrives between the two.
            int tap_between = 0;
            for (int k = 0; k < ngrads; k++) tap_between |= layers[k] == i - 1;
            if (i > 0 && v->layer[i - 1].kind == NST_VGG_CONV && !tap_between) {
                mask = v->kept[i];
                continue;
            }
            rc = nst_relu_bwd(g, g, v->kept[i], e);
            if (!rc) rc = nst_profile_mark(v->device, l->name, " bwd", e);
            continue;
        }
        dx = nst_tensor_new(v->device, 4, in, e);
        if (!dx) rc = -1;
        else if (l->kind == NST_VGG_CONV) rc = nst_conv3x3_bwd_data(dx, g, mask, l->w, e);
        else rc = nst_pool2d_bwd(dx, g, v->kept[i - 1], v->pool, e);
        if (!rc) rc = nst_profile_mark(v->device, l->name, mask ? "+relu bwd" : " bwd", e);
        mask = NULL;
        nst_tensor_free(g);
        g = dx;
    }
    if (rc) {
        nst_tensor_free(g);
        return NULL;
    }
    return g;
}
