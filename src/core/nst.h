// nst core API: errors, devices, tensors, limits. The core never sees lua_State, never
// exits, never longjmps: every fallible function returns 0 on success (or a pointer)
// and -1 (or NULL) with a message in an nst_err.
#ifndef NST_H
#define NST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define NST_MAX_DIMS 4

typedef struct nst_err {
    char msg[512];
} nst_err;

// Formats the message into e (if non-NULL) and returns -1, so callers can write
// `return nst_fail(e, "...", ...);`.
int nst_fail(nst_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef enum nst_device { NST_CPU = 0, NST_CUDA = 1, NST_NDEVICES = 2 } nst_device;

// core/device.c
const char *nst_device_name(nst_device d); // "cpu", "cuda"
// Parses "cpu" / "cuda" / "cuda:0" / "gpu"; -1 with a message otherwise.
int nst_device_parse(const char *s, nst_device *out, nst_err *e);
// Whether nst was built with d's backend, and whether d can be used now.
int nst_device_built(nst_device d);
int nst_device_available(nst_device d);

// Refcounted device memory shared by a tensor and its views.
typedef struct nst_storage {
    float *data;
    size_t numel;
    int refs;
    nst_device device;
} nst_storage;

// Contiguous, row-major float32 tensor of 1..4 dims. A view shares storage and may
// start at an offset (in elements) into it.
typedef struct nst_tensor {
    nst_storage *st;
    size_t offset;
    int ndim;
    int64_t shape[NST_MAX_DIMS];
    size_t numel;
} nst_tensor;

static inline float *nst_data(const nst_tensor *t) { return t->st->data + t->offset; }
static inline nst_device nst_dev(const nst_tensor *t) { return t->st->device; }

// core/limits.c: what a size coming from outside may ask for (bytes of one tensor,
// pixels of one image). Configurable from Lua.
extern size_t nst_max_tensor_bytes;
extern size_t nst_max_image_pixels;

// Checked multiply: returns 0 and sets *out, or -1 on overflow of size_t.
int nst_mul_size(size_t a, size_t b, size_t *out);

// Validates a shape (1..4 dims, each >= 1, product within nst_max_tensor_bytes) and
// returns its element count in *numel.
int nst_shape_check(int ndim, const int64_t *shape, size_t *numel, nst_err *e);

// ---- core/tensor.c ----
// Bytes of tensor storage alive, all devices together (lets the Lua side collect
// garbage when unreachable tensors hold much memory the collector cannot see).
extern size_t nst_live_bytes;

// New tensor with uninitialized contents.
nst_tensor *nst_tensor_new(nst_device dev, int ndim, const int64_t *shape, nst_err *e);
// New tensor with t's shape and device.
nst_tensor *nst_tensor_like(const nst_tensor *t, nst_err *e);
// A view of t with another shape and the same element count (shares storage).
nst_tensor *nst_tensor_view(const nst_tensor *t, int ndim, const int64_t *shape, nst_err *e);
// A view of elements [start, start + count) of t's first dimension.
nst_tensor *nst_tensor_narrow0(const nst_tensor *t, int64_t start, int64_t count, nst_err *e);
void nst_tensor_free(nst_tensor *t);

int nst_same_shape(const nst_tensor *a, const nst_tensor *b);
// The one shape printer: writes e.g. "1x3x256x256" into buf (truncated to len).
void nst_shape_format(int ndim, const int64_t *shape, char *buf, size_t len);
// nst_shape_format of t's shape.
void nst_shape_str(const nst_tensor *t, char *buf, size_t len);

// Copies between any devices; shapes must have equal element counts.
int nst_copy(nst_tensor *dst, const nst_tensor *src, nst_err *e);
// Host <-> tensor transfers of t->numel floats.
int nst_upload(nst_tensor *t, const float *host, nst_err *e);
int nst_download(const nst_tensor *t, float *host, nst_err *e);
// Waits for all queued work on device d (nothing to wait for if d was never used).
int nst_sync(nst_device d, nst_err *e);

#endif
