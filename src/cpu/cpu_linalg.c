// CPU twin of kernels/cuda_linalg.cu: square roots of symmetric matrices through
// LAPACK's divide-and-conquer eigensolver (dsyevd, in OpenBLAS) in double precision.
// The covariances of ReLU features are near-singular (condition numbers past 1e8 once
// multiplied as in W2's S Sigma S), which float32 cannot resolve; in double the
// eigenvalues above the caller's floor come out to ~1e-16 relative.
#include <math.h>
#include <stdlib.h>

#include <cblas.h>

#include "cpu/cpu.h"

// Fortran LAPACK as OpenBLAS exports it (Debian's libopenblas-dev ships no lapack.h);
// the two trailing lengths are gfortran's hidden lengths of the character arguments.
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_len, size_t uplo_len);

// out (n, n) float = E^T diag(g^2) E, E (n, n) row-major with the eigenvectors as rows;
// b is scratch for diag(g) E.
static void from_eigen(float *out, const double *ev, const double *g, double *b, int n) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++) b[(size_t)j * n + i] = g[j] * ev[(size_t)j * n + i];
    double *c = b + (size_t)n * n;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, n, 1.0, b, n, b, n, 0.0, c, n);
    for (size_t i = 0; i < (size_t)n * n; i++) out[i] = (float)c[i];
}

// Eigen-decomposes x (symmetrized) into a (eigenvectors, rows in row-major) and w.
static int eigen(double *a, double *w, const float *x, int n, nst_err *e) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            a[(size_t)i * n + j] = 0.5 * ((double)x[(size_t)i * n + j] + x[(size_t)j * n + i]);
    int lwork = -1, liwork = -1, info = 0, iq = 0;
    double wq = 0;
    dsyevd_("V", "L", &n, a, &n, w, &wq, &lwork, &iq, &liwork, &info, 1, 1);
    if (info != 0) return nst_fail(e, "cpu: sym_sqrt: dsyevd workspace query failed (%d)", info);
    lwork = (int)wq, liwork = iq;
    double *work = malloc(sizeof(double) * (size_t)lwork);
    int *iwork = malloc(sizeof(int) * (size_t)liwork);
    if (!work || !iwork) {
        free(work), free(iwork);
        return nst_fail(e, "cpu: sym_sqrt: out of memory for %dx%d", n, n);
    }
    dsyevd_("V", "L", &n, a, &n, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    free(work), free(iwork);
    if (info != 0)
        return nst_fail(e, "cpu: sym_sqrt: the eigensolver did not converge (dsyevd info %d)",
                        info);
    return 0;
}

int nst_cpu_sym_sqrt(float *root, float *inv_root, float *trace1, const float *x, int n,
                     float floor, nst_err *e) {
    if (n < 1 || n > 65536) return nst_fail(e, "cpu: sym_sqrt size n=%d", n);
    if (!(floor >= 0)) return nst_fail(e, "cpu: sym_sqrt floor must be >= 0, got %g", floor);
    nst_cpu_blas_init();
    size_t nn = (size_t)n * n;
    // a: eigenvectors; b, c: from_eigen's scratch; w: eigenvalues; g: the factors
    double *a = malloc(sizeof(double) * (3 * nn + 2 * (size_t)n));
    if (!a) return nst_fail(e, "cpu: sym_sqrt: out of memory for %dx%d", n, n);
    double *b = a + nn, *w = a + 3 * nn, *g = w + n;
    int rc = eigen(a, w, x, n, e);
    if (!rc) {
        double tr = 0;
        for (int j = 0; j < n; j++) {
            w[j] = w[j] < floor ? floor : w[j];
            tr += sqrt(w[j]);
        }
        if (trace1) *trace1 = (float)tr;
        if (root) {
            for (int j = 0; j < n; j++) g[j] = sqrt(sqrt(w[j])); // (λ^½)^½ per side
            from_eigen(root, a, g, b, n);
        }
        if (inv_root) {
            for (int j = 0; j < n; j++) g[j] = 1.0 / sqrt(sqrt(w[j]));
            from_eigen(inv_root, a, g, b, n);
        }
    }
    free(a);
    return rc;
}
