// CPU 3x3 convolution (stride 1, pad 1), GEMM and Gram on OpenBLAS sgemm/ssyrk.
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
// Column slices handed to threads are multiples of this (whole vectors).
#define COL_ALIGN 16
// Fewest input and output channels for the Winograd path.
#define WINO_MIN_CH 16

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

// y (n, ko, h, w) = conv(x (n, ci, h, w), wmat (ko, ci*9)) + bias, optional ReLU.
int nst_cpu_conv_im2col(float *y, const float *x, const float *wmat, const float *bias, int relu,
                        int n, int ci, int h, int w, int ko, nst_err *e) {
    size_t kdim = (size_t)9 * ci, hw = (size_t)h * w;
    // Rows per chunk: as many as fit the budget, at least one.
    size_t rows = COL_BUDGET / (kdim * (size_t)w);
    if (rows < 1) rows = 1;
    if (rows > (size_t)h) rows = (size_t)h;
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
                int nt = omp_get_num_threads(), t = omp_get_thread_num();
                // This thread's columns [j0, j1) of the chunk.
                int per = (nb + nt - 1) / nt;
                per = (per + COL_ALIGN - 1) / COL_ALIGN * COL_ALIGN;
                int j0 = t * per < nb ? t * per : nb, j1 = j0 + per < nb ? j0 + per : nb;
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
    size_t rows = COL_BUDGET / (kdim * (size_t)wd);
    if (rows < 1) rows = 1;
    if (rows > (size_t)h) rows = (size_t)h;
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
                int nt = omp_get_num_threads(), t = omp_get_thread_num();
                int per = (nb + nt - 1) / nt;
                per = (per + COL_ALIGN - 1) / COL_ALIGN * COL_ALIGN;
                int j0 = t * per < nb ? t * per : nb, j1 = j0 + per < nb ? j0 + per : nb;
                const float *src = dyi + (size_t)r0 * wd; // the chunk of dy, rows hw apart
                int ld = (int)hw;
                if (mask) { // this thread's columns of the chunk, masked, rows nb apart
                    const float *mi = mask + (size_t)img * k * hw + (size_t)r0 * wd;
                    for (int kk = 0; kk < k; kk++)
                        for (int j = j0; j < j1; j++)
                            dm[(size_t)kk * nb + j] = mi[(size_t)kk * hw + j] > 0 ? src[(size_t)kk * hw + j] : 0;
                    src = dm, ld = nb;
                }
                if (j1 > j0) // Z[:, j0:j1] = Wᵀ (9c, k) dy[:, chunk columns j0:j1]
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)kdim, j1 - j0, k, 1.0f,
                                w, (int)kdim, src + j0, ld, 0.0f, z + j0, nb);
#pragma omp barrier
#pragma omp for schedule(static)
                for (int q = 0; q < c * nrows_out; q++) {
                    int ch = q / nrows_out, ip = i0 + q % nrows_out;
                    float *d = dxi + (size_t)ch * hw + (size_t)ip * wd;
                    for (int a = 0; a < 3; a++) {
                        int i = ip - a + 1; // the dy row feeding dx row ip through kernel row a
                        if (i < r0 || i >= r0 + nr) continue;
                        for (int b = 0; b < 3; b++) {
                            const float *zr = z + ((size_t)ch * 9 + a * 3 + b) * nb + (size_t)(i - r0) * wd;
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
    if (use_winograd(c, k)) return nst_cpu_winograd(y, x, NULL, w, bias, relu, 0, n, c, h, wd, k, e);
    // w (k, c, 3, 3) is already the (k, 9c) matrix in im2col's row order.
    return nst_cpu_conv_im2col(y, x, w, bias, relu, n, c, h, wd, k, e);
}

int nst_cpu_conv3x3_bwd_data(float *dx, const float *dy, const float *relu_y, const float *w, int n,
                             int c, int h, int wd, int k, nst_err *e) {
    if (conv_check(n, c, h, wd, k, e)) return -1;
    // dx = conv(dy, wt) with wt (c, k, 3, 3), wt[c][k][t] = w[k][c][8 - t]: the kernel
    // transposed and rotated. Winograd derives it from w's own transform. The ReLU mask
    // (relu_y) is applied where dy is read, without a masked copy of dy.
    if (use_winograd(k, c)) return nst_cpu_winograd(dx, dy, relu_y, w, NULL, 0, 1, n, k, h, wd, c, e);
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
    int rc = nst_cpu_conv_im2col(dx, dy, wt, NULL, 0, n, k, h, wd, c, e);
    nst_cpu_free(wt);
    return rc;
}

// Below this many flops one thread is faster than two.
#define GEMM_PAR_FLOPS 4e6

int nst_cpu_gemm(float *c, const float *a, const float *b, int m, int n, int k, int trans_a,
                 int trans_b, float alpha, float beta, nst_err *e) {
    if (m < 1 || n < 1 || k < 1) return nst_fail(e, "cpu: gemm sizes m=%d n=%d k=%d", m, n, k);
    nst_cpu_blas_init();
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    int lda = trans_a ? m : k, ldb = trans_b ? k : n;
    double flops = 2.0 * m * n * k;
    // Split the larger of m and n among the threads; each calls single-threaded sgemm.
    int split_m = m >= n;
#pragma omp parallel if (flops > GEMM_PAR_FLOPS)
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int len = split_m ? m : n, per = (len + nt - 1) / nt;
        if (!split_m) per = (per + COL_ALIGN - 1) / COL_ALIGN * COL_ALIGN;
        int i0 = t * per < len ? t * per : len, i1 = i0 + per < len ? i0 + per : len;
        if (i1 > i0) {
            if (split_m) {
                // rows i0.. of op(A): (m, k) row-major, or column i0 of stored (k, m)
                const float *as = trans_a ? a + i0 : a + (size_t)i0 * k;
                cblas_sgemm(CblasRowMajor, ta, tb, i1 - i0, n, k, alpha, as, lda, b, ldb, beta,
                            c + (size_t)i0 * n, n);
            } else {
                const float *bs = trans_b ? b + (size_t)i0 * k : b + i0;
                cblas_sgemm(CblasRowMajor, ta, tb, m, i1 - i0, k, alpha, a, lda, bs, ldb, beta,
                            c + i0, n);
            }
        }
    }
    return 0;
}

// F's rows are m floats apart; when m is a multiple of a large power of two, the rows
// of a panel fall into the same cache sets and ssyrk slows down by ~30%. Such F is
// copied slice by slice into a buffer whose rows are GRAM_PAD floats longer.
#define GRAM_PAD 16
#define GRAM_SLICE_FLOATS (256u << 10)

// Lower triangle of dst (c, c) = scale * F[:, k0:k1] F[:, k0:k1]^T, f (c, m).
static void gram_slice(float *dst, const float *f, int c, int64_t m, int64_t k0, int64_t k1,
                       float scale, float *buf, int64_t sl) {
    if (!buf) {
        cblas_ssyrk(CblasRowMajor, CblasLower, CblasNoTrans, c, (int)(k1 - k0), scale, f + k0, (int)m,
                    0.0f, dst, c);
        return;
    }
    int ld = (int)sl + GRAM_PAD;
    for (int64_t s = k0; s < k1; s += sl) {
        int len = (int)(k1 - s < sl ? k1 - s : sl);
        for (int i = 0; i < c; i++) memcpy(buf + (size_t)i * ld, f + (size_t)i * m + s, sizeof(float) * len);
        cblas_ssyrk(CblasRowMajor, CblasLower, CblasNoTrans, c, len, scale, buf, ld, s == k0 ? 0.0f : 1.0f,
                    dst, c);
    }
}

int nst_cpu_gram(float *out, const float *f, int batch, int c, int64_t m, float scale, nst_err *e) {
    if (batch < 1 || c < 1 || m < 1 || m > INT32_MAX)
        return nst_fail(e, "cpu: gram sizes batch=%d c=%d m=%lld", batch, c, (long long)m);
    nst_cpu_blas_init();
    // Threads split the long dimension m: thread t computes the lower triangle of
    // F[:, slice_t] F[:, slice_t]^T with ssyrk (faster than sgemm here, half the flops)
    // into out (t = 0) or a private (c, c) buffer, and the buffers are added.
    int nth = (double)c * c * m > GEMM_PAR_FLOPS ? omp_get_max_threads() : 1;
    size_t cc = (size_t)c * c;
    int64_t sl = GRAM_SLICE_FLOATS / c;
    sl = sl < 256 ? 256 : sl / COL_ALIGN * COL_ALIGN;
    int copy = m % 512 == 0 && m > sl;
    size_t bufsz = copy ? (size_t)c * (size_t)(sl + GRAM_PAD) : 0;
    float *part = nst_cpu_scratch(cc * (size_t)(nth - 1) + bufsz * (size_t)nth + 1, e);
    if (!part) return -1;
    float *bufs = part + cc * (size_t)(nth - 1);
    for (int bi = 0; bi < batch; bi++) {
        const float *fb = f + (size_t)bi * c * (size_t)m;
        float *g = out + (size_t)bi * cc;
#pragma omp parallel num_threads(nth)
        {
            int nt = omp_get_num_threads(), t = omp_get_thread_num();
            int64_t per = (m + nt - 1) / nt;
            per = (per + COL_ALIGN - 1) / COL_ALIGN * COL_ALIGN;
            int64_t k0 = t * per < m ? t * per : m, k1 = k0 + per < m ? k0 + per : m;
            float *dst = t == 0 ? g : part + cc * (size_t)(t - 1);
            if (k1 > k0)
                gram_slice(dst, fb, c, m, k0, k1, scale, copy ? bufs + bufsz * (size_t)t : NULL, sl);
            else
                memset(dst, 0, sizeof(float) * cc);
#pragma omp barrier
            // Sum the partial lower triangles, then mirror into the upper one.
#pragma omp for schedule(static)
            for (int i = 0; i < c; i++) {
                float *gi = g + (size_t)i * c;
                for (int p = 0; p < nt - 1; p++) {
                    const float *pi = part + cc * (size_t)p + (size_t)i * c;
                    for (int j = 0; j <= i; j++) gi[j] += pi[j];
                }
            }
#pragma omp for schedule(static)
            for (int i = 0; i < c; i++)
                for (int j = i + 1; j < c; j++) g[(size_t)i * c + j] = g[(size_t)j * c + i];
        }
    }
    nst_cpu_free(part);
    return 0;
}
