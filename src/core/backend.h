// One function table per device. Pointers are device pointers of that backend.
// Arguments are ordered (out, in..., sizes, params, err). Every slot returns 0 or -1
// with a message. The core checks shapes before calling; a backend may trust them.
// A backend never allocates behind the core's back except scratch it frees itself
// (CPU) or takes from its own arena (CUDA).
#ifndef NST_BACKEND_H
#define NST_BACKEND_H

#include "core/nst.h"

typedef enum nst_binop { NST_ADD, NST_SUB, NST_MUL, NST_DIV, NST_MAXIMUM, NST_MINIMUM } nst_binop;
typedef enum nst_unop { NST_NEG, NST_ABS, NST_SQRT, NST_EXP, NST_LOG, NST_SQUARE, NST_SIGN } nst_unop;
typedef enum nst_reduce { NST_SUM, NST_SUMSQ, NST_MIN, NST_MAX } nst_reduce;
typedef enum nst_pool { NST_POOL_MAX, NST_POOL_AVG } nst_pool;

// Optional channels-last chain for the VGG (src/vgg.c): activations and gradients stay
// in the backend's own layout between layers, and only the network input, tapped
// outputs and gradients arriving at taps are converted from/to nst's NCHW float.
// Buffers are opaque: (n, h, w, channels(c)) elements of elem_size() bytes each, padded
// channels zero. Sizes: c input channels, k output channels, P = h * w.
typedef struct nst_chain_ops {
    int (*active)(void); // use it now? (backend settings)
    size_t (*elem_size)(void);
    int (*channels)(int c);
    int (*from_nchw)(void *out, const float *in, int n, int c, size_t P, nst_err *e);
    int (*to_nchw)(float *out, const void *in, int n, int c, size_t P, nst_err *e);
    // Conv weights w (k,c,3,3) float in the form the chain's convolutions take
    // (weight_bytes(k, c) bytes); made once and kept by the VGG, whose weights never
    // change.
    size_t (*weight_bytes)(int k, int c);
    int (*weights)(void *out, const float *w, int k, int c, nst_err *e);
    // y = relu?(conv3x3(x, wp) + bias); wp from weights(), bias (k) float
    int (*conv_fwd)(void *y, const void *x, const void *wp, const float *bias, int n, int c, int h,
                    int wd, int k, int relu, nst_err *e);
    // dx (n,h,w,c) from dy (n,h,w,k), the gradient at the conv's output
    int (*conv_bwd)(void *dx, const void *dy, const void *wp, int n, int c, int h, int wd, int k,
                    nst_err *e);
    int (*pool_fwd)(void *y, const void *x, int n, int c, int h, int wd, nst_pool mode, nst_err *e);
    int (*pool_bwd)(void *dx, const void *dy, const void *x, int n, int c, int h, int wd,
                    nst_pool mode, nst_err *e);
    // g = (valid ? g : 0) + tap (NCHW float (n,c,P), may be NULL when valid), then
    // g = g * (mask > 0) when mask (a chain buffer like g) is not NULL.
    int (*grad)(void *g, int valid, const float *tap, const void *mask, int n, int c, size_t P,
                nst_err *e);
} nst_chain_ops;

typedef struct nst_backend {
    const char *name;

    // memory
    void *(*alloc)(size_t bytes, nst_err *e);
    void (*release)(void *p);
    int (*upload)(void *dst, const void *host_src, size_t bytes, nst_err *e);
    int (*download)(void *host_dst, const void *src, size_t bytes, nst_err *e);
    int (*copy)(void *dst, const void *src, size_t bytes, nst_err *e);
    int (*sync)(nst_err *e);

    // elementwise; n elements
    int (*fill)(float *out, size_t n, float v, nst_err *e);
    // out[i] = a[na == 1 ? 0 : i] op b[nb == 1 ? 0 : i]; n = max(na, nb); na, nb in {1, n}.
    // out may alias a or b.
    int (*binary)(float *out, const float *a, size_t na, const float *b, size_t nb, nst_binop op,
                  nst_err *e);
    // out[i] = a[i] op s (reversed = 0) or s op a[i] (reversed = 1); out may alias a.
    int (*binary_scalar)(float *out, const float *a, size_t n, float s, int reversed, nst_binop op,
                         nst_err *e);
    int (*unary)(float *out, const float *a, size_t n, nst_unop op, nst_err *e);
    // y[i] += alpha * x[i]
    int (*axpy)(float *y, const float *x, size_t n, float alpha, nst_err *e);
    int (*clamp)(float *out, const float *a, size_t n, float lo, float hi, nst_err *e);

    // reductions write one float to device memory out1 (accumulate in double on CPU)
    int (*reduce)(float *out1, const float *a, size_t n, nst_reduce op, nst_err *e);
    int (*dot)(float *out1, const float *a, const float *b, size_t n, nst_err *e);

    // C(m,n) = alpha * op(A) op(B) + beta * C, row-major; op(A) is (m,k), op(B) is (k,n).
    int (*gemm)(float *c, const float *a, const float *b, int m, int n, int k, int trans_a,
                int trans_b, float alpha, float beta, nst_err *e);
    // out (batch, c, c) = scale * F F^T for each batch item of f (batch, c, m)
    int (*gram)(float *out, const float *f, int batch, int c, int64_t m, float scale, nst_err *e);

    // 3x3, stride 1, pad 1 convolution. x (n,c,h,w), w (k,c,3,3), bias (k) or NULL,
    // y (n,k,h,w). relu != 0 fuses max(0, .) into the output.
    int (*conv3x3_fwd)(float *y, const float *x, const float *w, const float *bias, int n, int c,
                       int h, int wd, int k, int relu, nst_err *e);
    // dx (n,c,h,w) = gradient w.r.t. x given dy (n,k,h,w). relu_y (n,k,h,w) or NULL:
    // the output of a ReLU after the conv, dy being the gradient at that output; dy is
    // then masked by (relu_y > 0) first (the fused conv+ReLU's backward).
    int (*conv3x3_bwd_data)(float *dx, const float *dy, const float *relu_y, const float *w, int n,
                            int c, int h, int wd, int k, nst_err *e);
    int (*relu_fwd)(float *y, const float *x, size_t n, nst_err *e);
    // dx = dy * (y > 0), y the ReLU's output; dx may alias dy.
    int (*relu_bwd)(float *dx, const float *dy, const float *y, size_t n, nst_err *e);
    // 2x2 stride-2 pooling over (n*c) planes of h x w; output floor(h/2) x floor(w/2).
    int (*pool_fwd)(float *y, const float *x, int planes, int h, int wd, nst_pool mode, nst_err *e);
    // dx (planes,h,w) from dy; x is the pooling input (used by max). Rows/cols past
    // 2*floor(h/2) get zero gradient.
    int (*pool_bwd)(float *dx, const float *dy, const float *x, int planes, int h, int wd,
                    nst_pool mode, nst_err *e);
    // out (3 planes of hw per batch item): out[c] = scale[c] * x[perm[c]] + shift[c]
    int (*channel_affine)(float *out, const float *x, int batch, size_t hw, const int perm[3],
                          const float scale[3], const float shift[3], nst_err *e);

    // Adam, in place on x with state m, v; t is the 1-based step; bias-corrected as in
    // torch.optim.Adam (weight_decay 0).
    int (*adam)(float *x, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                float beta2, float eps, int t, nst_err *e);
    // The same with the step count in memory of the device: steps[0] counts the steps
    // taken; this step is number steps[0] + 1, and steps[0] is incremented there, so the
    // update needs no host value that changes (a CUDA graph can replay it).
    int (*adam_counted)(float *x, const float *g, float *m, float *v, size_t n, float lr,
                        float beta1, float beta2, float eps, float *steps, nst_err *e);

    // Losses: loss1 a device scalar; grad may be NULL.
    // content: loss = scale * 0.5 * sum((f - p)^2), grad = scale * (f - p)
    int (*mse_loss)(float *loss1, float *grad, const float *f, const float *p, size_t n, float scale,
                    nst_err *e);
    // total variation of x (n,c,h,w): squared: sum dx^2 + dy^2 (forward differences);
    // l1: sum |dx| + |dy|. loss and grad scaled by scale.
    int (*tv_loss)(float *loss1, float *grad, const float *x, int n, int c, int h, int wd, int l1,
                   float scale, nst_err *e);

    // Optional: NULL, or the channels-last chain above (every slot set).
    const nst_chain_ops *chain;
} nst_backend;

// Registration checks that every slot is set ("a missing slot is an error at
// registration, not a silent fallback").
int nst_backend_register(nst_device d, const nst_backend *b, nst_err *e);
const nst_backend *nst_backend_get(nst_device d, nst_err *e);

// Filled in by src/cpu_backend.c and kernels/cuda_backend.cu.
extern const nst_backend nst_cpu_backend;
#ifdef NST_WITH_CUDA
extern const nst_backend nst_cuda_backend;
extern const nst_chain_ops nst_cuda_chain;
#endif

#endif
