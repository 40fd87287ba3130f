// CPU twin of kernels/cuda_linalg.cu: square roots of symmetric matrices and W2's map
// s (s x s)^(-1/2) s through LAPACK's divide-and-conquer eigensolver (dsyevd, in OpenBLAS),
// all in double precision. The covariances of ReLU features are near-singular, and
// s x s squares their condition numbers (past 1e9 on VGG19's relu4_1), which float32
// cannot resolve: formed in float32, s x s loses its small eigenvalues to rounding.
#include <math.h>
#include <stdlib.h>

#include <cblas.h>

#include "cpu/cpu.h"

// Fortran LAPACK as OpenBLAS exports it (Debian's libopenblas-dev ships no lapack.h);
// the two trailing lengths are gfortran's hidden lengths of the character arguments.
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_len, size_t uplo_len);

// a (n, n) double = (x + x^T) / 2 of x (n, n) float
static void to_double_sym(double *a, const float *x, int n) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            a[(size_t)i * n + j] = 0.5 * ((double)x[(size_t)i * n + j] + x[(size_t)j * n + i]);
}

// Eigen-decomposes a (symmetric, overwritten by the eigenvectors: rows in row-major) into
// w, ascending, each raised to floor.
static int eigen(double *a, double *w, int n, double floor, nst_err *e) {
    int lwork = -1, liwork = -1, info = 0, iq = 0;
    double wq = 0;
    dsyevd_("V", "L", &n, a, &n, w, &wq, &lwork, &iq, &liwork, &info, 1, 1);
    if (info != 0) return nst_fail(e, "cpu: dsyevd workspace query failed (%d)", info);
    lwork = (int)wq, liwork = iq;
    double *work = malloc(sizeof(double) * (size_t)lwork);
    int *iwork = malloc(sizeof(int) * (size_t)liwork);
    if (!work || !iwork) {
        free(work), free(iwork);
        return nst_fail(e, "cpu: out of memory for the eigensolver's workspace (n=%d)", n);
    }
    dsyevd_("V", "L", &n, a, &n, w, work, &lwork, iwork, &liwork, &info, 1, 1);
    free(work), free(iwork);
    if (info != 0)
        return nst_fail(e, "cpu: the eigensolver did not converge (dsyevd info %d)", info);
    for (int j = 0; j < n; j++) w[j] = w[j] < floor ? floor : w[j];
    return 0;
}

// out (n, n) float = B^T B, with b's row j scaled by g[j] first (b overwritten); c scratch.
static void gram_of_rows(float *out, double *b, const double *g, double *c, int n) {
    for (int j = 0; j < n; j++)
        for (int i = 0; i < n; i++) b[(size_t)j * n + i] *= g[j];
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, n, 1.0, b, n, b, n, 0.0, c, n);
    for (size_t i = 0; i < (size_t)n * n; i++) out[i] = (float)c[i];
}

static int linalg_sizes(const char *what, int n, float floor, nst_err *e) {
    if (n < 1 || n > 65536) return nst_fail(e, "cpu: %s size n=%d", what, n);
    if (!(floor >= 0)) return nst_fail(e, "cpu: %s floor must be >= 0, got %g", what, floor);
    nst_cpu_blas_init();
    return 0;
}

// X = E^T diag(w) E, so X^(1/2) = B^T B with B = diag(w^(1/4)) E.
int nst_cpu_sym_sqrt(float *root, const float *x, int n, float floor, nst_err *e) {
    if (linalg_sizes("sym_sqrt", n, floor, e)) return -1;
    size_t nn = (size_t)n * n;
    double *a = malloc(sizeof(double) * (2 * nn + 2 * (size_t)n));
    if (!a) return nst_fail(e, "cpu: sym_sqrt: out of memory for %dx%d", n, n);
    double *c = a + nn, *w = c + nn, *g = w + n;
    to_double_sym(a, x, n);
    int rc = eigen(a, w, n, floor, e);
    if (!rc) {
        for (int j = 0; j < n; j++) g[j] = sqrt(sqrt(w[j]));
        gram_of_rows(root, a, g, c, n);
    }
    free(a);
    return rc;
}

// X = s x s = E^T diag(w) E; s X^(-1/2) s = B^T B with B = diag(w^(-1/4)) E s.
int nst_cpu_w2_map(float *map, float *trace1, const float *s, const float *x, int n, float floor,
                   nst_err *e) {
    if (linalg_sizes("w2_map", n, floor, e)) return -1;
    if (!(floor > 0)) return nst_fail(e, "cpu: w2_map needs floor > 0, got %g", floor);
    size_t nn = (size_t)n * n;
    double *sd = malloc(sizeof(double) * (4 * nn + 2 * (size_t)n));
    if (!sd) return nst_fail(e, "cpu: w2_map: out of memory for %dx%d", n, n);
    double *xd = sd + nn, *a = xd + nn, *c = a + nn, *w = c + nn, *g = w + n;
    to_double_sym(sd, s, n);
    to_double_sym(xd, x, n);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, sd, n, xd, n, 0.0, c, n);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, c, n, sd, n, 0.0, a, n);
    int rc = eigen(a, w, n, floor, e);
    if (!rc) {
        double tr = 0;
        for (int j = 0; j < n; j++) tr += sqrt(w[j]), g[j] = 1.0 / sqrt(sqrt(w[j]));
        *trace1 = (float)tr;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, a, n, sd, n, 0.0, xd,
                    n); // E s
        gram_of_rows(map, xd, g, c, n);
    }
    free(sd);
    return rc;
}
