// Backward warping and the consistency mask on the GPU, one thread per pixel, by the
// rules in src/core/flow_math.h (the CPU twin is src/cpu/cpu_flow.c).
#include "cuda_internal.h"
#include "core/flow_math.h"

// out, img (n, c, h, w); flow (n, 2, h, w). One thread per (batch item, pixel) samples
// every channel at the same place.
__global__ void warp_kernel(float *out, const float *img, const float *flow, int n, int c, int h,
                            int w, nst_border border) {
    size_t hw = (size_t)h * w, total = (size_t)n * hw;
    NST_CU_GRID_STRIDE(idx, total) {
        size_t b = idx / hw, i = idx % hw;
        int y = (int)(i / w), x = (int)(i % w);
        const float *fu = flow + b * 2 * hw;
        float sx = (float)x + fu[i], sy = (float)y + fu[hw + i];
        for (int k = 0; k < c; k++) {
            size_t plane = (b * c + k) * hw;
            out[plane + i] = nst_flow_sample(img + plane, h, w, sx, sy, border);
        }
    }
}

__global__ void consistency_kernel(float *mask, const float *fwd, const float *bwd, int n, int h,
                                   int w, nst_consistency p) {
    size_t hw = (size_t)h * w, total = (size_t)n * hw;
    NST_CU_GRID_STRIDE(idx, total) {
        size_t b = idx / hw, i = idx % hw;
        mask[idx] = nst_flow_consistent(fwd + b * 2 * hw, bwd + b * 2 * hw, h, w, (int)(i % w),
                                        (int)(i / w), p);
    }
}

int nst_cu_warp(float *out, const float *img, const float *flow, int n, int c, int h, int w,
                nst_border border, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    size_t total = (size_t)n * h * w;
    warp_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(out, img, flow, n, c, h, w, border);
    return nst_cu_launched("warp_kernel", e);
}

int nst_cu_consistency(float *mask, const float *fwd, const float *bwd, int n, int h, int w,
                       const nst_consistency *p, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    size_t total = (size_t)n * h * w;
    consistency_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(mask, fwd, bwd, n, h, w, *p);
    return nst_cu_launched("consistency_kernel", e);
}
