// One function table per device: what the core asks of a backend. Pointers are device
// pointers of that backend. Arguments are ordered (out, in..., sizes, params, err).
// Every fallible slot returns 0 or -1 with a message. The core checks shapes before
// calling; a backend may trust them. A backend never allocates behind the core's back
// except scratch it frees itself (CPU) or takes from its own arena (CUDA).
//
// Each slot has a function type (nst_<slot>_fn), so a backend declares its
// implementations in one line each (`nst_fill_fn nst_cpu_fill;`) and the compiler checks
// every definition against the one signature documented here.
#ifndef NST_BACKEND_H
#define NST_BACKEND_H

#include "core/nst.h"
#include "core/settings.h"

typedef enum nst_binop { NST_ADD, NST_SUB, NST_MUL, NST_DIV, NST_MAXIMUM, NST_MINIMUM } nst_binop;
typedef enum nst_unop {
    NST_NEG,
    NST_ABS,
    NST_SQRT,
    NST_EXP,
    NST_LOG,
    NST_SQUARE,
    NST_SIGN
} nst_unop;
typedef enum nst_reduce { NST_SUM, NST_SUMSQ, NST_MIN, NST_MAX } nst_reduce;
typedef enum nst_pool { NST_POOL_MAX, NST_POOL_AVG } nst_pool;

// Channels-last buffers (the chain below, CUDA's NHWC convolutions) pad the channel
// count to a multiple of 8, what tensor cores want; padded channels hold zeros.
static inline int nst_pad8(int c) { return (c + 7) / 8 * 8; }

// ---- device ----
// 1 when the device can be used now (CUDA: a driver and a device), else 0. Must not
// fail or allocate; may touch the driver once.
typedef int nst_available_fn(void);
// Takes the device's settings (settings.h); -1 with a message for any it cannot do.
// Called by the core only: at registration and whenever the settings change.
typedef int nst_configure_fn(const nst_settings *s, nst_err *e);

// ---- memory ----
typedef void *nst_alloc_fn(size_t bytes, nst_err *e);
typedef void nst_release_fn(void *p);
typedef int nst_upload_fn(void *dst, const void *host_src, size_t bytes, nst_err *e);
typedef int nst_download_fn(void *host_dst, const void *src, size_t bytes, nst_err *e);
// dst and src may overlap (views of one storage).
typedef int nst_copy_fn(void *dst, const void *src, size_t bytes, nst_err *e);
// Waits for all queued work.
typedef int nst_sync_fn(nst_err *e);

// ---- timing events (core/profile.c) ----
// Records event i at this point of the device's queue (i counts up from 0 per profile).
typedef int nst_event_record_fn(size_t i, nst_err *e);
// Milliseconds between events a and b (waits for b).
typedef int nst_event_elapsed_fn(size_t a, size_t b, double *ms, nst_err *e);

// ---- elementwise; n elements ----
typedef int nst_fill_fn(float *out, size_t n, float v, nst_err *e);
// out[i] = a[na == 1 ? 0 : i] op b[nb == 1 ? 0 : i]; n = max(na, nb); na, nb in {1, n}.
// out may alias a or b.
typedef int nst_binary_fn(float *out, const float *a, size_t na, const float *b, size_t nb,
                          nst_binop op, nst_err *e);
// out[i] = a[i] op s (reversed = 0) or s op a[i] (reversed = 1); out may alias a.
typedef int nst_binary_scalar_fn(float *out, const float *a, size_t n, float s, int reversed,
                                 nst_binop op, nst_err *e);
typedef int nst_unary_fn(float *out, const float *a, size_t n, nst_unop op, nst_err *e);
// y[i] += alpha * x[i]
typedef int nst_axpy_fn(float *y, const float *x, size_t n, float alpha, nst_err *e);
typedef int nst_clamp_fn(float *out, const float *a, size_t n, float lo, float hi, nst_err *e);
typedef int nst_relu_fwd_fn(float *y, const float *x, size_t n, nst_err *e);
// dx = dy * (y > 0), y the ReLU's output; dx may alias dy.
typedef int nst_relu_bwd_fn(float *dx, const float *dy, const float *y, size_t n, nst_err *e);
// out (3 planes of hw per batch item): out[c] = scale[c] * x[perm[c]] + shift[c]
typedef int nst_channel_affine_fn(float *out, const float *x, int batch, size_t hw,
                                  const int perm[3], const float scale[3], const float shift[3],
                                  nst_err *e);
// Adam, in place on x with state m, v; t is the 1-based step; bias-corrected as in
// torch.optim.Adam (weight_decay 0).
typedef int nst_adam_fn(float *x, const float *g, float *m, float *v, size_t n, float lr,
                        float beta1, float beta2, float eps, int t, nst_err *e);
// The same with the step count in memory of the device: steps[0] counts the steps
// taken; this step is number steps[0] + 1, and steps[0] is incremented there, so the
// update needs no host value that changes (a CUDA graph can replay it).
typedef int nst_adam_counted_fn(float *x, const float *g, float *m, float *v, size_t n, float lr,
                                float beta1, float beta2, float eps, float *steps, nst_err *e);

// ---- reductions: one float written to device memory out1 (CPU: in double) ----
typedef int nst_reduce_fn(float *out1, const float *a, size_t n, nst_reduce op, nst_err *e);
typedef int nst_dot_fn(float *out1, const float *a, const float *b, size_t n, nst_err *e);
// Losses: loss1 a device scalar; grad may be NULL.
// content: loss = scale * 0.5 * sum((f - p)^2), grad = scale * (f - p)
typedef int nst_mse_loss_fn(float *loss1, float *grad, const float *f, const float *p, size_t n,
                            float scale, nst_err *e);
// total variation of x (n,c,h,w): squared: sum dx^2 + dy^2 (forward differences);
// l1: sum |dx| + |dy|. loss and grad scaled by scale.
typedef int nst_tv_loss_fn(float *loss1, float *grad, const float *x, int n, int c, int h, int wd,
                           int l1, float scale, nst_err *e);

// ---- video (core/video.h) ----
// What a sample outside the frame reads: the nearest edge pixel (OpenCV's
// BORDER_REPLICATE) or 0 (BORDER_CONSTANT with value 0, neighbours inside the frame
// still blended in).
typedef enum nst_border { NST_BORDER_REPLICATE = 0, NST_BORDER_ZERO = 1 } nst_border;

// Thresholds of the consistency check (pixels squared; Ruder et al.'s defaults in
// nst_consistency_defaults). With bwd the flow of the current frame to the previous one
// and fwd the flow of the previous frame to the current one, wf(p) = fwd(p + bwd(p)):
//   disoccluded where |wf + bwd|^2 > occ_rel (|wf|^2 + |bwd|^2) + occ_abs
//   motion boundary where |grad bwd_x|^2 + |grad bwd_y|^2 > mb_rel |bwd|^2 + mb_abs
// and where p + bwd(p) leaves the previous frame. The mask is 0 there, 1 elsewhere.
typedef struct nst_consistency {
    float occ_rel, occ_abs, mb_rel, mb_abs;
} nst_consistency;

// out (n,c,h,w)[p] = img (n,c,h,w) sampled bilinearly at p + flow (n,2,h,w)[p];
// a non-finite flow reads 0. out must not alias img or flow.
typedef int nst_warp_fn(float *out, const float *img, const float *flow, int n, int c, int h, int w,
                        nst_border border, nst_err *e);
// mask (n,1,h,w) from fwd and bwd (n,2,h,w), see nst_consistency.
typedef int nst_consistency_fn(float *mask, const float *fwd, const float *bwd, int n, int h, int w,
                               const nst_consistency *p, nst_err *e);
// loss1 = scale * sum c (x - w)^2 over x (n,ch,hw); grad = 2 scale c (x - w) or NULL.
// c: NULL (all ones), or (n,mc,hw) with mc = 1 (one weight per pixel, shared by the
// channels) or mc = ch.
typedef int nst_temporal_loss_fn(float *loss1, float *grad, const float *x, const float *w,
                                 const float *c, int n, int ch, size_t hw, int mc, float scale,
                                 nst_err *e);

// ---- BLAS ----
// C(m,n) = alpha * op(A) op(B) + beta * C, row-major; op(A) is (m,k), op(B) is (k,n).
typedef int nst_gemm_fn(float *c, const float *a, const float *b, int m, int n, int k, int trans_a,
                        int trans_b, float alpha, float beta, nst_err *e);
// out (batch, c, c) = scale * F F^T for each batch item of f (batch, c, m)
typedef int nst_gram_fn(float *out, const float *f, int batch, int c, int64_t m, float scale,
                        nst_err *e);

// ---- the style losses' statistics (core/ops_style.c; formulas in lua/README.md) ----
// Features f (c, m) with per-position guide factors r (m) or, r NULL, r0 at every
// position (1/sqrt(m): no guide). The weights of the moments are r^2 (sum 1).
// out (c, m) = (f[k, i] - mu[k]) * r[i]; mu (c) or NULL (then out = f * r).
typedef int nst_moments_center_fn(float *out, const float *f, const float *mu, const float *r,
                                  int c, int64_t m, float r0, nst_err *e);
// grad (c, m) = r[i] * y[k, i] + r[i]^2 * v[k]; v (c) or NULL; grad may alias y.
typedef int nst_moments_grad_fn(float *grad, const float *y, const float *v, const float *r, int c,
                                int64_t m, float r0, nst_err *e);
// Square roots of symmetric matrices by eigen-decomposition in double precision;
// eigenvalues below floor (>= 0) count as floor. A GPU eigensolver that fails writes NaN.
// root (n, n) = X^(1/2), x (n, n) symmetric.
typedef int nst_sym_sqrt_fn(float *root, const float *x, int n, float floor, nst_err *e);
// W2's generated side, all in double: with s, x (n, n) symmetric and X = s x s,
// map (n, n) = s X^(-1/2) s and trace1 = tr X^(1/2) (one float). floor > 0.
typedef int nst_w2_map_fn(float *map, float *trace1, const float *s, const float *x, int n,
                          float floor, nst_err *e);
// out (planes, h, w) = the minimum of x over each 3x3 neighbourhood inside the plane
// (grey-scale erosion; a guide's "inside" propagation through a 3x3 convolution).
typedef int nst_erode3x3_fn(float *out, const float *x, int planes, int h, int wd, nst_err *e);

// ---- convolution and pooling ----
// 3x3, stride 1, pad 1 convolution. x (n,c,h,w), w (k,c,3,3), bias (k) or NULL,
// y (n,k,h,w). relu != 0 fuses max(0, .) into the output.
typedef int nst_conv3x3_fwd_fn(float *y, const float *x, const float *w, const float *bias, int n,
                               int c, int h, int wd, int k, int relu, nst_err *e);
// dx (n,c,h,w) = gradient w.r.t. x given dy (n,k,h,w). relu_y (n,k,h,w) or NULL:
// the output of a ReLU after the conv, dy being the gradient at that output; dy is
// then masked by (relu_y > 0) first (the fused conv+ReLU's backward).
typedef int nst_conv3x3_bwd_data_fn(float *dx, const float *dy, const float *relu_y, const float *w,
                                    int n, int c, int h, int wd, int k, nst_err *e);
// 2x2 stride-2 pooling over (n*c) planes of h x w; output floor(h/2) x floor(w/2).
typedef int nst_pool_fwd_fn(float *y, const float *x, int planes, int h, int wd, nst_pool mode,
                            nst_err *e);
// dx (planes,h,w) from dy; x is the pooling input (used by max). Rows/cols past
// 2*floor(h/2) get zero gradient.
typedef int nst_pool_bwd_fn(float *dx, const float *dy, const float *x, int planes, int h, int wd,
                            nst_pool mode, nst_err *e);

// ---- the channels-last chain (optional) ----
// For the VGG (model/vgg_chain.c) when the device's layout is NST_LAYOUT_CHAIN:
// activations and gradients stay in the backend's own layout between layers, and only
// the network input, tapped outputs and gradients arriving at taps are converted
// from/to nst's NCHW float. Buffers are opaque: (n, h, w, nst_pad8(c)) elements of
// elem_size(precision) bytes each, padded channels zero. Sizes: c input channels, k
// output channels, P = h * w. The slots work in the device's current settings; the
// two size slots answer for any precision, so the VGG can tell whether buffers made
// under other settings still fit.
typedef size_t nst_chain_elem_size_fn(nst_precision p);
typedef int nst_chain_from_nchw_fn(void *out, const float *in, int n, int c, size_t P, nst_err *e);
typedef int nst_chain_to_nchw_fn(float *out, const void *in, int n, int c, size_t P, nst_err *e);
// Conv weights w (k,c,3,3) float in the form the chain's convolutions take
// (weight_bytes(precision, k, c) bytes); made once and kept by the VGG, whose weights
// never change.
typedef size_t nst_chain_weight_bytes_fn(nst_precision p, int k, int c);
typedef int nst_chain_weights_fn(void *out, const float *w, int k, int c, nst_err *e);
// y = relu?(conv3x3(x, wp) + bias); wp from weights(), bias (k) float
typedef int nst_chain_conv_fwd_fn(void *y, const void *x, const void *wp, const float *bias, int n,
                                  int c, int h, int wd, int k, int relu, nst_err *e);
// dx (n,h,w,c) from dy (n,h,w,k), the gradient at the conv's output
typedef int nst_chain_conv_bwd_fn(void *dx, const void *dy, const void *wp, int n, int c, int h,
                                  int wd, int k, nst_err *e);
typedef int nst_chain_pool_fwd_fn(void *y, const void *x, int n, int c, int h, int wd,
                                  nst_pool mode, nst_err *e);
typedef int nst_chain_pool_bwd_fn(void *dx, const void *dy, const void *x, int n, int c, int h,
                                  int wd, nst_pool mode, nst_err *e);
// g = (valid ? g : 0) + tap (NCHW float (n,c,P), may be NULL when valid), then
// g = g * (mask > 0) when mask (a chain buffer like g) is not NULL.
typedef int nst_chain_grad_fn(void *g, int valid, const float *tap, const void *mask, int n, int c,
                              size_t P, nst_err *e);

typedef struct nst_chain_ops {
    nst_chain_elem_size_fn *elem_size;
    nst_chain_from_nchw_fn *from_nchw;
    nst_chain_to_nchw_fn *to_nchw;
    nst_chain_weight_bytes_fn *weight_bytes;
    nst_chain_weights_fn *weights;
    nst_chain_conv_fwd_fn *conv_fwd;
    nst_chain_conv_bwd_fn *conv_bwd;
    nst_chain_pool_fwd_fn *pool_fwd;
    nst_chain_pool_bwd_fn *pool_bwd;
    nst_chain_grad_fn *grad;
} nst_chain_ops;

// The order of the slots is the order of kernels/cuda_backend.cu's positional table.
typedef struct nst_backend {
    const char *name;
    nst_available_fn *available;
    nst_configure_fn *configure;
    nst_alloc_fn *alloc;
    nst_release_fn *release;
    nst_upload_fn *upload;
    nst_download_fn *download;
    nst_copy_fn *copy;
    nst_sync_fn *sync;
    nst_event_record_fn *event_record;
    nst_event_elapsed_fn *event_elapsed;
    nst_fill_fn *fill;
    nst_binary_fn *binary;
    nst_binary_scalar_fn *binary_scalar;
    nst_unary_fn *unary;
    nst_axpy_fn *axpy;
    nst_clamp_fn *clamp;
    nst_reduce_fn *reduce;
    nst_dot_fn *dot;
    nst_gemm_fn *gemm;
    nst_gram_fn *gram;
    nst_conv3x3_fwd_fn *conv3x3_fwd;
    nst_conv3x3_bwd_data_fn *conv3x3_bwd_data;
    nst_relu_fwd_fn *relu_fwd;
    nst_relu_bwd_fn *relu_bwd;
    nst_pool_fwd_fn *pool_fwd;
    nst_pool_bwd_fn *pool_bwd;
    nst_channel_affine_fn *channel_affine;
    nst_adam_fn *adam;
    nst_adam_counted_fn *adam_counted;
    nst_mse_loss_fn *mse_loss;
    nst_tv_loss_fn *tv_loss;
    nst_warp_fn *warp;
    nst_consistency_fn *consistency;
    nst_temporal_loss_fn *temporal_loss;
    nst_moments_center_fn *moments_center;
    nst_moments_grad_fn *moments_grad;
    nst_sym_sqrt_fn *sym_sqrt;
    nst_w2_map_fn *w2_map;
    nst_erode3x3_fn *erode3x3;
    // Optional: NULL, or the channels-last chain above (every slot set).
    const nst_chain_ops *chain;
} nst_backend;

// ---- the registry (core/device.c) ----
// The table compiled in for d (NULL: nst was built without that backend). It may not
// be usable (no device): its slots then fail with a message.
const nst_backend *nst_backend_table(nst_device d);
// The table of a usable device, registered on first use: every slot is checked ("a
// missing slot is an error at registration, not a silent fallback") and the device's
// settings are handed to it. NULL with a message when d cannot be used.
const nst_backend *nst_backend_get(nst_device d, nst_err *e);
// The table if d was registered, else NULL (nothing was ever allocated or queued there).
const nst_backend *nst_backend_registered(nst_device d);

// Filled in by src/cpu/cpu_backend.c and kernels/cuda_backend.cu.
extern const nst_backend nst_cpu_backend;
#ifdef NST_WITH_CUDA
extern const nst_backend nst_cuda_backend;
#endif

#endif
