// The CUDA backend's function table (core/backend.h; twin of src/cpu/cpu_backend.c)
// and its memory slots. Every slot queues work on the one stream (cuda_context.cu) and
// returns without waiting, except download and sync (and reading a profile's events):
// the only places the host waits for the GPU.
#include "cuda_internal.h"

static void *cu_alloc(size_t bytes, nst_err *e) { return nst_cu_alloc(bytes, e); }
static void cu_release(void *p) { nst_cu_free(p); }

// During a graph capture: the operations that cannot be captured fail with this.
static int not_while_capturing(const char *what, nst_err *e) {
    return nst_fail(e, "%s while a CUDA graph is being captured (nst.cuda_graph): not capturable",
                    what);
}

static int cu_upload(void *dst, const void *host_src, size_t bytes, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (nst_cu_capturing()) return not_while_capturing("copying from the host", e);
    if (bytes == 0) return 0;
    // From pageable memory the call returns once the source is staged, so the caller
    // may reuse host_src immediately.
    return nst_cu_check(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, s),
                        "cudaMemcpyAsync (upload)", e);
}

static int cu_download(void *host_dst, const void *src, size_t bytes, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (nst_cu_capturing()) return not_while_capturing("reading device memory", e);
    if (bytes && nst_cu_check(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, s),
                              "cudaMemcpyAsync (download)", e))
        return -1;
    // Also reports a fault of any kernel queued before the copy.
    return nst_cu_check(cudaStreamSynchronize(s), "cudaStreamSynchronize (download)", e);
}

static int cu_copy(void *dst, const void *src, size_t bytes, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (bytes == 0 || dst == src) return 0;
    return nst_cu_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s),
                        "cudaMemcpyAsync (device copy)", e);
}

static int cu_sync(nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (nst_cu_capturing()) return not_while_capturing("waiting for the device", e);
    return nst_cu_check(cudaStreamSynchronize(s), "cudaStreamSynchronize", e);
}

// Positional, in the order of struct nst_backend (designated initializers are C++20).
extern "C" const nst_backend nst_cuda_backend = {
    "cuda",
    // device (cuda_context.cu)
    nst_cu_available,
    nst_cu_configure,
    // memory
    cu_alloc,
    cu_release,
    cu_upload,
    cu_download,
    cu_copy,
    cu_sync,
    // timing events (cuda_profile.cu)
    nst_cu_event_record,
    nst_cu_event_elapsed,
    // elementwise (cuda_elementwise.cu)
    nst_cu_fill,
    nst_cu_binary,
    nst_cu_binary_scalar,
    nst_cu_unary,
    nst_cu_axpy,
    nst_cu_clamp,
    // reductions (cuda_reduce.cu)
    nst_cu_reduce,
    nst_cu_dot,
    // BLAS (cuda_blas.cu)
    nst_cu_gemm,
    nst_cu_gram,
    // convolution (cuda_conv.cu), activation (cuda_elementwise.cu), pooling (cuda_pool.cu)
    nst_cu_conv3x3_fwd,
    nst_cu_conv3x3_bwd_data,
    nst_cu_relu_fwd,
    nst_cu_relu_bwd,
    nst_cu_pool_fwd,
    nst_cu_pool_bwd,
    nst_cu_channel_affine,
    // optimizer (cuda_elementwise.cu), losses (cuda_reduce.cu)
    nst_cu_adam,
    nst_cu_adam_counted,
    nst_cu_mse_loss,
    nst_cu_tv_loss,
    // video (cuda_flow.cu, cuda_temporal.cu)
    nst_cu_warp,
    nst_cu_consistency,
    nst_cu_temporal_loss,
    // the style losses (cuda_moments.cu, cuda_linalg.cu, cuda_pool.cu)
    nst_cu_moments_center,
    nst_cu_moments_grad,
    nst_cu_sym_sqrt,
    nst_cu_w2_map,
    nst_cu_erode3x3,
    // channels-last chain (cuda_chain.cu)
    &nst_cuda_chain,
};
// A slot added to struct nst_backend must be added above too (a pointer per slot).
static_assert(sizeof(nst_backend) == 41 * sizeof(void *), "nst_backend changed: update the table");
