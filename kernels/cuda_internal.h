// Shared by the kernels/*.cu files only (C++ with CUDA types). The C side sees
// kernels/nst_cuda.h and src/core/backend.h.
#ifndef NST_CUDA_INTERNAL_H
#define NST_CUDA_INTERNAL_H

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cudnn.h>

extern "C" {
#include "core/backend.h"
#include "nst_cuda.h"
#include "core/nst.h"
}

// Threads per block for elementwise and reduction kernels.
#define NST_CU_THREADS 256
// Cap on blocks of a grid-stride loop (n beyond this is covered by striding).
#define NST_CU_MAX_BLOCKS 65535u

// ---- context (cuda_context.cu): lazily created on first use ----
extern "C" {
// The backend's available and configure slots (core/backend.h). configure only stores
// the settings (and sets cuBLAS's math mode once its handle exists): no driver call.
nst_available_fn nst_cu_available;
nst_configure_fn nst_cu_configure;
}
// The one stream every slot queues on; -1 with "CUDA not available: ..." when none.
int nst_cu_stream(cudaStream_t *s, nst_err *e);
// Handles bound to that stream, created on first use.
int nst_cu_cublas(cublasHandle_t *h, nst_err *e);
int nst_cu_cudnn(cudnnHandle_t *h, nst_err *e);
// The settings the core gave (nst_cu_configure): the precision, and whether
// convolutions run channels-last (NHWC, also under the chain layout).
nst_precision nst_cu_precision(void);
int nst_cu_conv_nhwc(void);

// Error helpers: 0 on success, else nst_fail with what failed and the API's message.
int nst_cu_check(cudaError_t err, const char *what, nst_err *e);
int nst_cudnn_check(cudnnStatus_t st, const char *what, nst_err *e);
int nst_cublas_check(cublasStatus_t st, const char *what, nst_err *e);
// After a kernel launch: reports a bad launch configuration without synchronizing.
int nst_cu_launched(const char *kernel, nst_err *e);

// Blocks for a grid-stride loop over n items.
static inline unsigned nst_cu_blocks(size_t n) {
    size_t b = (n + NST_CU_THREADS - 1) / NST_CU_THREADS;
    if (b < 1) b = 1;
    return b > NST_CU_MAX_BLOCKS ? NST_CU_MAX_BLOCKS : (unsigned)b;
}

// A grid-stride loop over [0, n) (every kernel of one thread per element uses it).
#define NST_CU_GRID_STRIDE(i, n)                                                                   \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                        \
         i += (size_t)blockDim.x * gridDim.x)

// Calls launch(T{}) with T = __nv_bfloat16 where bf16, else float: a kernel launch over
// the chain's two storage types written once, as a generic lambda that takes the type
// from its argument (auto z; using T = decltype(z)).
template <typename Launch>
static inline void nst_cu_by_type(bool bf16, Launch launch) {
    if (bf16) launch(__nv_bfloat16{});
    else launch(float{});
}

// ---- caching allocator (cuda_arena.cu) ----
// Freed blocks are reused by later allocations queued on the same stream, which is
// safe because all work is stream-ordered.
void *nst_cu_alloc(size_t bytes, nst_err *e);
void nst_cu_free(void *p);
// Graph pools (cuda_graph.cu): blocks allocated or freed while pool != 0 is set belong
// to that pool until it is released (after the graph's work has finished).
void nst_cu_arena_capture(int pool);
void nst_cu_arena_release_pool(int pool);
// Nonzero while a CUDA graph is being captured on the stream.
int nst_cu_capturing(void);

// ---- backend slots, one file per family (each the twin of src/cpu/cpu_X.c) ----
// The signatures are core/backend.h's slot types.
extern "C" {
// cuda_profile.cu
nst_event_record_fn nst_cu_event_record;
nst_event_elapsed_fn nst_cu_event_elapsed;
// cuda_elementwise.cu
nst_fill_fn nst_cu_fill;
nst_binary_fn nst_cu_binary;
nst_binary_scalar_fn nst_cu_binary_scalar;
nst_unary_fn nst_cu_unary;
nst_axpy_fn nst_cu_axpy;
nst_clamp_fn nst_cu_clamp;
nst_relu_fwd_fn nst_cu_relu_fwd;
nst_relu_bwd_fn nst_cu_relu_bwd;
nst_channel_affine_fn nst_cu_channel_affine;
nst_adam_fn nst_cu_adam;
nst_adam_counted_fn nst_cu_adam_counted;
// cuda_reduce.cu
nst_reduce_fn nst_cu_reduce;
nst_dot_fn nst_cu_dot;
nst_mse_loss_fn nst_cu_mse_loss;
nst_tv_loss_fn nst_cu_tv_loss;
nst_warp_fn nst_cu_warp;
nst_consistency_fn nst_cu_consistency;
nst_temporal_loss_fn nst_cu_temporal_loss;
// cuda_blas.cu
nst_gemm_fn nst_cu_gemm;
nst_gram_fn nst_cu_gram;
// cuda_conv.cu
nst_conv3x3_fwd_fn nst_cu_conv3x3_fwd;
nst_conv3x3_bwd_data_fn nst_cu_conv3x3_bwd_data;
// cuda_pool.cu
nst_pool_fwd_fn nst_cu_pool_fwd;
nst_pool_bwd_fn nst_cu_pool_bwd;
nst_erode3x3_fn nst_cu_erode3x3;
// cuda_moments.cu
nst_moments_center_fn nst_cu_moments_center;
nst_moments_grad_fn nst_cu_moments_grad;
// cuda_linalg.cu
nst_sym_sqrt_fn nst_cu_sym_sqrt;
nst_w2_map_fn nst_cu_w2_map;
// cuda_chain.cu: the channels-last chain (nst_chain_ops)
extern const nst_chain_ops nst_cuda_chain;
}

// cuda_conv.cu: one cuDNN convolution with its plan (made on first use) on buffers in
// the current precision: forward (backward = 0) reads in = x (n,c,h,w) and writes out =
// y (n,k,h,w); backward-data reads in = dy and writes out = dx. nhwc: the buffers are
// channels-last with nst_pad8 channels (the chain's and the NHWC layout's).
int nst_cu_conv_run(int backward, int n, int c, int h, int wd, int k, int nhwc, const void *in,
                    const void *w, void *out, nst_err *e);
// Checks conv sizes (all >= 1, element counts without overflow); what names the call.
int nst_cu_conv_sizes(const char *what, int n, int c, int h, int wd, int k, nst_err *e);

// cuda_layout.cu: NCHW float <-> NHWC (float, or bf16 when bf16 != 0), channels padded
// from c to cp with zeros; to_nhwc zeroes where mask (n,c,P) is not > 0 (mask may be
// NULL); from_nhwc adds bias (may be NULL) and applies ReLU (relu != 0).
int nst_cu_to_nhwc(void *out, int bf16, const float *in, const float *mask, int n, int c, int cp,
                   size_t P, nst_err *e);
int nst_cu_from_nhwc(float *out, const void *in, int bf16, const float *bias, int relu, int n,
                     int k, int kp, size_t P, nst_err *e);
// w (k,c,3,3) float -> (kp,3,3,cp), zero padded.
int nst_cu_weights_krsc(void *out, int bf16, const float *w, int k, int c, int kp, int cp,
                        nst_err *e);

#endif
