// CPU 2x2 stride-2 pooling, forward and backward, with PyTorch's semantics for odd
// sizes: the output is floor(h/2) x floor(w/2), a trailing row/column is ignored and
// gets zero gradient. Max routes the gradient to the first maximum of its window in
// row-major order (as PyTorch's CPU kernel: a later value wins only if greater, or NaN).
// Also the style guides' 3x3 erosion.
#include <math.h>
#include <string.h>

#include "core/elementwise.h"
#include "cpu/cpu.h"

static int pool_check(int planes, int h, int wd, nst_pool mode, nst_err *e) {
    if (planes < 1 || h < 2 || wd < 2)
        return nst_fail(e, "cpu: pool needs planes >= 1 and h, w >= 2, got %d planes of %dx%d",
                        planes, h, wd);
    if (mode != NST_POOL_MAX && mode != NST_POOL_AVG)
        return nst_fail(e, "cpu: unknown pool mode %d", (int)mode);
    return 0;
}

// Index (0..3, row-major) of the max of window (a b / c d).
static inline int argmax4(float a, float b, float c, float d) {
    float m = a;
    int k = 0;
    if (b > m || isnan(b)) m = b, k = 1;
    if (c > m || isnan(c)) m = c, k = 2;
    if (d > m || isnan(d)) m = d, k = 3;
    return k;
}

int nst_cpu_pool_fwd(float *y, const float *x, int planes, int h, int wd, nst_pool mode,
                     nst_err *e) {
    if (pool_check(planes, h, wd, mode, e)) return -1;
    int oh = h / 2, ow = wd / 2;
    size_t total = (size_t)planes * h * wd;
#pragma omp parallel for schedule(static) collapse(2) if (total > NST_CPU_PAR_MIN)
    for (int p = 0; p < planes; p++) {
        for (int i = 0; i < oh; i++) {
            const float *r0 = x + ((size_t)p * h + 2 * i) * wd, *r1 = r0 + wd;
            float *yr = y + ((size_t)p * oh + i) * ow;
            if (mode == NST_POOL_AVG) {
                for (int j = 0; j < ow; j++)
                    yr[j] = 0.25f * ((r0[2 * j] + r0[2 * j + 1]) + (r1[2 * j] + r1[2 * j + 1]));
            } else {
                for (int j = 0; j < ow; j++) {
                    float v[4] = {r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]};
                    yr[j] = v[argmax4(v[0], v[1], v[2], v[3])];
                }
            }
        }
    }
    return 0;
}

int nst_cpu_pool_bwd(float *dx, const float *dy, const float *x, int planes, int h, int wd,
                     nst_pool mode, nst_err *e) {
    if (pool_check(planes, h, wd, mode, e)) return -1;
    int oh = h / 2, ow = wd / 2;
    size_t total = (size_t)planes * h * wd;
#pragma omp parallel for schedule(static) collapse(2) if (total > NST_CPU_PAR_MIN)
    for (int p = 0; p < planes; p++) {
        for (int i = 0; i < h / 2 + h % 2; i++) {
            float *d0 = dx + ((size_t)p * h + 2 * i) * wd;
            if (i == oh) { // the trailing odd row
                memset(d0, 0, sizeof(float) * (size_t)wd);
                continue;
            }
            float *d1 = d0 + wd;
            const float *r0 = x + ((size_t)p * h + 2 * i) * wd, *r1 = r0 + wd;
            const float *g = dy + ((size_t)p * oh + i) * ow;
            for (int j = 0; j < ow; j++) {
                float gj = g[j];
                if (mode == NST_POOL_AVG) {
                    float q = 0.25f * gj;
                    d0[2 * j] = q, d0[2 * j + 1] = q, d1[2 * j] = q, d1[2 * j + 1] = q;
                } else {
                    int k = argmax4(r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1]);
                    d0[2 * j] = k == 0 ? gj : 0;
                    d0[2 * j + 1] = k == 1 ? gj : 0;
                    d1[2 * j] = k == 2 ? gj : 0;
                    d1[2 * j + 1] = k == 3 ? gj : 0;
                }
            }
            if (wd % 2) d0[wd - 1] = 0, d1[wd - 1] = 0; // the trailing odd column
        }
    }
    return 0;
}

// The guides' 3x3 erosion (a stride-1 min "pool"), twin of cuda_pool.cu's.
int nst_cpu_erode3x3(float *out, const float *x, int planes, int h, int wd, nst_err *e) {
    if (planes < 1 || h < 1 || wd < 1)
        return nst_fail(e, "cpu: erode3x3 sizes %d planes of %dx%d", planes, h, wd);
    size_t total = (size_t)planes * h * wd;
#pragma omp parallel for schedule(static) collapse(2) if (total > NST_CPU_PAR_MIN)
    for (int p = 0; p < planes; p++)
        for (int i = 0; i < h; i++) {
            const float *xp = x + (size_t)p * h * wd;
            float *op = out + ((size_t)p * h + i) * wd;
            for (int j = 0; j < wd; j++) op[j] = nst_erode3x3_at(xp, h, wd, i, j);
        }
    return 0;
}
