// CPU GEMM and Gram matrices (twin of kernels/cuda_blas.cu) on single-threaded
// OpenBLAS sgemm / ssyrk, with the threads (OpenMP) splitting the work.
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "cpu/cpu.h"

void nst_cpu_blas_init(void) {
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
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
        int64_t lo, hi;
        nst_cpu_thread_slice(split_m ? m : n, split_m ? 1 : NST_CPU_SLICE_ALIGN, &lo, &hi);
        int i0 = (int)lo, i1 = (int)hi;
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
        cblas_ssyrk(CblasRowMajor, CblasLower, CblasNoTrans, c, (int)(k1 - k0), scale, f + k0,
                    (int)m, 0.0f, dst, c);
        return;
    }
    int ld = (int)sl + GRAM_PAD;
    for (int64_t s = k0; s < k1; s += sl) {
        int len = (int)(k1 - s < sl ? k1 - s : sl);
        for (int i = 0; i < c; i++)
            memcpy(buf + (size_t)i * ld, f + (size_t)i * m + s, sizeof(float) * len);
        cblas_ssyrk(CblasRowMajor, CblasLower, CblasNoTrans, c, len, scale, buf, ld,
                    s == k0 ? 0.0f : 1.0f, dst, c);
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
    sl = sl < 256 ? 256 : sl / NST_CPU_SLICE_ALIGN * NST_CPU_SLICE_ALIGN;
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
            int64_t k0, k1;
            nst_cpu_thread_slice(m, NST_CPU_SLICE_ALIGN, &k0, &k1);
            float *dst = t == 0 ? g : part + cc * (size_t)(t - 1);
            if (k1 > k0)
                gram_slice(dst, fb, c, m, k0, k1, scale, copy ? bufs + bufsz * (size_t)t : NULL,
                           sl);
            else memset(dst, 0, sizeof(float) * cc);
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
