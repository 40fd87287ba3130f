// VGG feature extractor (see vgg.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops.h"
#include "io/safetensors.h"
#include "core/profile.h"
#include "model/vgg.h"

static const int vgg_channels[5] = {64, 128, 256, 512, 512};

nst_vgg *nst_vgg_new(const char *arch, nst_pool pool, nst_device dev, nst_err *e) {
    int convs_per_block;
    if (strcmp(arch, "vgg16") == 0) convs_per_block = 3;
    else if (strcmp(arch, "vgg19") == 0) convs_per_block = 4;
    else {
        nst_fail(e, "unknown architecture '%s' (expected \"vgg16\" or \"vgg19\")", arch);
        return NULL;
    }
    if (!nst_backend_get(dev, e)) return NULL;
    nst_vgg *v = calloc(1, sizeof *v);
    if (!v) {
        nst_fail(e, "out of memory");
        return NULL;
    }
    snprintf(v->arch, sizeof v->arch, "%s", arch);
    v->pool = pool;
    v->device = dev;
    int in_c = 3, index = 0;
    for (int blk = 0; blk < 5; blk++) {
        int convs = blk < 2 ? 2 : convs_per_block, out_c = vgg_channels[blk];
        for (int i = 1; i <= convs; i++) {
            nst_vgg_layer *c = &v->layer[v->n++], *r = &v->layer[v->n++];
            snprintf(c->name, sizeof c->name, "conv%d_%d", blk + 1, i);
            snprintf(r->name, sizeof r->name, "relu%d_%d", blk + 1, i);
            c->kind = NST_VGG_CONV, r->kind = NST_VGG_RELU;
            c->in_c = in_c, c->out_c = r->in_c = r->out_c = out_c;
            c->index = index++, r->index = index++;
            in_c = out_c;
        }
        nst_vgg_layer *p = &v->layer[v->n++];
        snprintf(p->name, sizeof p->name, "pool%d", blk + 1);
        p->kind = NST_VGG_POOL, p->in_c = p->out_c = in_c, p->index = index++;
    }
    return v;
}

static void drop_kept(nst_vgg *v) {
    for (int i = 0; i < v->n; i++) {
        nst_tensor_free(v->kept[i]);
        v->kept[i] = NULL;
    }
    v->depth = 0;
}

void nst_vgg_free(nst_vgg *v) {
    if (!v) return;
    drop_kept(v);
    for (int i = 0; i < v->n; i++) {
        nst_tensor_free(v->layer[i].w);
        nst_tensor_free(v->layer[i].wchain);
        nst_tensor_free(v->layer[i].b);
    }
    free(v);
}

int nst_vgg_find(const nst_vgg *v, const char *name) {
    for (int i = 0; i < v->n; i++)
        if (strcmp(v->layer[i].name, name) == 0) return i;
    return -1;
}

// Loads one tensor by name onto the network's device with the expected shape.
static nst_tensor *load_param(nst_vgg *v, nst_st_file *f, const nst_st_entry *en, int ndim,
                              const int64_t *shape, const char *layer, nst_err *e) {
    nst_tensor probe = {.ndim = ndim, .numel = 1};
    memcpy(probe.shape, shape, sizeof(int64_t) * (size_t)ndim);
    int ok = en->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = en->shape[i] == shape[i];
    if (!ok) {
        char want[64], got[64];
        nst_shape_str(&probe, want, sizeof want);
        nst_tensor gotp = {.ndim = en->ndim};
        memcpy(gotp.shape, en->shape, sizeof gotp.shape);
        nst_shape_str(&gotp, got, sizeof got);
        nst_fail(e, "%s: tensor '%s' (%s) has shape %s, expected %s", f->path, en->name, layer, got, want);
        return NULL;
    }
    nst_tensor *t = nst_tensor_new(v->device, ndim, shape, e);
    if (t && nst_st_read_into(f, en, t, e)) {
        nst_tensor_free(t);
        return NULL;
    }
    return t;
}

int nst_vgg_load(nst_vgg *v, const char *path, nst_err *e) {
    nst_st_file *f = nst_st_open(path, e);
    if (!f) return -1;
    int rc = 0;
    v->usable = v->n;
    for (int i = 0; i < v->n && !rc; i++) {
        nst_vgg_layer *l = &v->layer[i];
        if (l->kind != NST_VGG_CONV) continue;
        char wname[48], bname[48];
        snprintf(wname, sizeof wname, "features.%d.weight", l->index);
        snprintf(bname, sizeof bname, "features.%d.bias", l->index);
        const nst_st_entry *we = nst_st_find(f, wname), *be = nst_st_find(f, bname);
        if (!we && !be) { // the file holds a prefix of the network
            if (v->usable == v->n) v->usable = i;
            continue;
        }
        if (v->usable != v->n) {
            rc = nst_fail(e, "%s: has '%s' (%s) but not the layers before it", path, we ? wname : bname, l->name);
        } else if (!we || !be) {
            rc = nst_fail(e, "%s: %s has no '%s'", path, l->name, we ? bname : wname);
        } else {
            int64_t ws[4] = {l->out_c, l->in_c, 3, 3}, bs[1] = {l->out_c};
            nst_tensor_free(l->w);
            nst_tensor_free(l->wchain);
            l->wchain = NULL;
            nst_tensor_free(l->b);
            l->w = load_param(v, f, we, 4, ws, l->name, e);
            l->b = l->w ? load_param(v, f, be, 1, bs, l->name, e) : NULL;
            if (!l->b) rc = -1;
        }
    }
    if (!rc && v->usable == 0) rc = nst_fail(e, "%s: no VGG weights found (expected features.0.weight ...)", path);
    nst_st_close(f);
    return rc;
}

// Stores t as kept[i] (the network keeps its own reference).
static int keep(nst_vgg *v, int i, nst_tensor *t, nst_err *e) {
    nst_tensor_free(v->kept[i]);
    v->kept[i] = nst_tensor_view(t, t->ndim, t->shape, e);
    return v->kept[i] ? 0 : -1;
}

// s: a layer's input shape (n, c, h, w) -> its output shape.
static int out_shape(const nst_vgg_layer *l, int64_t s[4], nst_err *e) {
    s[1] = l->out_c;
    if (l->kind != NST_VGG_POOL) return 0;
    if (s[2] < 2 || s[3] < 2)
        return nst_fail(e, "forward: input too small: %s gets %lldx%lld", l->name, (long long)s[2],
                        (long long)s[3]);
    s[2] /= 2, s[3] /= 2;
    return 0;
}

// ---- the channels-last chain (nst_chain_ops in backend.h) ----
// Activations and gradients between layers live in chain buffers; the network input,
// tapped outputs and gradients arriving at taps are NCHW float as everywhere else.

// A buffer for an (n, c, h, w) activation in the chain's layout: a 1-D float tensor of
// at least that many bytes.
static nst_tensor *chain_buffer(const nst_vgg *v, const nst_chain_ops *ch, const int64_t s[4],
                                nst_err *e) {
    size_t a, b, bytes;
    if (nst_mul_size((size_t)s[0] * (size_t)s[2], (size_t)s[3], &a) ||
        nst_mul_size(a, (size_t)ch->channels((int)s[1]), &b) || nst_mul_size(b, ch->elem_size(), &bytes)) {
        nst_fail(e, "forward: activation size overflow");
        return NULL;
    }
    int64_t floats = (int64_t)((bytes + sizeof(float) - 1) / sizeof(float));
    return nst_tensor_new(v->device, 1, &floats, e);
}

// The layer's weights in the chain's form, made on first use (and again if the chain's
// element type changed, e.g. another CUDA precision).
static const void *chain_weights(nst_vgg *v, const nst_chain_ops *ch, nst_vgg_layer *l, nst_err *e) {
    if (l->wchain && l->wchain_elem == ch->elem_size()) return nst_data(l->wchain);
    nst_tensor_free(l->wchain);
    l->wchain = NULL;
    int64_t floats = (int64_t)((ch->weight_bytes(l->out_c, l->in_c) + sizeof(float) - 1) / sizeof(float));
    nst_tensor *t = nst_tensor_new(v->device, 1, &floats, e);
    if (!t) return NULL;
    if (ch->weights(nst_data(t), nst_data(l->w), l->out_c, l->in_c, e)) {
        nst_tensor_free(t);
        return NULL;
    }
    l->wchain = t, l->wchain_elem = ch->elem_size();
    return nst_data(t);
}

static int chain_forward(nst_vgg *v, const nst_chain_ops *ch, const nst_tensor *x, int ntaps,
                         const int *taps, nst_tensor **outs, int depth, nst_err *e) {
    v->chain_elem = ch->elem_size();
    int64_t s[4] = {x->shape[0], 3, x->shape[2], x->shape[3]};
    nst_tensor *cur = chain_buffer(v, ch, s, e);
    int rc = cur ? ch->from_nchw(nst_data(cur), nst_data(x), (int)s[0], 3, (size_t)(s[2] * s[3]), e) : -1;
    for (int i = 0; i <= depth && !rc; i++) {
        nst_vgg_layer *l = &v->layer[i];
        int64_t in[4] = {s[0], s[1], s[2], s[3]};
        if ((rc = out_shape(l, s, e))) break;
        nst_tensor *y = chain_buffer(v, ch, s, e);
        if (!y) {
            rc = -1;
            break;
        }
        if (l->kind == NST_VGG_CONV) { // always with its ReLU: no conv output is tapped here
            const void *wp = chain_weights(v, ch, l, e);
            rc = wp ? ch->conv_fwd(nst_data(y), nst_data(cur), wp, nst_data(l->b), (int)in[0], (int)in[1],
                                   (int)in[2], (int)in[3], l->out_c, 1, e)
                    : -1;
            memcpy(v->out_shape[i++], s, sizeof s);
        } else if (l->kind == NST_VGG_POOL) {
            rc = ch->pool_fwd(nst_data(y), nst_data(cur), (int)in[0], (int)in[1], (int)in[2], (int)in[3],
                              v->pool, e);
        } else {
            rc = nst_fail(e, "forward: %s has no conv before it", l->name);
        }
        if (!rc) rc = nst_profile_mark(v->device, l->name, l->kind == NST_VGG_CONV ? "+relu fwd" : " fwd", e);
        memcpy(v->out_shape[i], s, sizeof s);
        if (!rc && v->layer[i].kind == NST_VGG_RELU) rc = keep(v, i, y, e);
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

static nst_tensor *chain_backward(nst_vgg *v, const nst_chain_ops *ch, int ngrads, const int *layers,
                                  const nst_tensor *const *grads, int deepest, nst_err *e) {
    if (ch->elem_size() != v->chain_elem) { // e.g. CUDA precision switched in between
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
        if (!g && !(g = chain_buffer(v, ch, s, e))) {
            rc = -1;
            break;
        }
        const void *mask = l->kind == NST_VGG_RELU ? nst_data(v->kept[i]) : NULL;
        for (int k = 0; k <= last && !rc; k++)
            if (layers[k] == i) {
                rc = ch->grad(nst_data(g), valid, nst_data(grads[k]), k == last ? mask : NULL, (int)s[0],
                              (int)s[1], P, e);
                valid = 1;
            }
        if (!rc && last < 0 && mask) rc = ch->grad(nst_data(g), 1, NULL, mask, (int)s[0], (int)s[1], P, e);
        if (rc || l->kind == NST_VGG_RELU) continue; // the conv below goes on from g
        const int64_t *in = i > 0 ? v->out_shape[i - 1] : v->in_shape;
        nst_tensor *dx = chain_buffer(v, ch, in, e);
        if (!dx) rc = -1;
        else if (l->kind == NST_VGG_CONV)
            rc = ch->conv_bwd(nst_data(dx), nst_data(g), nst_data(l->wchain), (int)s[0], l->in_c, (int)s[2],
                              (int)s[3], l->out_c, e);
        else
            rc = ch->pool_bwd(nst_data(dx), nst_data(g), nst_data(v->kept[i - 1]), (int)in[0], (int)in[1],
                              (int)in[2], (int)in[3], v->pool, e);
        if (!rc) rc = nst_profile_mark(v->device, l->name, l->kind == NST_VGG_CONV ? "+relu bwd" : " bwd", e);
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

// The end of a forward: on failure (rc != 0) nothing half-made is left behind.
static int forward_done(nst_vgg *v, int rc, int ntaps, nst_tensor **outs, int depth) {
    if (rc) {
        for (int t = 0; t < ntaps; t++) {
            nst_tensor_free(outs[t]);
            outs[t] = NULL;
        }
        drop_kept(v);
        return -1;
    }
    v->depth = depth + 1;
    return 0;
}

int nst_vgg_forward(nst_vgg *v, const nst_tensor *x, int ntaps, const int *taps, nst_tensor **outs,
                    nst_err *e) {
    int depth = -1, tapped[NST_VGG_MAX_LAYERS] = {0};
    for (int t = 0; t < ntaps; t++) {
        outs[t] = NULL;
        if (taps[t] < 0 || taps[t] >= v->n) return nst_fail(e, "forward: bad layer index");
        if (taps[t] >= v->usable)
            return nst_fail(e, "layer %s is unavailable: the weights file stops before it", v->layer[taps[t]].name);
        tapped[taps[t]] = 1;
        if (taps[t] > depth) depth = taps[t];
    }
    if (x->ndim != 4 || x->shape[1] != 3)
        return nst_fail(e, "forward: expected an image batch (N,3,H,W)");
    if (nst_dev(x) != v->device)
        return nst_fail(e, "forward: input is on %s, the network on %s", nst_device_name(nst_dev(x)),
                        nst_device_name(v->device));
    drop_kept(v);
    memcpy(v->in_shape, x->shape, sizeof v->in_shape);
    const nst_backend *be = nst_backend_get(v->device, e);
    if (!be) return -1;
    int conv_tapped = 0;
    for (int t = 0; t < ntaps; t++) conv_tapped |= v->layer[taps[t]].kind == NST_VGG_CONV;
    v->chained = be->chain && be->chain->active() && depth >= 0 && !conv_tapped;
    if (v->chained) {
        int rc = chain_forward(v, be->chain, x, ntaps, taps, outs, depth, e);
        return forward_done(v, rc, ntaps, outs, depth);
    }
    nst_tensor *cur = nst_tensor_view(x, 4, x->shape, e);
    if (!cur) return -1;
    int rc = 0, i = 0;
    for (; i <= depth && !rc; i++) {
        nst_vgg_layer *l = &v->layer[i];
        int64_t s[4] = {cur->shape[0], cur->shape[1], cur->shape[2], cur->shape[3]};
        if ((rc = out_shape(l, s, e))) break;
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
        if (!rc && v->layer[i].kind == NST_VGG_RELU) rc = keep(v, i, y, e);
        for (int t = 0; t < ntaps && !rc; t++)
            if (taps[t] == i && !outs[t]) {
                outs[t] = nst_tensor_view(y, 4, y->shape, e);
                if (!outs[t]) rc = -1;
            }
        nst_tensor_free(cur);
        cur = y;
    }
    nst_tensor_free(cur);
    return forward_done(v, rc, ntaps, outs, depth);
}

nst_tensor *nst_vgg_backward(nst_vgg *v, int ngrads, const int *layers, const nst_tensor *const *grads,
                             nst_err *e) {
    int deepest = -1;
    for (int g = 0; g < ngrads; g++) {
        if (layers[g] < 0 || layers[g] >= v->depth) {
            nst_fail(e, "backward: no forward output for layer %s (run forward with it as a tap first)",
                     layers[g] >= 0 && layers[g] < v->n ? v->layer[layers[g]].name : "?");
            return NULL;
        }
        const int64_t *s = v->out_shape[layers[g]];
        const nst_tensor *gr = grads[g];
        if (gr->ndim != 4 || gr->shape[0] != s[0] || gr->shape[1] != s[1] || gr->shape[2] != s[2] ||
            gr->shape[3] != s[3] || nst_dev(gr) != v->device) {
            nst_fail(e, "backward: gradient for %s must be %lldx%lldx%lldx%lld on %s", v->layer[layers[g]].name,
                     (long long)s[0], (long long)s[1], (long long)s[2], (long long)s[3],
                     nst_device_name(v->device));
            return NULL;
        }
        if (layers[g] > deepest) deepest = layers[g];
    }
    if (deepest < 0) {
        nst_fail(e, "backward: no gradients given");
        return NULL;
    }
    if (v->chained) {
        const nst_backend *be = nst_backend_get(v->device, e);
        return be ? chain_backward(v, be->chain, ngrads, layers, grads, deepest, e) : NULL;
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
