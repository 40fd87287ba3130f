// Devices: their names, which backends are built, which are usable, and the registry
// that hands the core a device's function table (checked once, given its settings).
#include <string.h>

#include "core/backend.h"

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

const nst_backend *nst_backend_table(nst_device d) {
    if (d == NST_CPU) return &nst_cpu_backend;
#ifdef NST_WITH_CUDA
    if (d == NST_CUDA) return &nst_cuda_backend;
#endif
    return NULL;
}

int nst_device_built(nst_device d) { return nst_backend_table(d) != NULL; }

int nst_device_available(nst_device d) {
    const nst_backend *b = nst_backend_table(d);
    return b && b->available();
}

// The name of the first empty slot of b, or NULL when every slot is set.
static const char *missing_slot(const nst_backend *b) {
    const struct {
        const char *name;
        int set;
    } slots[] = {
        {"available", b->available != NULL},
        {"configure", b->configure != NULL},
        {"alloc", b->alloc != NULL},
        {"release", b->release != NULL},
        {"upload", b->upload != NULL},
        {"download", b->download != NULL},
        {"copy", b->copy != NULL},
        {"sync", b->sync != NULL},
        {"event_record", b->event_record != NULL},
        {"event_elapsed", b->event_elapsed != NULL},
        {"fill", b->fill != NULL},
        {"binary", b->binary != NULL},
        {"binary_scalar", b->binary_scalar != NULL},
        {"unary", b->unary != NULL},
        {"axpy", b->axpy != NULL},
        {"clamp", b->clamp != NULL},
        {"reduce", b->reduce != NULL},
        {"dot", b->dot != NULL},
        {"gemm", b->gemm != NULL},
        {"gram", b->gram != NULL},
        {"conv3x3_fwd", b->conv3x3_fwd != NULL},
        {"conv3x3_bwd_data", b->conv3x3_bwd_data != NULL},
        {"relu_fwd", b->relu_fwd != NULL},
        {"relu_bwd", b->relu_bwd != NULL},
        {"pool_fwd", b->pool_fwd != NULL},
        {"pool_bwd", b->pool_bwd != NULL},
        {"channel_affine", b->channel_affine != NULL},
        {"adam", b->adam != NULL},
        {"adam_counted", b->adam_counted != NULL},
        {"mse_loss", b->mse_loss != NULL},
        {"tv_loss", b->tv_loss != NULL},
        {"warp", b->warp != NULL},
        {"consistency", b->consistency != NULL},
        {"temporal_loss", b->temporal_loss != NULL},
        {"moments_center", b->moments_center != NULL},
        {"moments_grad", b->moments_grad != NULL},
        {"sym_sqrt", b->sym_sqrt != NULL},
        {"w2_map", b->w2_map != NULL},
        {"erode3x3", b->erode3x3 != NULL},
    };
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++)
        if (!slots[i].set) return slots[i].name;
    const nst_chain_ops *c = b->chain; // optional, but whole when present
    if (!c) return NULL;
    const struct {
        const char *name;
        int set;
    } chain[] = {
        {"chain.elem_size", c->elem_size != NULL}, {"chain.from_nchw", c->from_nchw != NULL},
        {"chain.to_nchw", c->to_nchw != NULL},     {"chain.weight_bytes", c->weight_bytes != NULL},
        {"chain.weights", c->weights != NULL},     {"chain.conv_fwd", c->conv_fwd != NULL},
        {"chain.conv_bwd", c->conv_bwd != NULL},   {"chain.pool_fwd", c->pool_fwd != NULL},
        {"chain.pool_bwd", c->pool_bwd != NULL},   {"chain.grad", c->grad != NULL},
    };
    for (size_t i = 0; i < sizeof chain / sizeof chain[0]; i++)
        if (!chain[i].set) return chain[i].name;
    return NULL;
}

static const nst_backend *registry[NST_NDEVICES];

const nst_backend *nst_backend_registered(nst_device d) { return registry[d]; }

const nst_backend *nst_backend_get(nst_device d, nst_err *e) {
    if (registry[d]) return registry[d];
    const nst_backend *b = nst_backend_table(d);
    if (!b) {
        nst_fail(e, "CUDA backend unavailable: nst was built without CUDA (nvcc not found at "
                    "build time)");
        return NULL;
    }
    if (!b->available()) {
        nst_fail(e, "%s backend unavailable: no %s device found", d == NST_CUDA ? "CUDA" : "CPU",
                 d == NST_CUDA ? "CUDA" : "CPU");
        return NULL;
    }
    const char *missing = missing_slot(b);
    if (missing) {
        nst_fail(e, "backend '%s' has no '%s' slot", b->name ? b->name : "?", missing);
        return NULL;
    }
    if (b->configure(nst_settings_get(d), e)) return NULL;
    registry[d] = b;
    return b;
}
