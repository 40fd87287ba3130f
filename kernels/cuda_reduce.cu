// Reductions to one device float (sum, sum of squares, min, max, dot) and the two
// losses that produce a scalar plus a gradient in one pass (mse, total variation).
//
// Two passes, deterministic for a given n: pass 1 runs G <= 1024 blocks, each thread
// accumulating a strided run of about n / (G * 256) elements in float, then a tree
// (pairwise) reduction inside the block writes partials[G]; pass 2 is one block that
// reduces the partials the same way and writes scale * result. Partials come from the
// arena and are released right after queueing pass 2 (stream order makes that safe).
#include <math.h>

#include "cuda_internal.h"

#define MAX_PARTIALS 1024

enum combine { COMBINE_SUM = 0, COMBINE_MIN = 1, COMBINE_MAX = 2 };

// min/max propagate NaN, as the CPU backend and torch.min / torch.max.
__device__ __forceinline__ float combine2(int how, float x, float y) {
    if (how == COMBINE_SUM) return x + y;
    if (x != x) return x;
    if (y != y) return y;
    return how == COMBINE_MIN ? (x < y ? x : y) : (x > y ? x : y);
}

__device__ __forceinline__ float identity_of(int how) {
    return how == COMBINE_SUM ? 0.0f : how == COMBINE_MIN ? INFINITY : -INFINITY;
}

// Reduces v across the block (blockDim.x a multiple of 32, <= 1024); the result is
// valid in thread 0.
__device__ float block_combine(float v, int how) {
    __shared__ float warp_vals[32];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int off = 16; off > 0; off >>= 1)
        v = combine2(how, v, __shfl_down_sync(0xffffffffu, v, off));
    if (lane == 0) warp_vals[warp] = v;
    __syncthreads();
    int nwarps = blockDim.x >> 5;
    v = threadIdx.x < nwarps ? warp_vals[threadIdx.x] : identity_of(how);
    if (warp == 0)
        for (int off = 16; off > 0; off >>= 1)
            v = combine2(how, v, __shfl_down_sync(0xffffffffu, v, off));
    return v;
}

__global__ void reduce_partial_kernel(float *partials, const float *a, size_t n, nst_reduce op) {
    int how = op == NST_MIN ? COMBINE_MIN : op == NST_MAX ? COMBINE_MAX : COMBINE_SUM;
    float acc = identity_of(how);
    NST_CU_GRID_STRIDE(i, n) {
        float x = a[i];
        acc = combine2(how, acc, op == NST_SUMSQ ? x * x : x);
    }
    acc = block_combine(acc, how);
    if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__global__ void dot_partial_kernel(float *partials, const float *a, const float *b, size_t n) {
    float acc = 0.0f;
    NST_CU_GRID_STRIDE(i, n) acc += a[i] * b[i];
    acc = block_combine(acc, COMBINE_SUM);
    if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

// d = f - p; grad = scale * d (grad may alias f or p: one element per thread).
__global__ void mse_partial_kernel(float *partials, float *grad, const float *f, const float *p,
                                   size_t n, float scale) {
    float acc = 0.0f;
    NST_CU_GRID_STRIDE(i, n) {
        float d = f[i] - p[i];
        acc += d * d;
        if (grad) grad[i] = scale * d;
    }
    acc = block_combine(acc, COMBINE_SUM);
    if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

// x (planes, h, w); forward differences dx(i,j) = x(i,j+1) - x(i,j) for j < w-1 and
// dy(i,j) = x(i+1,j) - x(i,j) for i < h-1. Each element adds its own forward terms to
// the loss and gathers the gradient of every term it appears in (no atomics):
//   squared: d/dx(i,j) = 2 (dx(i,j-1) - dx(i,j) + dy(i-1,j) - dy(i,j))
//   l1:      the same with sign(.) in place of 2 (.), sign(0) = 0.
// grad must not alias x (neighbours are read).
__device__ __forceinline__ float tv_term(float d, int l1) { return l1 ? fabsf(d) : d * d; }
__device__ __forceinline__ float tv_deriv(float d, int l1) {
    return l1 ? (float)((d > 0.0f) - (d < 0.0f)) : 2.0f * d;
}

__global__ void tv_partial_kernel(float *partials, float *grad, const float *x, size_t total, int h,
                                  int w, int l1, float scale) {
    size_t hw = (size_t)h * w;
    float acc = 0.0f;
    NST_CU_GRID_STRIDE(idx, total) {
        size_t r = idx % hw;
        int i = (int)(r / w), j = (int)(r % w);
        float x0 = x[idx], g = 0.0f;
        if (j + 1 < w) {
            float d = x[idx + 1] - x0;
            acc += tv_term(d, l1);
            g -= tv_deriv(d, l1);
        }
        if (i + 1 < h) {
            float d = x[idx + w] - x0;
            acc += tv_term(d, l1);
            g -= tv_deriv(d, l1);
        }
        if (j > 0) g += tv_deriv(x0 - x[idx - 1], l1);
        if (i > 0) g += tv_deriv(x0 - x[idx - w], l1);
        if (grad) grad[idx] = scale * g;
    }
    acc = block_combine(acc, COMBINE_SUM);
    if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__global__ void finish_kernel(float *out1, const float *partials, int count, int how, float scale) {
    float acc = identity_of(how);
    for (int i = threadIdx.x; i < count; i += blockDim.x) acc = combine2(how, acc, partials[i]);
    acc = block_combine(acc, how);
    if (threadIdx.x == 0) out1[0] = how == COMBINE_SUM ? scale * acc : acc;
}

static int partial_blocks(size_t n) {
    size_t g = (n + (size_t)NST_CU_THREADS * 4 - 1) / ((size_t)NST_CU_THREADS * 4);
    if (g < 1) g = 1;
    return g > MAX_PARTIALS ? MAX_PARTIALS : (int)g;
}

// Queues pass 2 and releases the partials (whether or not the launch worked).
static int finish(float *out1, float *partials, int count, int how, float scale, const char *pass1,
                  cudaStream_t s, nst_err *e) {
    int rc = nst_cu_launched(pass1, e);
    if (rc == 0) {
        finish_kernel<<<1, NST_CU_THREADS, 0, s>>>(out1, partials, count, how, scale);
        rc = nst_cu_launched("finish_kernel", e);
    }
    nst_cu_free(partials);
    return rc;
}

int nst_cu_reduce(float *out1, const float *a, size_t n, nst_reduce op, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if ((int)op < (int)NST_SUM || (int)op > (int)NST_MAX)
        return nst_fail(e, "reduce: unknown reduction %d", (int)op);
    if (n == 0 && (op == NST_MIN || op == NST_MAX))
        return nst_fail(e, "reduce: min/max of an empty tensor");
    int g = partial_blocks(n);
    float *partials = (float *)nst_cu_alloc(sizeof(float) * g, e);
    if (!partials) return -1;
    reduce_partial_kernel<<<g, NST_CU_THREADS, 0, s>>>(partials, a, n, op);
    int how = op == NST_MIN ? COMBINE_MIN : op == NST_MAX ? COMBINE_MAX : COMBINE_SUM;
    return finish(out1, partials, g, how, 1.0f, "reduce_partial_kernel", s, e);
}

int nst_cu_dot(float *out1, const float *a, const float *b, size_t n, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    int g = partial_blocks(n);
    float *partials = (float *)nst_cu_alloc(sizeof(float) * g, e);
    if (!partials) return -1;
    dot_partial_kernel<<<g, NST_CU_THREADS, 0, s>>>(partials, a, b, n);
    return finish(out1, partials, g, COMBINE_SUM, 1.0f, "dot_partial_kernel", s, e);
}

int nst_cu_mse_loss(float *loss1, float *grad, const float *f, const float *p, size_t n,
                    float scale, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    int g = partial_blocks(n);
    float *partials = (float *)nst_cu_alloc(sizeof(float) * g, e);
    if (!partials) return -1;
    mse_partial_kernel<<<g, NST_CU_THREADS, 0, s>>>(partials, grad, f, p, n, scale);
    return finish(loss1, partials, g, COMBINE_SUM, 0.5f * scale, "mse_partial_kernel", s, e);
}

int nst_cu_tv_loss(float *loss1, float *grad, const float *x, int n, int c, int h, int wd, int l1,
                   float scale, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (n < 1 || c < 1 || h < 1 || wd < 1)
        return nst_fail(e, "tv_loss: bad shape %dx%dx%dx%d", n, c, h, wd);
    size_t total, t2, t3;
    if (nst_mul_size((size_t)n, (size_t)c, &t2) || nst_mul_size(t2, (size_t)h, &t3) ||
        nst_mul_size(t3, (size_t)wd, &total))
        return nst_fail(e, "tv_loss: size overflow");
    int g = partial_blocks(total);
    float *partials = (float *)nst_cu_alloc(sizeof(float) * g, e);
    if (!partials) return -1;
    tv_partial_kernel<<<g, NST_CU_THREADS, 0, s>>>(partials, grad, x, total, h, wd, l1 != 0, scale);
    return finish(loss1, partials, g, COMBINE_SUM, scale, "tv_partial_kernel", s, e);
}
