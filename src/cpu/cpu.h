// The CPU backend's internals (src/cpu/*.c): each cpu_X.c implements the slots its
// twin kernels/cuda_X.cu implements for CUDA; the table is in cpu_backend.c. The slot
// signatures and their contracts are the function types of core/backend.h.
#ifndef NST_CPU_H
#define NST_CPU_H

#include <omp.h>

#include "core/backend.h"

// Work below this many elements runs on one thread: a parallel region costs more.
#define NST_CPU_PAR_MIN 32768
// Column slices handed to threads are multiples of this many floats (whole vectors).
#define NST_CPU_SLICE_ALIGN 16

// The calling OpenMP thread's share [*lo, *hi) of [0, len): equal slices rounded up to a
// multiple of align (1: none); threads past the end get an empty slice.
static inline void nst_cpu_thread_slice(int64_t len, int64_t align, int64_t *lo, int64_t *hi) {
    int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    int64_t per = (len + nt - 1) / nt;
    per = (per + align - 1) / align * align;
    *lo = t * per < len ? t * per : len;
    *hi = *lo + per < len ? *lo + per : len;
}

// cpu_backend.c: 64-byte aligned scratch from the arena; NULL with a message on
// failure. Free with nst_cpu_free.
void *nst_cpu_scratch(size_t floats, nst_err *e);
void nst_cpu_free(void *p);

// cpu_arena.c: 64-byte aligned blocks; large ones are cached for reuse after free.
void *nst_cpu_arena_alloc(size_t bytes, nst_err *e);
void nst_cpu_arena_free(void *p);

// cpu_profile.c (twin of cuda_profile.cu)
nst_event_record_fn nst_cpu_event_record;
nst_event_elapsed_fn nst_cpu_event_elapsed;

// cpu_elementwise.c (twin of cuda_elementwise.cu)
nst_fill_fn nst_cpu_fill;
nst_binary_fn nst_cpu_binary;
nst_binary_scalar_fn nst_cpu_binary_scalar;
nst_unary_fn nst_cpu_unary;
nst_axpy_fn nst_cpu_axpy;
nst_clamp_fn nst_cpu_clamp;
nst_relu_fwd_fn nst_cpu_relu_fwd;
nst_relu_bwd_fn nst_cpu_relu_bwd;
nst_channel_affine_fn nst_cpu_channel_affine;
nst_adam_fn nst_cpu_adam;
nst_adam_counted_fn nst_cpu_adam_counted;

// cpu_reduce.c (twin of cuda_reduce.cu)
nst_reduce_fn nst_cpu_reduce;
nst_dot_fn nst_cpu_dot;
nst_mse_loss_fn nst_cpu_mse_loss;
nst_tv_loss_fn nst_cpu_tv_loss;
nst_warp_fn nst_cpu_warp;
nst_consistency_fn nst_cpu_consistency;
nst_temporal_loss_fn nst_cpu_temporal_loss;

// cpu_blas.c (twin of cuda_blas.cu). OpenBLAS here is the pthread build; all
// parallelism of the backend is OpenMP, so BLAS is made single-threaded before every
// use (two pools would oversubscribe; cheap once set).
void nst_cpu_blas_init(void);
nst_gemm_fn nst_cpu_gemm;
nst_gram_fn nst_cpu_gram;

// cpu_conv.c (twin of cuda_conv.cu)
nst_conv3x3_fwd_fn nst_cpu_conv3x3_fwd;
nst_conv3x3_bwd_data_fn nst_cpu_conv3x3_bwd_data;
// cpu_winograd.c: the Winograd F(2x2, 3x3) path of the convolution: y (n, k, h, wd) from
// x (n, c, h, wd). transposed = 0: w (k, c, 3, 3), as conv3x3_fwd. transposed = 1: w is
// (c, k, 3, 3) and y is the input gradient of that layer given its output gradient x.
// xmask: NULL, or like x: x counts as 0 where xmask is not > 0 (through a ReLU).
int nst_cpu_winograd(float *y, const float *x, const float *xmask, const float *w,
                     const float *bias, int relu, int transposed, int n, int c, int h, int wd,
                     int k, nst_err *e);

// cpu_pool.c (twin of cuda_pool.cu)
nst_pool_fwd_fn nst_cpu_pool_fwd;
nst_pool_bwd_fn nst_cpu_pool_bwd;
nst_erode3x3_fn nst_cpu_erode3x3;

// cpu_moments.c (twin of cuda_moments.cu): the weighted moments' elementwise passes
nst_moments_center_fn nst_cpu_moments_center;
nst_moments_grad_fn nst_cpu_moments_grad;

// cpu_linalg.c (twin of cuda_linalg.cu): symmetric square roots, W2's map (LAPACK, double)
nst_sym_sqrt_fn nst_cpu_sym_sqrt;
nst_w2_map_fn nst_cpu_w2_map;

// cpu_chain.c (twin of cuda_chain.cu): the channels-last chain, so the VGG's chain
// code path runs and is tested on the CPU (nst.cpu_set_chain).
extern const nst_chain_ops nst_cpu_chain;

#endif
