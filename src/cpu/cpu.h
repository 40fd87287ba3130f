// Internal prototypes of the CPU backend (src/cpu_*.c); the table lives in
// src/cpu_backend.c. Arguments follow src/backend.h (out, in..., sizes, params, err).
#ifndef NST_CPU_H
#define NST_CPU_H

#include "core/backend.h"

// Work below this many elements runs on one thread: a parallel region costs more.
#define NST_CPU_PAR_MIN 32768

// OpenBLAS here is the pthread build; all parallelism of the backend is OpenMP, so
// BLAS is made single-threaded before the first call (two pools would oversubscribe).
void nst_cpu_blas_init(void);
// 64-byte aligned scratch; NULL with a message on failure. Free with nst_cpu_free.
void *nst_cpu_scratch(size_t floats, nst_err *e);
void nst_cpu_free(void *p);
// cpu_arena.c: 64-byte aligned blocks; large ones are cached for reuse after free.
void *nst_cpu_arena_alloc(size_t bytes, nst_err *e);
void nst_cpu_arena_free(void *p);
void nst_cpu_arena_trim(void);     // frees every idle cached block
size_t nst_cpu_arena_cached(void); // bytes held idle

int nst_cpu_fill(float *out, size_t n, float v, nst_err *e);
int nst_cpu_binary(float *out, const float *a, size_t na, const float *b, size_t nb, nst_binop op,
                   nst_err *e);
int nst_cpu_binary_scalar(float *out, const float *a, size_t n, float s, int reversed, nst_binop op,
                          nst_err *e);
int nst_cpu_unary(float *out, const float *a, size_t n, nst_unop op, nst_err *e);
int nst_cpu_axpy(float *y, const float *x, size_t n, float alpha, nst_err *e);
int nst_cpu_clamp(float *out, const float *a, size_t n, float lo, float hi, nst_err *e);
int nst_cpu_reduce(float *out1, const float *a, size_t n, nst_reduce op, nst_err *e);
int nst_cpu_dot(float *out1, const float *a, const float *b, size_t n, nst_err *e);
int nst_cpu_relu_fwd(float *y, const float *x, size_t n, nst_err *e);
int nst_cpu_relu_bwd(float *dx, const float *dy, const float *y, size_t n, nst_err *e);
int nst_cpu_channel_affine(float *out, const float *x, int batch, size_t hw, const int perm[3],
                           const float scale[3], const float shift[3], nst_err *e);
int nst_cpu_adam_counted(float *x, const float *g, float *m, float *v, size_t n, float lr,
                         float beta1, float beta2, float eps, float *steps, nst_err *e);
int nst_cpu_adam(float *x, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                 float beta2, float eps, int t, nst_err *e);
int nst_cpu_mse_loss(float *loss1, float *grad, const float *f, const float *p, size_t n,
                     float scale, nst_err *e);
int nst_cpu_tv_loss(float *loss1, float *grad, const float *x, int n, int c, int h, int wd, int l1,
                    float scale, nst_err *e);

int nst_cpu_gemm(float *c, const float *a, const float *b, int m, int n, int k, int trans_a,
                 int trans_b, float alpha, float beta, nst_err *e);
int nst_cpu_gram(float *out, const float *f, int batch, int c, int64_t m, float scale, nst_err *e);
int nst_cpu_conv3x3_fwd(float *y, const float *x, const float *w, const float *bias, int n, int c,
                        int h, int wd, int k, int relu, nst_err *e);
int nst_cpu_conv3x3_bwd_data(float *dx, const float *dy, const float *relu_y, const float *w, int n, int c, int h,
                             int wd, int k, nst_err *e);

// Winograd F(2x2, 3x3) path of the convolution (src/cpu_winograd.c): y (n, k, h, wd) from
// x (n, c, h, wd). transposed = 0: w (k, c, 3, 3), as conv3x3_fwd. transposed = 1: w is
// (c, k, 3, 3) and y is the input gradient of that layer given its output gradient x.
// xmask: NULL, or like x: x counts as 0 where xmask is not > 0 (through a ReLU).
int nst_cpu_winograd(float *y, const float *x, const float *xmask, const float *w, const float *bias,
                     int relu, int transposed, int n, int c, int h, int wd, int k, nst_err *e);
// The im2col + sgemm path (src/cpu_conv.c), for few channels where Winograd's GEMMs
// are too thin; wmat is (k, 9c).
int nst_cpu_conv_im2col(float *y, const float *x, const float *wmat, const float *bias, int relu,
                        int n, int c, int h, int wd, int k, nst_err *e);

int nst_cpu_pool_fwd(float *y, const float *x, int planes, int h, int wd, nst_pool mode,
                     nst_err *e);
int nst_cpu_pool_bwd(float *dx, const float *dy, const float *x, int planes, int h, int wd,
                     nst_pool mode, nst_err *e);

// cpu_chain.c: the channels-last chain for testing src/vgg.c's chain path on the CPU;
// off by default.
extern const nst_chain_ops nst_cpu_chain;
void nst_cpu_chain_enable(int on);

#endif
