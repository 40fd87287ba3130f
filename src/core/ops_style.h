// The style losses' operations (their formulas: lua/README.md, "Style losses"): the
// weighted moments of features and their backward, square roots of symmetric matrices,
// and the 3x3 erosion of guides. Shapes and devices are checked here; the work is the
// backend's slots (with its gemm and gram).
#ifndef NST_OPS_STYLE_H
#define NST_OPS_STYLE_H

#include "core/backend.h"

// Features f (1,C,H,W), (C,H,W) or (C,M). r: NULL (no guide: every position weighs 1/M)
// or M elements, a guide's factors with sum r^2 = 1 (position i weighs r_i^2).
// mu NULL: cov (C,C) = sum_i r_i^2 f_i f_i^T (the normalized Gram matrix), fc = f * r.
// mu (C): mu = sum_i r_i^2 f_i, cov = sum_i r_i^2 (f_i - mu)(f_i - mu)^T, fc = (f - mu) * r.
// fc (like f) is what nst_moments_backward needs.
int nst_moments(nst_tensor *mu, nst_tensor *cov, nst_tensor *fc, const nst_tensor *f,
                const nst_tensor *r, nst_err *e);
// The gradient w.r.t. f of a loss of (cov, mu), from fc and r of nst_moments:
// grad (like fc) = 2 r * (dcov fc) + r^2 * dmu, with dcov (C,C) = dL/dcov symmetric and
// dmu (C) = dL/dmu or NULL. (The mean's effect through the centring sums to 0.)
int nst_moments_backward(nst_tensor *grad, const nst_tensor *fc, const nst_tensor *r,
                         const nst_tensor *dcov, const nst_tensor *dmu, nst_err *e);
// root (n,n) = X^(1/2) of x (n,n) symmetric; eigenvalues below floor (>= 0) count as
// floor. In double precision inside.
int nst_sym_sqrt(nst_tensor *root, const nst_tensor *x, float floor, nst_err *e);
// W2's generated side: with s, x (n,n) symmetric and X = s x s (formed in double),
// map (n,n) = s X^(-1/2) s and trace1 (one element) = tr X^(1/2); floor > 0.
int nst_w2_map(nst_tensor *map, nst_tensor *trace1, const nst_tensor *s, const nst_tensor *x,
               float floor, nst_err *e);
// x (N,C,H,W) -> out (N,C,H,W): each plane's 3x3 grey-scale erosion.
int nst_erode3x3(nst_tensor *out, const nst_tensor *x, nst_err *e);

#endif
