// Square roots of symmetric matrices and W2's map s (s x s)^(-1/2) s on the GPU (the CPU
// twin is src/cpu/cpu_linalg.c), in double precision like the CPU: cuSOLVER's Jacobi
// eigensolver (syevj: on the device throughout, no host synchronization, accurate on the
// near-singular covariances of ReLU features) and cublasDgemm. All matrices here are
// symmetric or products whose column-major reading is spelled out.
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

// One block: the eigenvalues w raised to floor; g = lambda^(1/4) (inverse: lambda^(-1/4));
// trace1 (may be NULL) = sum sqrt(lambda); all NaN when the solver failed (info != 0).
__global__ void eigen_factors_kernel(double *g, float *trace1, const double *w, int n, double floor,
                                     int inverse, const int *info) {
    __shared__ double part[NST_CU_THREADS];
    double nan = __longlong_as_double(0x7ff8000000000000LL), acc = 0;
    int failed = *info != 0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        double l = w[j] < floor ? floor : w[j], q = sqrt(sqrt(l));
        g[j] = failed ? nan : inverse ? 1.0 / q : q;
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

// v (n, n) column-major: column j scaled by g[j], in place
__global__ void scale_columns_kernel(double *v, const double *g, int n, size_t total) {
    NST_CU_GRID_STRIDE(idx, total) v[idx] *= g[idx / n];
}

__global__ void to_float_kernel(float *out, const double *c, size_t total) {
    NST_CU_GRID_STRIDE(idx, total) out[idx] = (float)c[idx];
}

// Column-major c = a op(b) (tb: b transposed), n x n doubles.
static int dgemm(double *c, const double *a, const double *b, int n, int tb, nst_err *e) {
    cublasHandle_t h;
    const double one = 1.0, zero = 0.0;
    if (nst_cu_cublas(&h, e)) return -1;
    return nst_cublas_check(cublasDgemm(h, CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, n, n, n,
                                        &one, a, n, b, n, &zero, c, n),
                            "cublasDgemm (cuda_linalg)", e);
}

// Eigen-decomposes a (symmetric; overwritten by the eigenvectors as columns) and writes
// the factors g and the trace (eigen_factors_kernel); w receives the eigenvalues.
static int eigen(double *a, double *g, float *trace1, double *w, int *info, int n, double floor,
                 int inverse, cudaStream_t s, nst_err *e) {
    cusolverDnHandle_t h;
    if (solver(&h, e)) return -1;
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
    eigen_factors_kernel<<<1, NST_CU_THREADS, 0, s>>>(g, trace1, w, n, floor, inverse, info);
    return nst_cu_launched("eigen_factors_kernel", e);
}

// The scratch of one call: k (n, n) double matrices, n eigenvalues, n factors, the info.
struct scratch {
    double *m[4], *w, *g;
    int *info;
};

static int scratch_get(scratch *t, int k, int n, nst_err *e) {
    size_t nn = (size_t)n * n;
    double *p = (double *)nst_cu_alloc(sizeof(double) * (k * nn + 2 * (size_t)n), e);
    t->info = p ? (int *)nst_cu_alloc(sizeof(int), e) : NULL;
    if (!t->info) {
        nst_cu_free(p);
        return -1;
    }
    for (int i = 0; i < k; i++) t->m[i] = p + i * nn;
    t->w = p + k * nn, t->g = t->w + n;
    return 0;
}

static void scratch_free(scratch *t) {
    nst_cu_free(t->m[0]);
    nst_cu_free(t->info);
}

static int linalg_start(const char *what, int n, float floor, cudaStream_t *s, nst_err *e) {
    if (n < 1 || n > 65536) return nst_fail(e, "%s: bad size n=%d", what, n);
    if (!(floor >= 0)) return nst_fail(e, "%s: floor must be >= 0, got %g", what, floor);
    return nst_cu_stream(s, e);
}

// X = V diag(w) V^T, X^(1/2) = B B^T with B = V diag(w^(1/4)).
int nst_cu_sym_sqrt(float *root, const float *x, int n, float floor, nst_err *e) {
    cudaStream_t s;
    scratch t;
    if (linalg_start("sym_sqrt", n, floor, &s, e) || scratch_get(&t, 2, n, e)) return -1;
    size_t total = (size_t)n * n;
    sym_to_double_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(t.m[0], x, n, total);
    int rc = nst_cu_launched("sym_to_double_kernel", e);
    if (!rc) rc = eigen(t.m[0], t.g, NULL, t.w, t.info, n, floor, 0, s, e);
    if (!rc) {
        scale_columns_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(t.m[0], t.g, n, total);
        rc = nst_cu_launched("scale_columns_kernel", e);
    }
    if (!rc) rc = dgemm(t.m[1], t.m[0], t.m[0], n, 1, e); // B B^T
    if (!rc) {
        to_float_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(root, t.m[1], total);
        rc = nst_cu_launched("to_float_kernel", e);
    }
    scratch_free(&t);
    return rc;
}

// X = s x s = V diag(w) V^T; s X^(-1/2) s = B B^T with B = s V diag(w^(-1/4)).
int nst_cu_w2_map(float *map, float *trace1, const float *s_in, const float *x, int n, float floor,
                  nst_err *e) {
    cudaStream_t s;
    scratch t;
    if (linalg_start("w2_map", n, floor, &s, e)) return -1;
    if (!(floor > 0)) return nst_fail(e, "w2_map: floor must be > 0, got %g", floor);
    if (scratch_get(&t, 4, n, e)) return -1;
    size_t total = (size_t)n * n;
    double *sd = t.m[0], *xd = t.m[1], *a = t.m[2], *c = t.m[3];
    sym_to_double_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(sd, s_in, n, total);
    sym_to_double_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(xd, x, n, total);
    int rc = nst_cu_launched("sym_to_double_kernel", e);
    if (!rc) rc = dgemm(c, sd, xd, n, 0, e); // s x
    if (!rc) rc = dgemm(a, c, sd, n, 0, e); // s x s
    if (!rc) rc = eigen(a, t.g, trace1, t.w, t.info, n, floor, 1, s, e);
    if (!rc) {
        scale_columns_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(a, t.g, n, total);
        rc = nst_cu_launched("scale_columns_kernel", e);
    }
    if (!rc) rc = dgemm(c, sd, a, n, 0, e); // B = s V diag(g)
    if (!rc) rc = dgemm(xd, c, c, n, 1, e); // B B^T
    if (!rc) {
        to_float_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(map, xd, total);
        rc = nst_cu_launched("to_float_kernel", e);
    }
    scratch_free(&t);
    return rc;
}
