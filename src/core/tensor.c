// Tensors: allocation on a device's backend, views sharing storage, shapes, copies
// between devices.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"

size_t nst_live_bytes;

// ---- allocation -------------------------------------------------------------

static nst_tensor *tensor_header(nst_storage *st, size_t offset, int ndim, const int64_t *shape,
                                 size_t numel, nst_err *e) {
    nst_tensor *t = malloc(sizeof *t);
    if (!t) {
        nst_fail(e, "out of memory");
        return NULL;
    }
    t->st = st;
    t->offset = offset;
    t->ndim = ndim;
    for (int i = 0; i < NST_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
    t->numel = numel;
    st->refs++;
    return t;
}

nst_tensor *nst_tensor_new(nst_device dev, int ndim, const int64_t *shape, nst_err *e) {
    size_t numel;
    if (nst_shape_check(ndim, shape, &numel, e)) return NULL;
    const nst_backend *b = nst_backend_get(dev, e);
    if (!b) return NULL;
    nst_storage *st = calloc(1, sizeof *st);
    if (!st) {
        nst_fail(e, "out of memory");
        return NULL;
    }
    st->data = b->alloc(numel * sizeof(float), e);
    if (!st->data) {
        free(st);
        return NULL;
    }
    st->numel = numel;
    st->device = dev;
    nst_live_bytes += numel * sizeof(float);
    nst_tensor *t = tensor_header(st, 0, ndim, shape, numel, e);
    if (!t) {
        b->release(st->data);
        free(st);
    }
    return t;
}

nst_tensor *nst_tensor_like(const nst_tensor *t, nst_err *e) {
    return nst_tensor_new(nst_dev(t), t->ndim, t->shape, e);
}

nst_tensor *nst_tensor_view(const nst_tensor *t, int ndim, const int64_t *shape, nst_err *e) {
    size_t numel;
    if (nst_shape_check(ndim, shape, &numel, e)) return NULL;
    if (numel != t->numel) {
        char buf[64];
        nst_shape_str(t, buf, sizeof buf);
        nst_fail(e, "cannot view a tensor of %zu elements (%s) as %zu elements", t->numel, buf,
                 numel);
        return NULL;
    }
    return tensor_header(t->st, t->offset, ndim, shape, numel, e);
}

nst_tensor *nst_tensor_narrow0(const nst_tensor *t, int64_t start, int64_t count, nst_err *e) {
    if (start < 0 || count < 1 || start + count > t->shape[0]) {
        nst_fail(e, "narrow: range [%lld, %lld) outside dimension 1 of size %lld", (long long)start,
                 (long long)(start + count), (long long)t->shape[0]);
        return NULL;
    }
    size_t inner = t->numel / (size_t)t->shape[0];
    int64_t shape[NST_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = count;
    return tensor_header(t->st, t->offset + (size_t)start * inner, t->ndim, shape,
                         (size_t)count * inner, e);
}

void nst_tensor_free(nst_tensor *t) {
    if (!t) return;
    nst_storage *st = t->st;
    if (--st->refs == 0) {
        const nst_backend *b = nst_backend_registered(st->device);
        if (b) b->release(st->data);
        nst_live_bytes -= st->numel * sizeof(float);
        free(st);
    }
    free(t);
}

int nst_same_shape(const nst_tensor *a, const nst_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

void nst_shape_format(int ndim, const int64_t *shape, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < ndim && used < len; i++) {
        int n = snprintf(buf + used, len - used, i ? "x%lld" : "%lld", (long long)shape[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
}

void nst_shape_str(const nst_tensor *t, char *buf, size_t len) {
    nst_shape_format(t->ndim, t->shape, buf, len);
}

// ---- transfers --------------------------------------------------------------

int nst_copy(nst_tensor *dst, const nst_tensor *src, nst_err *e) {
    if (dst->numel != src->numel)
        return nst_fail(e, "copy: %zu elements into %zu", src->numel, dst->numel);
    size_t bytes = src->numel * sizeof(float);
    nst_device ds = nst_dev(dst), ss = nst_dev(src);
    if (ds == ss) {
        const nst_backend *b = nst_backend_get(ds, e);
        return b ? b->copy(nst_data(dst), nst_data(src), bytes, e) : -1;
    }
    if (ss == NST_CPU) { // host -> device
        const nst_backend *b = nst_backend_get(ds, e);
        return b ? b->upload(nst_data(dst), nst_data(src), bytes, e) : -1;
    }
    if (ds == NST_CPU) { // device -> host
        const nst_backend *b = nst_backend_get(ss, e);
        return b ? b->download(nst_data(dst), nst_data(src), bytes, e) : -1;
    }
    return nst_fail(e, "copy between two non-CPU devices is not supported");
}

int nst_upload(nst_tensor *t, const float *host, nst_err *e) {
    const nst_backend *b = nst_backend_get(nst_dev(t), e);
    return b ? b->upload(nst_data(t), host, t->numel * sizeof(float), e) : -1;
}

int nst_download(const nst_tensor *t, float *host, nst_err *e) {
    const nst_backend *b = nst_backend_get(nst_dev(t), e);
    return b ? b->download(host, nst_data(t), t->numel * sizeof(float), e) : -1;
}

int nst_sync(nst_device d, nst_err *e) {
    const nst_backend *b = nst_backend_registered(d);
    return b ? b->sync(e) : 0; // unregistered: nothing was ever queued there
}
