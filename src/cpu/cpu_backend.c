// The CPU backend's function table (twin of kernels/cuda_backend.cu) and its device
// and memory slots. Device pointers are plain host pointers, 64-byte aligned (one
// cache line, one AVX-512 vector).
#include <stdlib.h>
#include <string.h>

#include "cpu/cpu.h"

static int cpu_available(void) { return 1; }

// The CPU computes in float32; its convolutions take NCHW tensors, and the chain layout
// runs the VGG through cpu_chain.c (a testing aid, nst.cpu_set_chain).
static int cpu_configure(const nst_settings *s, nst_err *e) {
    if (s->precision != NST_FP32) return nst_fail(e, "cpu: only fp32 precision is supported");
    if (s->layout == NST_LAYOUT_NHWC) return nst_fail(e, "cpu: no nhwc convolution layout");
    return 0;
}

static void *cpu_alloc(size_t bytes, nst_err *e) { return nst_cpu_arena_alloc(bytes, e); }

static void cpu_release(void *p) { nst_cpu_arena_free(p); }

void *nst_cpu_scratch(size_t floats, nst_err *e) {
    size_t bytes;
    if (nst_mul_size(floats, sizeof(float), &bytes) != 0) {
        nst_fail(e, "cpu: scratch of %zu floats overflows", floats);
        return NULL;
    }
    return nst_cpu_arena_alloc(bytes, e);
}

void nst_cpu_free(void *p) { nst_cpu_arena_free(p); }

static int cpu_upload(void *dst, const void *host_src, size_t bytes, nst_err *e) {
    (void)e;
    if (bytes) memcpy(dst, host_src, bytes);
    return 0;
}

static int cpu_download(void *host_dst, const void *src, size_t bytes, nst_err *e) {
    (void)e;
    if (bytes) memcpy(host_dst, src, bytes);
    return 0;
}

static int cpu_copy(void *dst, const void *src, size_t bytes, nst_err *e) {
    (void)e;
    // Views of one storage may overlap.
    if (bytes && dst != src) memmove(dst, src, bytes);
    return 0;
}

static int cpu_sync(nst_err *e) {
    (void)e;
    return 0; // CPU work is synchronous
}

const nst_backend nst_cpu_backend = {
    .name = "cpu",
    .available = cpu_available,
    .configure = cpu_configure,
    .alloc = cpu_alloc,
    .release = cpu_release,
    .upload = cpu_upload,
    .download = cpu_download,
    .copy = cpu_copy,
    .sync = cpu_sync,
    .event_record = nst_cpu_event_record,
    .event_elapsed = nst_cpu_event_elapsed,
    .fill = nst_cpu_fill,
    .binary = nst_cpu_binary,
    .binary_scalar = nst_cpu_binary_scalar,
    .unary = nst_cpu_unary,
    .axpy = nst_cpu_axpy,
    .clamp = nst_cpu_clamp,
    .reduce = nst_cpu_reduce,
    .dot = nst_cpu_dot,
    .gemm = nst_cpu_gemm,
    .gram = nst_cpu_gram,
    .conv3x3_fwd = nst_cpu_conv3x3_fwd,
    .conv3x3_bwd_data = nst_cpu_conv3x3_bwd_data,
    .relu_fwd = nst_cpu_relu_fwd,
    .relu_bwd = nst_cpu_relu_bwd,
    .pool_fwd = nst_cpu_pool_fwd,
    .pool_bwd = nst_cpu_pool_bwd,
    .channel_affine = nst_cpu_channel_affine,
    .adam = nst_cpu_adam,
    .adam_counted = nst_cpu_adam_counted,
    .mse_loss = nst_cpu_mse_loss,
    .tv_loss = nst_cpu_tv_loss,
    .warp = nst_cpu_warp, // cpu_flow.c
    .consistency = nst_cpu_consistency,
    .temporal_loss = nst_cpu_temporal_loss, // cpu_temporal.c
    .moments_center = nst_cpu_moments_center, // cpu_moments.c
    .moments_grad = nst_cpu_moments_grad,
    .sym_sqrt = nst_cpu_sym_sqrt, // cpu_linalg.c
    .w2_map = nst_cpu_w2_map,
    .erode3x3 = nst_cpu_erode3x3, // cpu_pool.c
    .chain = &nst_cpu_chain, // used when the CPU's layout is chain (nst.cpu_set_chain)
};
