// Core operations: check shapes and devices, then dispatch to the tensor's backend.
// Outputs come first and are preallocated by the caller unless the name ends in _new.
#ifndef NST_OPS_H
#define NST_OPS_H

#include "core/backend.h"

// out = a op b; shapes equal, or one side has one element (a device scalar).
int nst_binary(nst_tensor *out, const nst_tensor *a, const nst_tensor *b, nst_binop op, nst_err *e);
int nst_binary_scalar(nst_tensor *out, const nst_tensor *a, float s, int reversed, nst_binop op,
                      nst_err *e);
int nst_unary(nst_tensor *out, const nst_tensor *a, nst_unop op, nst_err *e);
int nst_fill(nst_tensor *t, float v, nst_err *e);
int nst_axpy(nst_tensor *y, const nst_tensor *x, float alpha, nst_err *e);
int nst_clamp(nst_tensor *out, const nst_tensor *a, float lo, float hi, nst_err *e);
// out1: a one-element tensor on a's device
int nst_reduction(nst_tensor *out1, const nst_tensor *a, nst_reduce op, nst_err *e);
int nst_dot(nst_tensor *out1, const nst_tensor *a, const nst_tensor *b, nst_err *e);
// 2-D matrix product: out (m,n) = a (m,k) b (k,n), with optional transposes.
int nst_matmul(nst_tensor *out, const nst_tensor *a, const nst_tensor *b, int ta, int tb,
               nst_err *e);
// f (B,C,H,W), (C,H,W) or (C,M) -> out (B,C,C) or (C,C): scale * F F^T.
int nst_gram(nst_tensor *out, const nst_tensor *f, float scale, nst_err *e);
int nst_gram_shape(const nst_tensor *f, int *ndim, int64_t shape[NST_MAX_DIMS], int *batch, int *c,
                   int64_t *m, nst_err *e);

// x (N,C,H,W), w (K,C,3,3), bias (K) or NULL -> y (N,K,H,W)
int nst_conv3x3(nst_tensor *y, const nst_tensor *x, const nst_tensor *w, const nst_tensor *bias,
                int relu, nst_err *e);
// relu_y: NULL, or the output of a ReLU after the conv (dy is the gradient there).
int nst_conv3x3_bwd_data(nst_tensor *dx, const nst_tensor *dy, const nst_tensor *relu_y,
                         const nst_tensor *w, nst_err *e);
int nst_relu(nst_tensor *y, const nst_tensor *x, nst_err *e);
int nst_relu_bwd(nst_tensor *dx, const nst_tensor *dy, const nst_tensor *y, nst_err *e);
// x (N,C,H,W) -> y (N,C,H/2,W/2), floor
int nst_pool2d(nst_tensor *y, const nst_tensor *x, nst_pool mode, nst_err *e);
int nst_pool2d_bwd(nst_tensor *dx, const nst_tensor *dy, const nst_tensor *x, nst_pool mode,
                   nst_err *e);
// x (N,3,H,W): out[:,c] = scale[c] * x[:,perm[c]] + shift[c]
int nst_channel_affine(nst_tensor *out, const nst_tensor *x, const int perm[3],
                       const float scale[3], const float shift[3], nst_err *e);

// steps: a one-element tensor on x's device counting the steps taken (see backend.h).
int nst_adam_counted(nst_tensor *x, const nst_tensor *g, nst_tensor *m, nst_tensor *v,
                     nst_tensor *steps, float lr, float beta1, float beta2, float eps, nst_err *e);
int nst_adam(nst_tensor *x, const nst_tensor *g, nst_tensor *m, nst_tensor *v, float lr,
             float beta1, float beta2, float eps, int t, nst_err *e);

// loss1 one element; grad like f or NULL.
int nst_mse_loss(nst_tensor *loss1, nst_tensor *grad, const nst_tensor *f, const nst_tensor *p,
                 float scale, nst_err *e);
int nst_tv_loss(nst_tensor *loss1, nst_tensor *grad, const nst_tensor *x, int l1, float scale,
                nst_err *e);
// Style loss of features f (1,C,H,W) or (C,H,W) against target Gram a (C,C):
// E = scale * sum((G - A)^2) / (4 C^2 M^2), G = F F^T; grad = scale * (G - A) F / (C^2 M^2).
int nst_style_loss(nst_tensor *loss1, nst_tensor *grad, const nst_tensor *f, const nst_tensor *a,
                   float scale, nst_err *e);

#endif
