// The scalar rules of the elementwise ops, shared by the CPU backend and the CUDA kernels
// so both compute the same thing (NaN-propagating maximum/minimum as torch.maximum,
// sign(NaN) = NaN).
#ifndef NST_ELEMENTWISE_H
#define NST_ELEMENTWISE_H

#include <math.h>

#include "backend.h"

#ifdef __CUDACC__
#define NST_HD __host__ __device__ __forceinline__
#else
#define NST_HD static inline
#endif

NST_HD float nst_max_nan(float x, float y) { return x != x ? x : (y != y ? y : (x > y ? x : y)); }
NST_HD float nst_min_nan(float x, float y) { return x != x ? x : (y != y ? y : (x < y ? x : y)); }

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

#endif
