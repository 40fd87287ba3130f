// Tensor core: errors, limits, device registry, allocation, views, copies, RNG.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#ifdef NST_WITH_CUDA
#include "nst_cuda.h" // kernels/nst_cuda.h: C declarations of the CUDA side
#endif

static const double NST_PI = 3.14159265358979323846;

size_t nst_max_tensor_bytes = (size_t)8 << 30;   // 8 GiB for one tensor
size_t nst_max_image_pixels = (size_t)1 << 28;   // 268 Mpixel (16384 x 16384)
size_t nst_live_bytes;

int nst_fail(nst_err *e, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

const char *nst_device_name(nst_device d) { return d == NST_CUDA ? "cuda" : "cpu"; }

int nst_device_parse(const char *s, nst_device *out, nst_err *e) {
    if (strcmp(s, "cpu") == 0) {
        *out = NST_CPU;
        return 0;
    }
    if (strcmp(s, "cuda") == 0 || strcmp(s, "cuda:0") == 0 || strcmp(s, "gpu") == 0) {
        *out = NST_CUDA;
        return 0;
    }
    return nst_fail(e, "unknown device '%s' (expected \"cpu\" or \"cuda\")", s);
}

// ---- backend registry -------------------------------------------------------

static const nst_backend *registry[NST_NDEVICES];

int nst_backend_register(nst_device d, const nst_backend *b, nst_err *e) {
    // Every slot must be filled: a missing one is an error here, not a fallback later.
    const char *missing = NULL;
#define NST_REQUIRE(slot) if (!b->slot && !missing) missing = #slot
    NST_REQUIRE(alloc); NST_REQUIRE(release); NST_REQUIRE(upload); NST_REQUIRE(download);
    NST_REQUIRE(copy); NST_REQUIRE(sync); NST_REQUIRE(fill); NST_REQUIRE(binary);
    NST_REQUIRE(binary_scalar); NST_REQUIRE(unary); NST_REQUIRE(axpy); NST_REQUIRE(clamp);
    NST_REQUIRE(reduce); NST_REQUIRE(dot); NST_REQUIRE(gemm); NST_REQUIRE(gram);
    NST_REQUIRE(conv3x3_fwd); NST_REQUIRE(conv3x3_bwd_data); NST_REQUIRE(relu_fwd);
    NST_REQUIRE(relu_bwd); NST_REQUIRE(pool_fwd); NST_REQUIRE(pool_bwd);
    NST_REQUIRE(channel_affine); NST_REQUIRE(adam); NST_REQUIRE(adam_counted); NST_REQUIRE(mse_loss); NST_REQUIRE(tv_loss);
#undef NST_REQUIRE
    const nst_chain_ops *c = b->chain; // optional, but whole when present
#define NST_REQUIRE_CHAIN(slot) if (c && !c->slot && !missing) missing = "chain." #slot
    NST_REQUIRE_CHAIN(active); NST_REQUIRE_CHAIN(elem_size); NST_REQUIRE_CHAIN(channels);
    NST_REQUIRE_CHAIN(from_nchw); NST_REQUIRE_CHAIN(to_nchw); NST_REQUIRE_CHAIN(weight_bytes);
    NST_REQUIRE_CHAIN(weights); NST_REQUIRE_CHAIN(conv_fwd);
    NST_REQUIRE_CHAIN(conv_bwd); NST_REQUIRE_CHAIN(pool_fwd); NST_REQUIRE_CHAIN(pool_bwd);
    NST_REQUIRE_CHAIN(grad);
#undef NST_REQUIRE_CHAIN
    if (missing)
        return nst_fail(e, "backend '%s' has no '%s' slot", b->name ? b->name : "?", missing);
    registry[d] = b;
    return 0;
}

const nst_backend *nst_backend_get(nst_device d, nst_err *e) {
    if (registry[d]) return registry[d];
    if (d == NST_CPU) {
        if (nst_backend_register(NST_CPU, &nst_cpu_backend, e)) return NULL;
        return registry[d];
    }
#ifdef NST_WITH_CUDA
    if (!nst_cuda_available()) {
        nst_fail(e, "CUDA backend unavailable: no CUDA device found");
        return NULL;
    }
    if (nst_backend_register(NST_CUDA, &nst_cuda_backend, e)) return NULL;
    return registry[d];
#else
    nst_fail(e, "CUDA backend unavailable: nst was built without CUDA (nvcc not found at build time)");
    return NULL;
#endif
}

// ---- sizes ------------------------------------------------------------------

int nst_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

int nst_shape_check(int ndim, const int64_t *shape, size_t *numel, nst_err *e) {
    if (ndim < 1 || ndim > NST_MAX_DIMS)
        return nst_fail(e, "a tensor has 1 to %d dimensions, got %d", NST_MAX_DIMS, ndim);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return nst_fail(e, "size of dimension %d must be a positive integer, got %lld", i + 1,
                            (long long)shape[i]);
        size_t bytes;
        if (nst_mul_size(n, (size_t)shape[i], &n) || nst_mul_size(n, sizeof(float), &bytes) ||
            bytes > nst_max_tensor_bytes) {
            return nst_fail(e, "tensor too large: more than the limit of %zu bytes (nst.set_limits)",
                            nst_max_tensor_bytes);
        }
    }
    *numel = n;
    return 0;
}

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
        nst_fail(e, "cannot view a tensor of %zu elements (%s) as %zu elements", t->numel, buf, numel);
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
        const nst_backend *b = registry[st->device];
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

void nst_shape_str(const nst_tensor *t, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < t->ndim && used < len; i++) {
        int n = snprintf(buf + used, len - used, i ? "x%lld" : "%lld", (long long)t->shape[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
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
    if (!registry[d]) return 0; // nothing was ever queued there
    return registry[d]->sync(e);
}

// ---- random numbers ---------------------------------------------------------

static uint64_t rng_s[4] = {0x9E3779B97F4A7C15ull, 0xBF58476D1CE4E5B9ull, 0x94D049BB133111EBull,
                            0x2545F4914F6CDD1Dull};

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void nst_rng_seed(uint64_t seed) {
    for (int i = 0; i < 4; i++) rng_s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(void) { // xoshiro256**
    uint64_t r = rotl(rng_s[1] * 5, 7) * 9, t = rng_s[1] << 17;
    rng_s[2] ^= rng_s[0];
    rng_s[3] ^= rng_s[1];
    rng_s[1] ^= rng_s[2];
    rng_s[0] ^= rng_s[3];
    rng_s[2] ^= t;
    rng_s[3] = rotl(rng_s[3], 45);
    return r;
}

static double rng_uniform(void) { return (double)(rng_next() >> 11) * 0x1.0p-53; } // [0,1)

// Draws on the host (reproducible whatever the device), then uploads.
static int fill_host(nst_tensor *t, int normal, float a, float b, nst_err *e) {
    float *buf = nst_dev(t) == NST_CPU ? nst_data(t) : malloc(t->numel * sizeof(float));
    if (!buf) return nst_fail(e, "out of memory");
    for (size_t i = 0; i < t->numel; i++) {
        if (!normal) {
            buf[i] = (float)(a + (b - a) * rng_uniform());
        } else { // Box-Muller, both outputs used
            double u1 = 1.0 - rng_uniform(), u2 = rng_uniform();
            double r = sqrt(-2.0 * log(u1));
            buf[i] = (float)(a + b * r * cos(2 * NST_PI * u2));
            if (i + 1 < t->numel) buf[++i] = (float)(a + b * r * sin(2 * NST_PI * u2));
        }
    }
    int rc = 0;
    if (nst_dev(t) != NST_CPU) {
        rc = nst_upload(t, buf, e);
        free(buf);
    }
    return rc;
}

int nst_fill_rand(nst_tensor *t, float lo, float hi, nst_err *e) { return fill_host(t, 0, lo, hi, e); }
int nst_fill_randn(nst_tensor *t, float mean, float std, nst_err *e) {
    return fill_host(t, 1, mean, std, e);
}
