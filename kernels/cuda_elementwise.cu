// Elementwise kernels: fill, binary (with device-scalar broadcast), binary_scalar,
// unary, axpy, clamp, ReLU forward/backward, channel_affine and the fused Adam step.
// All are grid-stride loops over n floats, memory bound; one thread per element, so
// out may alias an input wherever backend.h allows it.
#include <math.h>

#include "cuda_internal.h"
#include "core/elementwise.h" // after cuda_internal.h, which includes backend.h with C linkage

__global__ void fill_kernel(float *out, size_t n, float v) {
    NST_CU_GRID_STRIDE(i, n) out[i] = v;
}

// a_step / b_step are 0 for a one-element (device scalar) operand, else 1.
__global__ void binary_kernel(float *out, const float *a, size_t a_step, const float *b,
                              size_t b_step, size_t n, nst_binop op) {
    NST_CU_GRID_STRIDE(i, n) out[i] = nst_binop_apply(op, a[i * a_step], b[i * b_step]);
}

__global__ void binary_scalar_kernel(float *out, const float *a, size_t n, float s, int reversed,
                                     nst_binop op) {
    NST_CU_GRID_STRIDE(i, n)
        out[i] = reversed ? nst_binop_apply(op, s, a[i]) : nst_binop_apply(op, a[i], s);
}

__global__ void unary_kernel(float *out, const float *a, size_t n, nst_unop op) {
    NST_CU_GRID_STRIDE(i, n) out[i] = nst_unop_apply(op, a[i]);
}

__global__ void axpy_kernel(float *y, const float *x, size_t n, float alpha) {
    NST_CU_GRID_STRIDE(i, n) y[i] += alpha * x[i];
}

// As torch.clamp: min first, then max; NaN stays NaN.
__global__ void clamp_kernel(float *out, const float *a, size_t n, float lo, float hi) {
    NST_CU_GRID_STRIDE(i, n) {
        float x = a[i];
        if (x < lo) x = lo;
        if (x > hi) x = hi;
        out[i] = x;
    }
}

__global__ void relu_fwd_kernel(float *y, const float *x, size_t n) {
    NST_CU_GRID_STRIDE(i, n) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

__global__ void relu_bwd_kernel(float *dx, const float *dy, const float *y, size_t n) {
    NST_CU_GRID_STRIDE(i, n) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

struct affine_params {
    int perm[3];
    float scale[3], shift[3];
};

// x, out (batch, 3, hw). One thread per (batch item, position) reads all three input
// channels before writing, so out may alias x even when perm is not the identity.
__global__ void channel_affine_kernel(float *out, const float *x, size_t batch, size_t hw,
                                      affine_params p) {
    size_t total = batch * hw;
    NST_CU_GRID_STRIDE(i, total) {
        size_t b = i / hw, pos = i - b * hw;
        const float *xb = x + b * 3 * hw + pos;
        float in[3] = {xb[0], xb[hw], xb[2 * hw]};
        float *ob = out + b * 3 * hw + pos;
        for (int c = 0; c < 3; c++) ob[c * hw] = p.scale[c] * in[p.perm[c]] + p.shift[c];
    }
}

// torch.optim.Adam (weight_decay 0, amsgrad off):
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   x -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps),  bc_i = 1 - b_i^t
__global__ void adam_kernel(float *x, const float *g, float *m, float *v, size_t n, float beta1,
                            float beta2, float a1, float a2, float eps, float step_size,
                            float bc2_sqrt) {
    NST_CU_GRID_STRIDE(i, n)
        nst_adam_update(&x[i], g[i], &m[i], &v[i], beta1, beta2, a1, a2, eps, step_size, bc2_sqrt);
}

// adam_kernel with the bias corrections from the step count in device memory: each
// block's first thread computes them in double (as the host does for adam_kernel).
__global__ void adam_counted_kernel(float *x, const float *g, float *m, float *v, size_t n,
                                    float lr, float beta1, float beta2, float a1, float a2,
                                    float eps, const float *steps) {
    __shared__ float step_size, bc2_sqrt;
    if (threadIdx.x == 0) {
        double t = (double)steps[0] + 1.0;
        step_size = (float)((double)lr / (1.0 - pow((double)beta1, t)));
        bc2_sqrt = (float)sqrt(1.0 - pow((double)beta2, t));
    }
    __syncthreads();
    NST_CU_GRID_STRIDE(i, n)
        nst_adam_update(&x[i], g[i], &m[i], &v[i], beta1, beta2, a1, a2, eps, step_size, bc2_sqrt);
}

__global__ void count_step_kernel(float *steps) { steps[0] += 1.0f; }

int nst_cu_fill(float *out, size_t n, float v, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (n == 0) return 0;
    fill_kernel<<<nst_cu_blocks(n), NST_CU_THREADS, 0, s>>>(out, n, v);
    return nst_cu_launched("fill_kernel", e);
}

int nst_cu_binary(float *out, const float *a, size_t na, const float *b, size_t nb, nst_binop op,
                  nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if ((int)op < (int)NST_ADD || (int)op > (int)NST_MINIMUM)
        return nst_fail(e, "binary: unknown op %d", (int)op);
    size_t n = na > nb ? na : nb;
    if ((na != 1 && na != n) || (nb != 1 && nb != n))
        return nst_fail(e, "binary: sizes %zu and %zu do not broadcast", na, nb);
    if (n == 0) return 0;
    binary_kernel<<<nst_cu_blocks(n), NST_CU_THREADS, 0, s>>>(out, a, na == 1 ? 0 : 1, b,
                                                              nb == 1 ? 0 : 1, n, op);
    return nst_cu_launched("binary_kernel", e);
}

int nst_cu_binary_scalar(float *out, const float *a, size_t n, float sc, int reversed, nst_binop op,
                         nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if ((int)op < (int)NST_ADD || (int)op > (int)NST_MINIMUM)
        return nst_fail(e, "binary_scalar: unknown op %d", (int)op);
    if (n == 0) return 0;
    binary_scalar_kernel<<<nst_cu_blocks(n), NST_CU_THREADS, 0, s>>>(out, a, n, sc, reversed != 0,
                                                                     op);
    return nst_cu_launched("binary_scalar_kernel", e);
}

int nst_cu_unary(float *out, const float *a, size_t n, nst_unop op, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if ((int)op < (int)NST_NEG || (int)op > (int)NST_SIGN)
        return nst_fail(e, "unary: unknown op %d", (int)op);
    if (n == 0) return 0;
    unary_kernel<<<nst_cu_blocks(n), NST_CU_THREADS, 0, s>>>(out, a, n, op);
    return nst_cu_launched("unary_kernel", e);
}

int nst_cu_axpy(float *y, const float *x, size_t n, float alpha, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (n == 0) return 0;
    axpy_kernel<<<nst_cu_blocks(n), NST_CU_THREADS, 0, s>>>(y, x, n, alpha);
    return nst_cu_launched("axpy_kernel", e);
}

int nst_cu_clamp(float *out, const float *a, size_t n, float lo, float hi, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (n == 0) return 0;
    clamp_kernel<<<nst_cu_blocks(n), NST_CU_THREADS, 0, s>>>(out, a, n, lo, hi);
    return nst_cu_launched("clamp_kernel", e);
}

int nst_cu_relu_fwd(float *y, const float *x, size_t n, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (n == 0) return 0;
    relu_fwd_kernel<<<nst_cu_blocks(n), NST_CU_THREADS, 0, s>>>(y, x, n);
    return nst_cu_launched("relu_fwd_kernel", e);
}

int nst_cu_relu_bwd(float *dx, const float *dy, const float *y, size_t n, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (n == 0) return 0;
    relu_bwd_kernel<<<nst_cu_blocks(n), NST_CU_THREADS, 0, s>>>(dx, dy, y, n);
    return nst_cu_launched("relu_bwd_kernel", e);
}

int nst_cu_channel_affine(float *out, const float *x, int batch, size_t hw, const int perm[3],
                          const float scale[3], const float shift[3], nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (batch < 0) return nst_fail(e, "channel_affine: batch %d < 0", batch);
    affine_params p;
    for (int c = 0; c < 3; c++) {
        if (perm[c] < 0 || perm[c] > 2)
            return nst_fail(e, "channel_affine: perm[%d] = %d, expected 0..2", c, perm[c]);
        p.perm[c] = perm[c];
        p.scale[c] = scale[c];
        p.shift[c] = shift[c];
    }
    size_t total;
    if (nst_mul_size((size_t)batch, hw, &total))
        return nst_fail(e, "channel_affine: size overflow");
    if (total == 0) return 0;
    channel_affine_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(out, x, (size_t)batch, hw,
                                                                          p);
    return nst_cu_launched("channel_affine_kernel", e);
}

int nst_cu_adam_counted(float *x, const float *g, float *m, float *v, size_t n, float lr,
                        float beta1, float beta2, float eps, float *steps, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (!(beta1 >= 0.0f && beta1 < 1.0f) || !(beta2 >= 0.0f && beta2 < 1.0f))
        return nst_fail(e, "adam: betas must be in [0, 1), got %g and %g", beta1, beta2);
    float a1 = (float)(1.0 - (double)beta1), a2 = (float)(1.0 - (double)beta2);
    if (n > 0) {
        adam_counted_kernel<<<nst_cu_blocks(n), NST_CU_THREADS, 0, s>>>(x, g, m, v, n, lr, beta1,
                                                                        beta2, a1, a2, eps, steps);
        if (nst_cu_launched("adam_counted_kernel", e)) return -1;
    }
    count_step_kernel<<<1, 1, 0, s>>>(steps);
    return nst_cu_launched("count_step_kernel", e);
}

int nst_cu_adam(float *x, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                float beta2, float eps, int t, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (t < 1) return nst_fail(e, "adam: step t = %d, expected >= 1", t);
    if (n == 0) return 0;
    // Bias corrections in double on the host, as torch computes them in Python floats.
    double bc1 = 1.0 - pow((double)beta1, (double)t);
    double bc2 = 1.0 - pow((double)beta2, (double)t);
    if (!(bc1 > 0.0) || !(bc2 > 0.0))
        return nst_fail(e, "adam: betas must be in [0, 1), got %g and %g", beta1, beta2);
    float step_size = (float)(lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2);
    float a1 = (float)(1.0 - (double)beta1), a2 = (float)(1.0 - (double)beta2);
    adam_kernel<<<nst_cu_blocks(n), NST_CU_THREADS, 0, s>>>(x, g, m, v, n, beta1, beta2, a1, a2,
                                                            eps, step_size, bc2_sqrt);
    return nst_cu_launched("adam_kernel", e);
}
