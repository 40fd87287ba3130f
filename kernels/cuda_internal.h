// Shared by the kernels/*.cu files only (C++ with CUDA types). The C side sees
// kernels/nst_cuda.h and src/backend.h.
#ifndef NST_CUDA_INTERNAL_H
#define NST_CUDA_INTERNAL_H

#include <cublas_v2.h>
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

enum nst_cu_precision { NST_PREC_FP32 = 0, NST_PREC_TF32 = 1, NST_PREC_BF16 = 2 };

// ---- context (cuda_context.cu): lazily created on first use ----
// The one stream every slot queues on; -1 with "CUDA not available: ..." when none.
int nst_cu_stream(cudaStream_t *s, nst_err *e);
// Handles bound to that stream, created on first use.
int nst_cu_cublas(cublasHandle_t *h, nst_err *e);
int nst_cu_cudnn(cudnnHandle_t *h, nst_err *e);
enum nst_cu_precision nst_cu_precision(void);
// Whether convolutions run channels-last (NHWC) in the current precision, and whether
// the VGG keeps its activations channels-last between layers; see
// nst_cuda_set_conv_layout.
int nst_cu_conv_nhwc(void);
int nst_cu_chain_enabled(void);

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

// ---- backend slots, one file per family ----
// cuda_backend.cu (memory)
int nst_cu_upload(void *dst, const void *host_src, size_t bytes, nst_err *e);
int nst_cu_download(void *host_dst, const void *src, size_t bytes, nst_err *e);
int nst_cu_copy(void *dst, const void *src, size_t bytes, nst_err *e);
int nst_cu_sync(nst_err *e);
// cuda_elementwise.cu
int nst_cu_fill(float *out, size_t n, float v, nst_err *e);
int nst_cu_binary(float *out, const float *a, size_t na, const float *b, size_t nb, nst_binop op,
                  nst_err *e);
int nst_cu_binary_scalar(float *out, const float *a, size_t n, float s, int reversed, nst_binop op,
                         nst_err *e);
int nst_cu_unary(float *out, const float *a, size_t n, nst_unop op, nst_err *e);
int nst_cu_axpy(float *y, const float *x, size_t n, float alpha, nst_err *e);
int nst_cu_clamp(float *out, const float *a, size_t n, float lo, float hi, nst_err *e);
int nst_cu_relu_fwd(float *y, const float *x, size_t n, nst_err *e);
int nst_cu_relu_bwd(float *dx, const float *dy, const float *y, size_t n, nst_err *e);
int nst_cu_channel_affine(float *out, const float *x, int batch, size_t hw, const int perm[3],
                          const float scale[3], const float shift[3], nst_err *e);
int nst_cu_adam_counted(float *x, const float *g, float *m, float *v, size_t n, float lr,
                        float beta1, float beta2, float eps, float *steps, nst_err *e);
int nst_cu_adam(float *x, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                float beta2, float eps, int t, nst_err *e);
// cuda_reduce.cu
int nst_cu_reduce(float *out1, const float *a, size_t n, nst_reduce op, nst_err *e);
int nst_cu_dot(float *out1, const float *a, const float *b, size_t n, nst_err *e);
int nst_cu_mse_loss(float *loss1, float *grad, const float *f, const float *p, size_t n,
                    float scale, nst_err *e);
int nst_cu_tv_loss(float *loss1, float *grad, const float *x, int n, int c, int h, int wd, int l1,
                   float scale, nst_err *e);
// cuda_blas.cu
int nst_cu_gemm(float *c, const float *a, const float *b, int m, int n, int k, int trans_a,
                int trans_b, float alpha, float beta, nst_err *e);
int nst_cu_gram(float *out, const float *f, int batch, int c, int64_t m, float scale, nst_err *e);
// cuda_conv.cu
int nst_cu_conv3x3_fwd(float *y, const float *x, const float *w, const float *bias, int n, int c,
                       int h, int wd, int k, int relu, nst_err *e);
int nst_cu_conv3x3_bwd_data(float *dx, const float *dy, const float *relu_y, const float *w, int n,
                            int c, int h, int wd, int k, nst_err *e);
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
// cuda_chain.cu: the channels-last chain (nst_chain_ops). Channels as stored (padded),
// bytes per element (bf16 in bf16 mode, else float), and the conv epilogue over rows
// of channels(k) elements: bias (may be NULL) and ReLU, padded channels set to 0.
int nst_cu_chain_channels(int c);
size_t nst_cu_chain_elem_size(void);
int nst_cu_chain_bias_relu(void *y, const float *bias, size_t rows, int k, int relu, nst_err *e);
// cuda_conv.cu: the chain's convolutions (buffers NHWC, padded, chain element type)
// wp: weights in KRSC with padded channels in the chain's element type
int nst_cu_chain_conv_fwd(void *y, const void *x, const void *wp, const float *bias, int n, int c,
                          int h, int wd, int k, int relu, nst_err *e);
int nst_cu_chain_conv_bwd(void *dx, const void *dy, const void *wp, int n, int c, int h, int wd,
                          int k, nst_err *e);
// cuda_pool.cu
int nst_cu_pool_fwd(float *y, const float *x, int planes, int h, int wd, nst_pool mode, nst_err *e);
int nst_cu_pool_bwd(float *dx, const float *dy, const float *x, int planes, int h, int wd,
                    nst_pool mode, nst_err *e);

#endif
