// The scalar rules of the elementwise ops, shared by the CPU backend and the CUDA kernels
// so both compute the same thing (NaN-propagating maximum/minimum as torch.maximum,
// sign(NaN) = NaN).
#ifndef NST_ELEMENTWISE_H
#define NST_ELEMENTWISE_H

#include <math.h>

#include "core/backend.h"

#ifdef __CUDACC__
#define NST_HD __host__ __device__ __forceinline__
#else
#define NST_HD static inline
#endif

NST_HD float nst_max_nan(float x, float y) { return x != x ? x : (y != y ? y : (x > y ? x : y)); }
NST_HD float nst_min_nan(float x, float y) { return x != x ? x : (y != y ? y : (x < y ? x : y)); }

// Grey-scale erosion of plane x (h, wd) at (i, j): the minimum over the 3x3 neighbours
// inside the plane (NaN-propagating). A style guide's "inside" propagation through a 3x3
// convolution (core/ops_style.h), one rule for both backends.
NST_HD float nst_erode3x3_at(const float *x, int h, int wd, int i, int j) {
    float m = x[(size_t)i * wd + j];
    for (int di = -1; di <= 1; di++)
        for (int dj = -1; dj <= 1; dj++) {
            int a = i + di, b = j + dj;
            if (a >= 0 && a < h && b >= 0 && b < wd) m = nst_min_nan(m, x[(size_t)a * wd + b]);
        }
    return m;
}

NST_HD float nst_binop_apply(nst_binop op, float x, float y) {
    switch (op) {
    case NST_ADD: return x + y;
    case NST_SUB: return x - y;
    case NST_MUL: return x * y;
    case NST_DIV: return x / y;
    case NST_MAXIMUM: return nst_max_nan(x, y);
    case NST_MINIMUM: return nst_min_nan(x, y);
    }
    return 0.0f;
}

NST_HD float nst_unop_apply(nst_unop op, float x) {
    switch (op) {
    case NST_NEG: return -x;
    case NST_ABS: return fabsf(x);
    case NST_SQRT: return sqrtf(x);
    case NST_EXP: return expf(x);
    case NST_LOG: return logf(x);
    case NST_SQUARE: return x * x;
    case NST_SIGN: return x != x ? x : (float)((x > 0.0f) - (x < 0.0f));
    }
    return 0.0f;
}

// One element of torch.optim.Adam's step (weight_decay 0, amsgrad off), a1 = 1 - beta1,
// a2 = 1 - beta2, step_size = lr / bc1, bc2_sqrt = sqrt(bc2), bc_i = 1 - beta_i^t:
//   m = b1 m + a1 g;  v = b2 v + a2 g^2;  x -= step_size * m / (sqrt(v) / bc2_sqrt + eps)
NST_HD void nst_adam_update(float *x, float g, float *m, float *v, float beta1, float beta2,
                            float a1, float a2, float eps, float step_size, float bc2_sqrt) {
    float mi = *m * beta1 + a1 * g;
    float vi = *v * beta2 + a2 * g * g;
    *m = mi;
    *v = vi;
    *x -= step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
}

#endif
