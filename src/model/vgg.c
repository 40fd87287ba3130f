// The VGG network (see vgg.h): its layer table, creation and weights. Running it is
// vgg_run.c (NCHW) and vgg_chain.c (the backend's channels-last chain).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "model/vgg_internal.h"

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

void nst_vgg_drop_kept(nst_vgg *v) {
    for (int i = 0; i < v->n; i++) {
        nst_tensor_free(v->kept[i]);
        v->kept[i] = NULL;
    }
    v->depth = 0;
}

void nst_vgg_free(nst_vgg *v) {
    if (!v) return;
    nst_vgg_drop_kept(v);
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
    int ok = en->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = en->shape[i] == shape[i];
    if (!ok) {
        char want[64], got[64];
        nst_shape_format(ndim, shape, want, sizeof want);
        nst_shape_format(en->ndim, en->shape, got, sizeof got);
        nst_fail(e, "%s: tensor '%s' (%s) has shape %s, expected %s", f->path, en->name, layer, got,
                 want);
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
            rc = nst_fail(e, "%s: has '%s' (%s) but not the layers before it", path,
                          we ? wname : bname, l->name);
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
    if (!rc && v->usable == 0)
        rc = nst_fail(e, "%s: no VGG weights found (expected features.0.weight ...)", path);
    nst_st_close(f);
    return rc;
}
