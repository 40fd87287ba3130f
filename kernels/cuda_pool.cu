// 2x2 stride-2 pooling (max or average) over planes of h x w, output floor(h/2) x
// floor(w/2), and its backward. Max backward routes the gradient to the first
// maximum of the window in row-major order (x00, x01, x10, x11), as PyTorch does;
// inputs in the odd last row/column get zero gradient. Also the style guides' 3x3
// erosion (a stride-1 min filter; the rule is core/elementwise.h's, shared with the CPU).
#include "cuda_internal.h"
// after cuda_internal.h, which includes backend.h with C linkage
#include "core/elementwise.h"

// Index 0..3 of the first maximum of the window whose top-left is w0 (row stride wd);
// a NaN wins over numbers (the last NaN if several), as in PyTorch and the CPU backend.
__device__ __forceinline__ int window_argmax(const float *w0, int wd) {
    float v[4] = {w0[0], w0[1], w0[wd], w0[wd + 1]};
    float m = v[0];
    int best = 0;
    for (int q = 1; q < 4; q++)
        if (v[q] > m || v[q] != v[q]) m = v[q], best = q;
    return best;
}

// y (planes, h/2, w/2) from x (planes, h, w); one thread per output.
__global__ void pool_fwd_kernel(float *y, const float *x, size_t total, int h, int wd, int ho,
                                int wo, int is_max) {
    NST_CU_GRID_STRIDE(o, total) {
        size_t plane = o / ((size_t)ho * wo);
        size_t r = o % ((size_t)ho * wo);
        int oi = (int)(r / wo), oj = (int)(r % wo);
        const float *w0 = x + plane * h * wd + (size_t)(2 * oi) * wd + 2 * oj;
        if (is_max) {
            int q = window_argmax(w0, wd); // 0..3 -> (row q / 2, column q % 2) of the window
            y[o] = w0[(q >> 1) * wd + (q & 1)];
        } else {
            y[o] = 0.25f * ((w0[0] + w0[1]) + (w0[wd] + w0[wd + 1]));
        }
    }
}

// dx (planes, h, w); one thread per input element, so every element is written.
__global__ void pool_bwd_kernel(float *dx, const float *dy, const float *x, size_t total, int h,
                                int wd, int ho, int wo, int is_max) {
    NST_CU_GRID_STRIDE(idx, total) {
        size_t plane = idx / ((size_t)h * wd);
        size_t r = idx % ((size_t)h * wd);
        int i = (int)(r / wd), j = (int)(r % wd);
        int oi = i >> 1, oj = j >> 1;
        float g = 0.0f;
        if (oi < ho && oj < wo) {
            float d = dy[plane * ho * wo + (size_t)oi * wo + oj];
            if (is_max) {
                const float *w0 = x + plane * h * wd + (size_t)(2 * oi) * wd + 2 * oj;
                int q = ((i & 1) << 1) | (j & 1);
                g = window_argmax(w0, wd) == q ? d : 0.0f;
            } else {
                g = 0.25f * d;
            }
        }
        dx[idx] = g;
    }
}

static int pool_sizes(int planes, int h, int wd, nst_pool mode, size_t *in_total, size_t *out_total,
                      nst_err *e) {
    if (mode != NST_POOL_MAX && mode != NST_POOL_AVG)
        return nst_fail(e, "pool: unknown mode %d", (int)mode);
    if (planes < 1 || h < 2 || wd < 2)
        return nst_fail(e, "pool: needs planes >= 1 and h, w >= 2, got %d planes of %dx%d", planes,
                        h, wd);
    size_t hw, ohw;
    if (nst_mul_size((size_t)h, (size_t)wd, &hw) || nst_mul_size((size_t)planes, hw, in_total) ||
        nst_mul_size((size_t)(h / 2), (size_t)(wd / 2), &ohw) ||
        nst_mul_size((size_t)planes, ohw, out_total))
        return nst_fail(e, "pool: size overflow");
    return 0;
}

int nst_cu_pool_fwd(float *y, const float *x, int planes, int h, int wd, nst_pool mode,
                    nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    size_t in_total, out_total;
    if (pool_sizes(planes, h, wd, mode, &in_total, &out_total, e)) return -1;
    if (out_total == 0) return 0;
    pool_fwd_kernel<<<nst_cu_blocks(out_total), NST_CU_THREADS, 0, s>>>(
        y, x, out_total, h, wd, h / 2, wd / 2, mode == NST_POOL_MAX);
    return nst_cu_launched("pool_fwd_kernel", e);
}

int nst_cu_pool_bwd(float *dx, const float *dy, const float *x, int planes, int h, int wd,
                    nst_pool mode, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    size_t in_total, out_total;
    if (pool_sizes(planes, h, wd, mode, &in_total, &out_total, e)) return -1;
    pool_bwd_kernel<<<nst_cu_blocks(in_total), NST_CU_THREADS, 0, s>>>(
        dx, dy, x, in_total, h, wd, h / 2, wd / 2, mode == NST_POOL_MAX);
    return nst_cu_launched("pool_bwd_kernel", e);
}

// out (planes, h, w): one thread per pixel
__global__ void erode3x3_kernel(float *out, const float *x, size_t total, int h, int wd) {
    NST_CU_GRID_STRIDE(idx, total) {
        size_t plane = idx / ((size_t)h * wd), r = idx % ((size_t)h * wd);
        out[idx] = nst_erode3x3_at(x + plane * h * wd, h, wd, (int)(r / wd), (int)(r % wd));
    }
}

int nst_cu_erode3x3(float *out, const float *x, int planes, int h, int wd, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (planes < 1 || h < 1 || wd < 1)
        return nst_fail(e, "erode3x3: bad sizes %d planes of %dx%d", planes, h, wd);
    size_t total = (size_t)planes * h * wd;
    erode3x3_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(out, x, total, h, wd);
    return nst_cu_launched("erode3x3_kernel", e);
}
