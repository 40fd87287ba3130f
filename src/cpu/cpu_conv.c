// CPU 3x3 convolution, stride 1, pad 1 (twin of kernels/cuda_conv.cu): forward with
// bias and ReLU, backward-data (optionally through a ReLU's mask).
//
// Convolution is im2col + sgemm over chunks of output rows, so the column buffer
// stays cache-sized: for a chunk of R rows, col (9C, R*W) holds the shifted inputs
// and Y[:, rows] (K, R*W) = Wmat (K, 9C) * col. The OpenMP threads build one chunk's
// col together, then each multiplies its own slice of the chunk's columns (BLAS is
// single-threaded; see nst_cpu_blas_init). Backward-data is the same convolution
// of dy with the kernel transposed (C <-> K) and flipped (3x3 rotated by 180 deg).
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "cpu/cpu.h"

// Floats of one chunk's column buffer (8 MiB): big enough for long GEMMs, small
// enough to stay in the 32 MiB L3.
#define COL_BUDGET (2u << 20)
// Fewest input and output channels for the Winograd path.
#define WINO_MIN_CH 16

// Rows of the image per chunk of a (kdim, rows * w) column buffer: as many as fit the
// budget, at least one, at most h.
static size_t chunk_rows(size_t kdim, int h, int w) {
    size_t rows = COL_BUDGET / (kdim * (size_t)w);
    if (rows < 1) rows = 1;
    if (rows > (size_t)h) rows = (size_t)h;
    return rows;
}

// Rows [r0, r0 + R) of the im2col matrix of x (C, H, W): row (c, a, b) of col
// (9C, R*W) is x[c] shifted by (a - 1, b - 1) with zeros outside.
static void im2col_rows(float *col, const float *x, int c, int h, int w, int r0, int rows) {
    size_t nb = (size_t)rows * w;
#pragma omp for schedule(static)
    for (int q = 0; q < 9 * c; q++) {
        int ch = q / 9, a = q % 9 / 3, b = q % 3;
        const float *xc = x + (size_t)ch * h * w;
        float *dst = col + (size_t)q * nb;
        for (int r = 0; r < rows; r++) {
            int sr = r0 + r + a - 1;
            float *d = dst + (size_t)r * w;
            if (sr < 0 || sr >= h) {
                memset(d, 0, sizeof(float) * (size_t)w);
                continue;
            }
            const float *s = xc + (size_t)sr * w;
            // d[j] = s[j + b - 1]
            if (b == 0) {
                d[0] = 0;
                memcpy(d + 1, s, sizeof(float) * (size_t)(w - 1));
            } else if (b == 1) {
                memcpy(d, s, sizeof(float) * (size_t)w);
            } else {
                memcpy(d, s + 1, sizeof(float) * (size_t)(w - 1));
                d[w - 1] = 0;
            }
        }
    }
}

// The im2col + sgemm path, for few channels where Winograd's GEMMs are too thin:
// y (n, ko, h, w) = conv(x (n, ci, h, w), wmat (ko, ci*9)) + bias, optional ReLU.
static int conv_im2col(float *y, const float *x, const float *wmat, const float *bias, int relu,
                       int n, int ci, int h, int w, int ko, nst_err *e) {
    size_t kdim = (size_t)9 * ci, hw = (size_t)h * w;
    size_t rows = chunk_rows(kdim, h, w);
    float *col = nst_cpu_scratch(kdim * rows * (size_t)w, e);
    if (!col) return -1;
    nst_cpu_blas_init();
    for (int img = 0; img < n; img++) {
        const float *xi = x + (size_t)img * ci * hw;
        float *yi = y + (size_t)img * ko * hw;
        for (int r0 = 0; r0 < h; r0 += (int)rows) {
            int nr = h - r0 < (int)rows ? h - r0 : (int)rows;
            int nb = nr * w;
#pragma omp parallel
            {
                im2col_rows(col, xi, ci, h, w, r0, nr); // ends with a barrier
                int64_t lo, hi; // this thread's columns [j0, j1) of the chunk
                nst_cpu_thread_slice(nb, NST_CPU_SLICE_ALIGN, &lo, &hi);
                int j0 = (int)lo, j1 = (int)hi;
                if (j1 > j0) {
                    float *yc = yi + (size_t)r0 * w + j0;
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ko, j1 - j0, (int)kdim,
                                1.0f, wmat, (int)kdim, col + j0, nb, 0.0f, yc, (int)hw);
                    if (bias || relu) {
                        for (int k = 0; k < ko; k++) {
                            float bk = bias ? bias[k] : 0.0f, *yr = yc + (size_t)k * hw;
                            if (relu)
                                for (int j = 0; j < j1 - j0; j++) {
                                    float v = yr[j] + bk;
                                    yr[j] = v > 0 ? v : 0;
                                }
                            else
                                for (int j = 0; j < j1 - j0; j++) yr[j] += bk;
                        }
                    }
                }
            }
        }
    }
    nst_cpu_free(col);
    return 0;
}

// Backward-data with few input channels c (the first layer's 3): instead of im2col of dy
// (9k rows) times a 3-row matrix, one GEMM with 9c rows, Z = Wᵀ dy, then each dx row
// gathers its 9 shifted Z rows (col2im):
//   dx[c][i][j] = sum over a, b of Z[(c, a, b)][i - a + 1][j - b + 1]
// Chunked over rows of dy like im2col; chunks run in order, so the rows they share are
// added to by one chunk at a time, and within a chunk each dx row has one thread.
// mask: NULL or like dy (a ReLU's output): dy is masked chunk by chunk into scratch.
static int bwd_data_col2im(float *dx, const float *dy, const float *mask, const float *w, int n,
                           int c, int h, int wd, int k, nst_err *e) {
    size_t kdim = (size_t)9 * c, hw = (size_t)h * wd;
    size_t rows = chunk_rows(kdim, h, wd);
    float *z = nst_cpu_scratch(kdim * rows * (size_t)wd, e);
    float *dm = z && mask ? nst_cpu_scratch((size_t)k * rows * wd, e) : NULL;
    if (!z || (mask && !dm)) {
        nst_cpu_free(z);
        return -1;
    }
    nst_cpu_blas_init();
    memset(dx, 0, sizeof(float) * (size_t)n * c * hw);
    for (int img = 0; img < n; img++) {
        const float *dyi = dy + (size_t)img * k * hw;
        float *dxi = dx + (size_t)img * c * hw;
        for (int r0 = 0; r0 < h; r0 += (int)rows) {
            int nr = h - r0 < (int)rows ? h - r0 : (int)rows;
            int nb = nr * wd;
            // dx rows this chunk reaches: r0 - 1 .. r0 + nr (inside the image)
            int i0 = r0 > 0 ? r0 - 1 : 0, i1 = r0 + nr < h ? r0 + nr : h - 1;
            int nrows_out = i1 - i0 + 1;
#pragma omp parallel
            {
                int64_t lo, hi; // this thread's columns [j0, j1) of the chunk
                nst_cpu_thread_slice(nb, NST_CPU_SLICE_ALIGN, &lo, &hi);
                int j0 = (int)lo, j1 = (int)hi;
                const float *src = dyi + (size_t)r0 * wd; // the chunk of dy, rows hw apart
                int ld = (int)hw;
                if (mask) { // this thread's columns of the chunk, masked, rows nb apart
                    const float *mi = mask + (size_t)img * k * hw + (size_t)r0 * wd;
                    for (int kk = 0; kk < k; kk++)
                        for (int j = j0; j < j1; j++)
                            dm[(size_t)kk * nb + j] =
                                mi[(size_t)kk * hw + j] > 0 ? src[(size_t)kk * hw + j] : 0;
                    src = dm, ld = nb;
                }
                if (j1 > j0) // Z[:, j0:j1] = Wᵀ (9c, k) dy[:, chunk columns j0:j1]
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)kdim, j1 - j0, k,
                                1.0f, w, (int)kdim, src + j0, ld, 0.0f, z + j0, nb);
#pragma omp barrier
#pragma omp for schedule(static)
                for (int q = 0; q < c * nrows_out; q++) {
                    int ch = q / nrows_out, ip = i0 + q % nrows_out;
                    float *d = dxi + (size_t)ch * hw + (size_t)ip * wd;
                    for (int a = 0; a < 3; a++) {
                        int i = ip - a + 1; // the dy row feeding dx row ip through kernel row a
                        if (i < r0 || i >= r0 + nr) continue;
                        for (int b = 0; b < 3; b++) {
                            const float *zr =
                                z + ((size_t)ch * 9 + a * 3 + b) * nb + (size_t)(i - r0) * wd;
                            // d[j] += zr[j - b + 1] where 0 <= j - b + 1 < wd
                            int jlo = b > 1 ? b - 1 : 0, jhi = b < 1 ? wd - 2 : wd - 1;
                            for (int j = jlo; j <= jhi; j++) d[j] += zr[j - b + 1];
                        }
                    }
                }
            }
        }
    }
    nst_cpu_free(z);
    nst_cpu_free(dm);
    return 0;
}

// Winograd's 16 GEMMs are (k, c) x (c, tiles): worth it once both are not thin.
static int use_winograd(int c, int k) { return c >= WINO_MIN_CH && k >= WINO_MIN_CH; }

static int conv_check(int n, int c, int h, int wd, int k, nst_err *e) {
    if (n < 1 || c < 1 || h < 1 || wd < 1 || k < 1)
        return nst_fail(e, "cpu: conv3x3 sizes n=%d c=%d h=%d w=%d k=%d", n, c, h, wd, k);
    if ((size_t)9 * c > (size_t)INT32_MAX || (size_t)h * wd > (size_t)INT32_MAX)
        return nst_fail(e, "cpu: conv3x3 too large for BLAS int sizes");
    return 0;
}

int nst_cpu_conv3x3_fwd(float *y, const float *x, const float *w, const float *bias, int n, int c,
                        int h, int wd, int k, int relu, nst_err *e) {
    if (conv_check(n, c, h, wd, k, e)) return -1;
    if (use_winograd(c, k))
        return nst_cpu_winograd(y, x, NULL, w, bias, relu, 0, n, c, h, wd, k, e);
    // w (k, c, 3, 3) is already the (k, 9c) matrix in im2col's row order.
    return conv_im2col(y, x, w, bias, relu, n, c, h, wd, k, e);
}

int nst_cpu_conv3x3_bwd_data(float *dx, const float *dy, const float *relu_y, const float *w, int n,
                             int c, int h, int wd, int k, nst_err *e) {
    if (conv_check(n, c, h, wd, k, e)) return -1;
    // dx = conv(dy, wt) with wt (c, k, 3, 3), wt[c][k][t] = w[k][c][8 - t]: the kernel
    // transposed and rotated. Winograd derives it from w's own transform. The ReLU mask
    // (relu_y) is applied where dy is read, without a masked copy of dy.
    if (use_winograd(k, c))
        return nst_cpu_winograd(dx, dy, relu_y, w, NULL, 0, 1, n, k, h, wd, c, e);
    if (c <= 8 && k > c) return bwd_data_col2im(dx, dy, relu_y, w, n, c, h, wd, k, e);
    if (relu_y) { // the rare remaining shapes: mask into a copy
        size_t total = (size_t)n * k * h * wd;
        float *masked = nst_cpu_scratch(total, e);
        if (!masked) return -1;
        nst_cpu_relu_bwd(masked, dy, relu_y, total, e);
        int rc = nst_cpu_conv3x3_bwd_data(dx, masked, NULL, w, n, c, h, wd, k, e);
        nst_cpu_free(masked);
        return rc;
    }
    float *wt = nst_cpu_scratch((size_t)9 * c * k, e);
    if (!wt) return -1;
    for (int ko = 0; ko < k; ko++)
        for (int ci = 0; ci < c; ci++)
            for (int t = 0; t < 9; t++)
                wt[((size_t)ci * k + ko) * 9 + t] = w[((size_t)ko * c + ci) * 9 + 8 - t];
    int rc = conv_im2col(dx, dy, wt, NULL, 0, n, k, h, wd, c, e);
    nst_cpu_free(wt);
    return rc;
}
