// CPU twin of kernels/cuda_flow.cu: backward warping and the consistency mask, one pixel
// at a time by the rules in src/core/flow_math.h, rows spread over OpenMP threads.
#include "cpu/cpu.h"
#include "core/flow_math.h"

// Rows of all planes below this many pixels run on one thread.
#define PAR_MIN_PIXELS 16384

int nst_cpu_warp(float *out, const float *img, const float *flow, int n, int c, int h, int w,
                 nst_border border, nst_err *e) {
    (void)e;
    size_t hw = (size_t)h * w;
    long rows = (long)n * h;
#pragma omp parallel for schedule(static) if ((size_t)rows * w > PAR_MIN_PIXELS)
    for (long r = 0; r < rows; r++) {
        int b = (int)(r / h), y = (int)(r % h);
        const float *fu = flow + (size_t)b * 2 * hw, *fv = fu + hw;
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            float sx = (float)x + fu[i], sy = (float)y + fv[i];
            for (int k = 0; k < c; k++) {
                size_t plane = ((size_t)b * c + k) * hw;
                out[plane + i] = nst_flow_sample(img + plane, h, w, sx, sy, border);
            }
        }
    }
    return 0;
}

int nst_cpu_consistency(float *mask, const float *fwd, const float *bwd, int n, int h, int w,
                        const nst_consistency *p, nst_err *e) {
    (void)e;
    size_t hw = (size_t)h * w;
    long rows = (long)n * h;
    nst_consistency th = *p;
#pragma omp parallel for schedule(static) if ((size_t)rows * w > PAR_MIN_PIXELS)
    for (long r = 0; r < rows; r++) {
        int b = (int)(r / h), y = (int)(r % h);
        const float *f = fwd + (size_t)b * 2 * hw, *bw = bwd + (size_t)b * 2 * hw;
        for (int x = 0; x < w; x++)
            mask[(size_t)b * hw + (size_t)y * w + x] = nst_flow_consistent(f, bw, h, w, x, y, th);
    }
    return 0;
}
