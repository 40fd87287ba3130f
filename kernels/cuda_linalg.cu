// Square roots of symmetric matrices on the GPU (the CPU twin is src/cpu/cpu_linalg.c),
// in double precision like the CPU: cuSOLVER's Jacobi eigensolver (syevj: on the device
// throughout, no host synchronization, accurate on the near-singular covariances of ReLU
// features), then X^(1/2) and X^(-1/2) as (V G)(V G)^T with cublasDgemm, G the diagonal of
// the eigenvalues' fourth roots (or their inverses).
#include <cusolverDn.h>
#include <math.h>

#include "cuda_internal.h"

// One solver handle on the backend's stream, made on first use (cuSOLVER allocates a
// little device memory of its own when created).
static cusolverDnHandle_t g_solver;
static syevjInfo_t g_syevj;

static int solver_check(cusolverStatus_t st, const char *what, nst_err *e) {
    if (st == CUSOLVER_STATUS_SUCCESS) return 0;
    return nst_fail(e, "cuSOLVER %s failed (status %d)", what, (int)st);
}

static int solver(cusolverDnHandle_t *h, nst_err *e) {
    if (!g_solver) {
        cudaStream_t s;
        if (nst_cu_stream(&s, e)) return -1;
        cusolverDnHandle_t nh;
        if (solver_check(cusolverDnCreate(&nh), "cusolverDnCreate", e)) return -1;
        if (solver_check(cusolverDnSetStream(nh, s), "cusolverDnSetStream", e) ||
            solver_check(cusolverDnCreateSyevjInfo(&g_syevj), "cusolverDnCreateSyevjInfo", e)) {
            cusolverDnDestroy(nh);
            return -1;
        }
        g_solver = nh;
    }
    *h = g_solver;
    return 0;
}

// a (n, n) double = (x + x^T) / 2
__global__ void sym_to_double_kernel(double *a, const float *x, int n, size_t total) {
    NST_CU_GRID_STRIDE(idx, total) {
        size_t i = idx / n, j = idx % n;
        a[idx] = 0.5 * ((double)x[idx] + (double)x[j * n + i]);
    }
}

// One block: eigenvalues raised to floor; g_root = lambda^(1/4), g_inv = lambda^(-1/4)
// (either may be NULL), trace1 = sum sqrt(lambda); all NaN when the solver failed.
__global__ void eigen_factors_kernel(double *g_root, double *g_inv, float *trace1, const double *w,
                                     int n, double floor, const int *info) {
    __shared__ double part[NST_CU_THREADS];
    double nan = __longlong_as_double(0x7ff8000000000000LL), acc = 0;
    int failed = *info != 0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        double l = w[j] < floor ? floor : w[j], q = sqrt(sqrt(l));
        if (g_root) g_root[j] = failed ? nan : q;
        if (g_inv) g_inv[j] = failed ? nan : 1.0 / q;
        acc += sqrt(l);
    }
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) { // fixed order: deterministic
        if ((int)threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0 && trace1) *trace1 = failed ? (float)nan : (float)part[0];
}

// b (n, n) column-major = v with column j scaled by g[j]
__global__ void scale_columns_kernel(double *b, const double *v, const double *g, int n,
                                     size_t total) {
    NST_CU_GRID_STRIDE(idx, total) b[idx] = v[idx] * g[idx / n];
}

__global__ void to_float_kernel(float *out, const double *c, size_t total) {
    NST_CU_GRID_STRIDE(idx, total) out[idx] = (float)c[idx];
}

// out = (V G)(V G)^T: symmetric, so its column-major result is also the row-major one.
static int from_eigen(float *out, const double *v, const double *g, double *b, int n,
                      cudaStream_t s, nst_err *e) {
    size_t total = (size_t)n * n;
    double *c = b + total;
    scale_columns_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(b, v, g, n, total);
    if (nst_cu_launched("scale_columns_kernel", e)) return -1;
    cublasHandle_t h;
    const double one = 1.0, zero = 0.0;
    if (nst_cu_cublas(&h, e) || nst_cublas_check(cublasDgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, n, n, n,
                                                             &one, b, n, b, n, &zero, c, n),
                                                 "cublasDgemm (sym_sqrt)", e))
        return -1;
    to_float_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(out, c, total);
    return nst_cu_launched("to_float_kernel", e);
}

// The eigen-decomposition into a (the eigenvectors, column-major) and w, and the factors.
static int eigen(double *a, double *w, double *g, int *info, const float *x, int n,
                 const float *root, const float *inv, float *trace1, double floor, cudaStream_t s,
                 nst_err *e) {
    cusolverDnHandle_t h;
    if (solver(&h, e)) return -1;
    size_t total = (size_t)n * n;
    sym_to_double_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(a, x, n, total);
    if (nst_cu_launched("sym_to_double_kernel", e)) return -1;
    int lwork = 0;
    if (solver_check(cusolverDnDsyevj_bufferSize(h, CUSOLVER_EIG_MODE_VECTOR,
                                                 CUBLAS_FILL_MODE_LOWER, n, a, n, w, &lwork,
                                                 g_syevj),
                     "cusolverDnDsyevj_bufferSize", e))
        return -1;
    double *work = (double *)nst_cu_alloc(sizeof(double) * (size_t)(lwork > 0 ? lwork : 1), e);
    if (!work) return -1;
    int rc = solver_check(cusolverDnDsyevj(h, CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_LOWER, n,
                                           a, n, w, work, lwork, info, g_syevj),
                          "cusolverDnDsyevj", e);
    nst_cu_free(work); // stream order: reused only by later work
    if (rc) return -1;
    eigen_factors_kernel<<<1, NST_CU_THREADS, 0, s>>>(root ? g : NULL, inv ? g + n : NULL, trace1,
                                                      w, n, floor, info);
    return nst_cu_launched("eigen_factors_kernel", e);
}

int nst_cu_sym_sqrt(float *root, float *inv_root, float *trace1, const float *x, int n, float floor,
                    nst_err *e) {
    if (n < 1 || n > 65536) return nst_fail(e, "sym_sqrt: bad size n=%d", n);
    if (!(floor >= 0)) return nst_fail(e, "sym_sqrt: floor must be >= 0, got %g", floor);
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    size_t nn = (size_t)n * n;
    // a: eigenvectors; b, b + nn: from_eigen's scratch; w: eigenvalues; g: 2n factors
    double *a = (double *)nst_cu_alloc(sizeof(double) * (3 * nn + 3 * (size_t)n), e);
    int *info = (int *)nst_cu_alloc(sizeof(int), e);
    int rc = a && info ? 0 : -1;
    if (!rc) {
        double *b = a + nn, *w = a + 3 * nn, *g = w + n;
        rc = eigen(a, w, g, info, x, n, root, inv_root, trace1, floor, s, e);
        if (!rc && root) rc = from_eigen(root, a, g, b, n, s, e);
        if (!rc && inv_root) rc = from_eigen(inv_root, a, g + n, b, n, s, e);
    }
    nst_cu_free(a);
    nst_cu_free(info);
    return rc;
}
