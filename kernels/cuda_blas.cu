// GEMM and Gram matrices through cuBLAS (column-major), on the backend's stream.
// Math mode (FP32 or TF32 tensor cores) is set on the handle by cuda_context.cu.
#include <limits.h>

#include "cuda_internal.h"

// Row-major C (m,n) = alpha op(A) op(B) + beta C. A row-major matrix is its own
// transpose in column-major, so compute C^T (n,m) = op(B)^T op(A)^T column-major:
// B is passed first with its own transpose flag. Leading dimensions are the stored
// row lengths: A stored (m,k) or, transposed, (k,m); B stored (k,n) or (n,k).
int nst_cu_gemm(float *c, const float *a, const float *b, int m, int n, int k, int trans_a,
                int trans_b, float alpha, float beta, nst_err *e) {
    if (m < 0 || n < 0 || k < 0) return nst_fail(e, "gemm: bad sizes m=%d n=%d k=%d", m, n, k);
    cublasHandle_t h;
    if (nst_cu_cublas(&h, e)) return -1;
    if (m == 0 || n == 0) return 0;
    int lda = trans_a ? m : k, ldb = trans_b ? k : n;
    if (lda < 1) lda = 1;
    if (ldb < 1) ldb = 1;
    return nst_cublas_check(cublasSgemm(h, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                        trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, b,
                                        ldb, a, lda, &beta, c, n),
                            "cublasSgemm", e);
}

// out (batch, c, c) = scale F F^T, F (batch, c, m) row-major. F row-major (c,m) is
// column-major (m,c) =: X, and F F^T = X^T X, which is symmetric, so its row- and
// column-major layouts agree. One strided-batched call covers the batch.
int nst_cu_gram(float *out, const float *f, int batch, int c, int64_t m, float scale, nst_err *e) {
    if (batch < 1 || c < 1 || m < 1)
        return nst_fail(e, "gram: bad sizes batch=%d c=%d m=%lld", batch, c, (long long)m);
    if (m > INT_MAX) return nst_fail(e, "gram: m = %lld exceeds cuBLAS's int range", (long long)m);
    cublasHandle_t h;
    if (nst_cu_cublas(&h, e)) return -1;
    const float zero = 0.0f;
    long long stride_f = (long long)c * m, stride_out = (long long)c * c;
    int mi = (int)m;
    return nst_cublas_check(cublasSgemmStridedBatched(h, CUBLAS_OP_T, CUBLAS_OP_N, c, c, mi, &scale,
                                                      f, mi, stride_f, f, mi, stride_f, &zero, out,
                                                      c, stride_out, batch),
                            "cublasSgemmStridedBatched (gram)", e);
}
