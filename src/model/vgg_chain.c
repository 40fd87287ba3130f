// The VGG on the backend's channels-last chain (core/backend.h, nst_chain_ops), used
// when the device's layout is chain: activations and gradients between layers live in
// chain buffers; the network input, tapped outputs and gradients arriving at taps are
// NCHW float as everywhere else. Same results as vgg_run.c's NCHW path (the CPU chain
// is tested against it).
#include <string.h>

#include "core/profile.h"
#include "model/vgg_internal.h"

// A buffer for an (n, c, h, w) activation in the chain's layout: a 1-D float tensor of
// at least that many bytes.
// v->chain_elem bytes per element (the chain's element size in the forward's settings).
static nst_tensor *chain_buffer(const nst_vgg *v, const int64_t s[4], nst_err *e) {
    size_t a, b, bytes;
    if (nst_mul_size((size_t)s[0] * (size_t)s[2], (size_t)s[3], &a) ||
        nst_mul_size(a, (size_t)nst_pad8((int)s[1]), &b) ||
        nst_mul_size(b, v->chain_elem, &bytes)) {
        nst_fail(e, "forward: activation size overflow");
        return NULL;
    }
    int64_t floats = (int64_t)((bytes + sizeof(float) - 1) / sizeof(float));
    return nst_tensor_new(v->device, 1, &floats, e);
}

// The layer's weights in the chain's form, made on first use (and again if the chain's
// element type changed, e.g. another CUDA precision).
static const void *chain_weights(nst_vgg *v, const nst_chain_ops *ch, const nst_settings *mode,
                                 nst_vgg_layer *l, nst_err *e) {
    if (l->wchain && l->wchain_elem == v->chain_elem) return nst_data(l->wchain);
    nst_tensor_free(l->wchain);
    l->wchain = NULL;
    size_t bytes = ch->weight_bytes(mode->precision, l->out_c, l->in_c);
    int64_t floats = (int64_t)((bytes + sizeof(float) - 1) / sizeof(float));
    nst_tensor *t = nst_tensor_new(v->device, 1, &floats, e);
    if (!t) return NULL;
    if (ch->weights(nst_data(t), nst_data(l->w), l->out_c, l->in_c, e)) {
        nst_tensor_free(t);
        return NULL;
    }
    l->wchain = t, l->wchain_elem = v->chain_elem;
    return nst_data(t);
}

int nst_vgg_chain_forward(nst_vgg *v, const nst_chain_ops *ch, const nst_settings *mode,
                          const nst_tensor *x, int ntaps, const int *taps, nst_tensor **outs,
                          int depth, nst_err *e) {
    v->chain_elem = ch->elem_size(mode->precision);
    int64_t s[4] = {x->shape[0], 3, x->shape[2], x->shape[3]};
    nst_tensor *cur = chain_buffer(v, s, e);
    int rc = cur ? ch->from_nchw(nst_data(cur), nst_data(x), (int)s[0], 3, (size_t)(s[2] * s[3]), e)
                 : -1;
    for (int i = 0; i <= depth && !rc; i++) {
        nst_vgg_layer *l = &v->layer[i];
        int64_t in[4] = {s[0], s[1], s[2], s[3]};
        if ((rc = nst_vgg_out_shape(l, s, e))) break;
        nst_tensor *y = chain_buffer(v, s, e);
        if (!y) {
            rc = -1;
            break;
        }
        if (l->kind == NST_VGG_CONV) { // always with its ReLU: no conv output is tapped here
            const void *wp = chain_weights(v, ch, mode, l, e);
            rc = wp ? ch->conv_fwd(nst_data(y), nst_data(cur), wp, nst_data(l->b), (int)in[0],
                                   (int)in[1], (int)in[2], (int)in[3], l->out_c, 1, e)
                    : -1;
            memcpy(v->out_shape[i++], s, sizeof s);
        } else if (l->kind == NST_VGG_POOL) {
            rc = ch->pool_fwd(nst_data(y), nst_data(cur), (int)in[0], (int)in[1], (int)in[2],
                              (int)in[3], v->pool, e);
        } else {
            rc = nst_fail(e, "forward: %s has no conv before it", l->name);
        }
        if (!rc)
            rc = nst_profile_mark(v->device, l->name,
                                  l->kind == NST_VGG_CONV ? "+relu fwd" : " fwd", e);
        memcpy(v->out_shape[i], s, sizeof s);
        if (!rc && v->layer[i].kind == NST_VGG_RELU) rc = nst_vgg_keep(v, i, y, e);
        for (int t = 0; t < ntaps && !rc; t++)
            if (taps[t] == i && !outs[t]) {
                outs[t] = nst_tensor_new(v->device, 4, s, e);
                rc = outs[t] ? ch->to_nchw(nst_data(outs[t]), nst_data(y), (int)s[0], (int)s[1],
                                           (size_t)(s[2] * s[3]), e)
                             : -1;
            }
        nst_tensor_free(cur);
        cur = y;
    }
    nst_tensor_free(cur);
    return rc;
}

nst_tensor *nst_vgg_chain_backward(nst_vgg *v, const nst_chain_ops *ch, const nst_settings *mode,
                                   int ngrads, const int *layers, const nst_tensor *const *grads,
                                   int deepest, nst_err *e) {
    if (ch->elem_size(mode->precision) != v->chain_elem) { // CUDA precision switched in between
        nst_fail(e, "backward: the device's precision changed since forward; run forward again");
        return NULL;
    }
    nst_tensor *g = NULL;
    int rc = 0;
    for (int i = deepest; i >= 0 && !rc; i--) {
        nst_vgg_layer *l = &v->layer[i];
        const int64_t *s = v->out_shape[i];
        size_t P = (size_t)(s[2] * s[3]);
        int last = -1; // the last gradient arriving here; a ReLU's mask goes with it
        for (int k = 0; k < ngrads; k++)
            if (layers[k] == i) last = k;
        if (!g && last < 0) continue;
        int valid = g != NULL;
        if (!g && !(g = chain_buffer(v, s, e))) {
            rc = -1;
            break;
        }
        const void *mask = l->kind == NST_VGG_RELU ? nst_data(v->kept[i]) : NULL;
        for (int k = 0; k <= last && !rc; k++)
            if (layers[k] == i) {
                rc = ch->grad(nst_data(g), valid, nst_data(grads[k]), k == last ? mask : NULL,
                              (int)s[0], (int)s[1], P, e);
                valid = 1;
            }
        if (!rc && last < 0 && mask)
            rc = ch->grad(nst_data(g), 1, NULL, mask, (int)s[0], (int)s[1], P, e);
        if (rc || l->kind == NST_VGG_RELU) continue; // the conv below goes on from g
        const int64_t *in = i > 0 ? v->out_shape[i - 1] : v->in_shape;
        nst_tensor *dx = chain_buffer(v, in, e);
        if (!dx) rc = -1;
        else if (l->kind == NST_VGG_CONV)
            rc = ch->conv_bwd(nst_data(dx), nst_data(g), nst_data(l->wchain), (int)s[0], l->in_c,
                              (int)s[2], (int)s[3], l->out_c, e);
        else
            rc = ch->pool_bwd(nst_data(dx), nst_data(g), nst_data(v->kept[i - 1]), (int)in[0],
                              (int)in[1], (int)in[2], (int)in[3], v->pool, e);
        if (!rc)
            rc = nst_profile_mark(v->device, l->name,
                                  l->kind == NST_VGG_CONV ? "+relu bwd" : " bwd", e);
        nst_tensor_free(g);
        g = dx;
    }
    nst_tensor *out = rc ? NULL : nst_tensor_new(v->device, 4, v->in_shape, e);
    if (out && ch->to_nchw(nst_data(out), nst_data(g), (int)v->in_shape[0], 3,
                           (size_t)(v->in_shape[2] * v->in_shape[3]), e)) {
        nst_tensor_free(out);
        out = NULL;
    }
    nst_tensor_free(g);
    return out;
}
