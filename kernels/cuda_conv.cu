// 3x3, stride 1, pad 1 convolution (NCHW float) through cuDNN's convolution API:
// forward with a bias + ReLU epilogue kernel, and backward-data.
//
// A plan (descriptors + algorithm + workspace size) is made once per (direction,
// n, c, h, w, k, precision) with cudnnFind*AlgorithmEx on the call's own buffers; Find
// synchronizes and may run every algorithm, so the first call per shape is slow and
// later calls queue work only. Workspace comes from the arena.
//
// Precision (cuda_context.cu): fp32 accepts only FMA-math algorithms (falling back to
// implicit GEMM), tf32 takes the fastest float algorithm cuDNN offers, bf16 converts
// x/dy and w to bf16 scratch each call, runs the convolution with float accumulation
// and converts the output back to float in the epilogue.
//
// Bias and ReLU use our own epilogue kernel rather than
// cudnnConvolutionBiasActivationForward, whose identity activation only works with one
// algorithm: one extra pass over y, in exchange for any algorithm being usable.
#include <cuda_bf16.h>

#include <new>

#include "cuda_internal.h"

#define MAX_PLANS 128
// Workspace offered to Find; algorithms needing more are not considered.
#define FIND_WORKSPACE_CAP ((size_t)2048 << 20)

namespace {

enum dir { DIR_FWD = 0, DIR_BWD_DATA = 1 };

struct Plan {
    int dir, n, c, h, w, k, prec;
    cudnnTensorDescriptor_t xd, yd; // x (n,c,h,w), y (n,k,h,w); dx / dy for backward
    cudnnFilterDescriptor_t wd;     // (k,c,3,3)
    cudnnConvolutionDescriptor_t cd;
    int algo; // cudnnConvolutionFwdAlgo_t or cudnnConvolutionBwdDataAlgo_t
    size_t ws;
};

Plan *g_plans[MAX_PLANS];
int g_nplans, g_next_evict;

void plan_destroy(Plan *p) {
    if (!p) return;
    if (p->xd) cudnnDestroyTensorDescriptor(p->xd);
    if (p->yd) cudnnDestroyTensorDescriptor(p->yd);
    if (p->wd) cudnnDestroyFilterDescriptor(p->wd);
    if (p->cd) cudnnDestroyConvolutionDescriptor(p->cd);
    delete p;
}

Plan *plan_lookup(int d, int n, int c, int h, int w, int k, int prec) {
    for (int i = 0; i < g_nplans; i++) {
        Plan *p = g_plans[i];
        if (p->dir == d && p->n == n && p->c == c && p->h == h && p->w == w && p->k == k &&
            p->prec == prec)
            return p;
    }
    return NULL;
}

void plan_store(Plan *p) {
    if (g_nplans < MAX_PLANS) {
        g_plans[g_nplans++] = p;
        return;
    }
    // Full: replace plans round-robin (oldest first).
    plan_destroy(g_plans[g_next_evict]);
    g_plans[g_next_evict] = p;
    g_next_evict = (g_next_evict + 1) % MAX_PLANS;
}

int plan_descriptors(Plan *p, nst_err *e) {
    cudnnDataType_t dt = p->prec == NST_PREC_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    cudnnMathType_t math = p->prec == NST_PREC_FP32   ? CUDNN_FMA_MATH
                           : p->prec == NST_PREC_BF16 ? CUDNN_TENSOR_OP_MATH
                                                      : CUDNN_DEFAULT_MATH;
    if (nst_cudnn_check(cudnnCreateTensorDescriptor(&p->xd), "cudnnCreateTensorDescriptor", e) ||
        nst_cudnn_check(cudnnCreateTensorDescriptor(&p->yd), "cudnnCreateTensorDescriptor", e) ||
        nst_cudnn_check(cudnnCreateFilterDescriptor(&p->wd), "cudnnCreateFilterDescriptor", e) ||
        nst_cudnn_check(cudnnCreateConvolutionDescriptor(&p->cd),
                        "cudnnCreateConvolutionDescriptor", e))
        return -1;
    if (nst_cudnn_check(cudnnSetTensor4dDescriptor(p->xd, CUDNN_TENSOR_NCHW, dt, p->n, p->c, p->h,
                                                   p->w),
                        "cudnnSetTensor4dDescriptor (x)", e) ||
        nst_cudnn_check(cudnnSetTensor4dDescriptor(p->yd, CUDNN_TENSOR_NCHW, dt, p->n, p->k, p->h,
                                                   p->w),
                        "cudnnSetTensor4dDescriptor (y)", e) ||
        nst_cudnn_check(cudnnSetFilter4dDescriptor(p->wd, dt, CUDNN_TENSOR_NCHW, p->k, p->c, 3, 3),
                        "cudnnSetFilter4dDescriptor", e) ||
        // Cross-correlation, as PyTorch's conv2d; accumulation in float in every mode.
        nst_cudnn_check(cudnnSetConvolution2dDescriptor(p->cd, 1, 1, 1, 1, 1, 1,
                                                        CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                        "cudnnSetConvolution2dDescriptor", e) ||
        nst_cudnn_check(cudnnSetConvolutionMathType(p->cd, math), "cudnnSetConvolutionMathType", e))
        return -1;
    return 0;
}

// fp32 mode must not run TF32 tensor-core kernels.
bool math_allowed(int prec, cudnnMathType_t m) { return prec != NST_PREC_FP32 || m == CUDNN_FMA_MATH; }

// Largest workspace any algorithm asks for, capped; used as Find's workspace.
size_t find_workspace(cudnnHandle_t h, const Plan *p) {
    size_t best = 0;
    int count = p->dir == DIR_FWD ? (int)CUDNN_CONVOLUTION_FWD_ALGO_COUNT
                                  : (int)CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
    for (int a = 0; a < count; a++) {
        size_t sz = 0;
        cudnnStatus_t st =
            p->dir == DIR_FWD
                ? cudnnGetConvolutionForwardWorkspaceSize(h, p->xd, p->wd, p->cd, p->yd,
                                                          (cudnnConvolutionFwdAlgo_t)a, &sz)
                : cudnnGetConvolutionBackwardDataWorkspaceSize(
                      h, p->wd, p->yd, p->cd, p->xd, (cudnnConvolutionBwdDataAlgo_t)a, &sz);
        if (st == CUDNN_STATUS_SUCCESS && sz <= FIND_WORKSPACE_CAP && sz > best) best = sz;
    }
    return best;
}

// Runs Find on the call's buffers (x, w, y for forward; dy, w, dx for backward-data;
// the output is overwritten, then written again by the real call) and fills
// p->algo, the math type on p->cd and p->ws.
int plan_choose(cudnnHandle_t h, Plan *p, const void *in, const void *wt, void *out, nst_err *e) {
    size_t find_ws = find_workspace(h, p);
    void *ws = find_ws ? nst_cu_alloc(find_ws, e) : NULL;
    if (find_ws && !ws) return -1;
    int chosen = -1, returned = 0;
    cudnnMathType_t math = CUDNN_FMA_MATH;
    cudnnStatus_t st;
    if (p->dir == DIR_FWD) {
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        st = cudnnFindConvolutionForwardAlgorithmEx(h, p->xd, in, p->wd, wt, p->cd, p->yd, out,
                                                    CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned,
                                                    perf, ws, find_ws);
        for (int i = 0; st == CUDNN_STATUS_SUCCESS && i < returned && chosen < 0; i++)
            if (perf[i].status == CUDNN_STATUS_SUCCESS && math_allowed(p->prec, perf[i].mathType)) {
                chosen = (int)perf[i].algo;
                math = perf[i].mathType;
            }
        if (chosen < 0 && st == CUDNN_STATUS_SUCCESS)
            chosen = (int)CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    } else {
        cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        st = cudnnFindConvolutionBackwardDataAlgorithmEx(h, p->wd, wt, p->yd, in, p->cd, p->xd, out,
                                                         CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                         &returned, perf, ws, find_ws);
        for (int i = 0; st == CUDNN_STATUS_SUCCESS && i < returned && chosen < 0; i++)
            if (perf[i].status == CUDNN_STATUS_SUCCESS && math_allowed(p->prec, perf[i].mathType)) {
                chosen = (int)perf[i].algo;
                math = perf[i].mathType;
            }
        if (chosen < 0 && st == CUDNN_STATUS_SUCCESS) chosen = (int)CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
    }
    nst_cu_free(ws);
    if (nst_cudnn_check(st, p->dir == DIR_FWD ? "cudnnFindConvolutionForwardAlgorithmEx"
                                              : "cudnnFindConvolutionBackwardDataAlgorithmEx",
                        e))
        return -1;
    // In bf16 mode keep tensor-op math even if Find reported the default.
    if (p->prec == NST_PREC_BF16 && math == CUDNN_FMA_MATH) math = CUDNN_TENSOR_OP_MATH;
    if (nst_cudnn_check(cudnnSetConvolutionMathType(p->cd, math), "cudnnSetConvolutionMathType", e))
        return -1;
    p->algo = chosen;
    st = p->dir == DIR_FWD
             ? cudnnGetConvolutionForwardWorkspaceSize(h, p->xd, p->wd, p->cd, p->yd,
                                                       (cudnnConvolutionFwdAlgo_t)chosen, &p->ws)
             : cudnnGetConvolutionBackwardDataWorkspaceSize(
                   h, p->wd, p->yd, p->cd, p->xd, (cudnnConvolutionBwdDataAlgo_t)chosen, &p->ws);
    return nst_cudnn_check(st, "cudnnGetConvolution*WorkspaceSize", e);
}

// The plan for this call, made (with Find on these buffers) on first use.
Plan *plan_get(cudnnHandle_t h, int d, int n, int c, int hh, int w, int k, const void *in,
               const void *wt, void *out, nst_err *e) {
    int prec = (int)nst_cu_precision();
    Plan *p = plan_lookup(d, n, c, hh, w, k, prec);
    if (p) return p;
    p = new (std::nothrow) Plan();
    if (!p) {
        nst_fail(e, "conv3x3: out of host memory");
        return NULL;
    }
    p->dir = d, p->n = n, p->c = c, p->h = hh, p->w = w, p->k = k, p->prec = prec;
    if (plan_descriptors(p, e) || plan_choose(h, p, in, wt, out, e)) {
        plan_destroy(p);
        return NULL;
    }
    plan_store(p);
    return p;
}

#define GRID_STRIDE(i, n) \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (size_t)blockDim.x * gridDim.x)

__global__ void to_bf16_kernel(__nv_bfloat16 *out, const float *in, size_t n) {
    GRID_STRIDE(i, n) out[i] = __float2bfloat16(in[i]);
}

// y (n,k,hw): y = relu?(src + bias[channel]); src is y itself (float) or the bf16
// output of a bf16 convolution (ybf != NULL).
__global__ void epilogue_kernel(float *y, const __nv_bfloat16 *ybf, const float *bias, size_t total,
                                size_t hw, int k, int relu) {
    GRID_STRIDE(i, total) {
        float v = ybf ? __bfloat162float(ybf[i]) : y[i];
        if (bias) v += bias[(i / hw) % (size_t)k];
        if (relu) v = v > 0.0f ? v : 0.0f;
        y[i] = v;
    }
}

int sizes_ok(const char *what, int n, int c, int h, int w, int k, size_t *in_total,
             size_t *out_total, size_t *w_total, nst_err *e) {
    if (n < 1 || c < 1 || h < 1 || w < 1 || k < 1)
        return nst_fail(e, "%s: bad sizes n=%d c=%d h=%d w=%d k=%d", what, n, c, h, w, k);
    size_t hw, nhw;
    if (nst_mul_size((size_t)h, (size_t)w, &hw) || nst_mul_size(hw, (size_t)n, &nhw) ||
        nst_mul_size(nhw, (size_t)c, in_total) || nst_mul_size(nhw, (size_t)k, out_total) ||
        nst_mul_size((size_t)k * 9, (size_t)c, w_total))
        return nst_fail(e, "%s: size overflow", what);
    return 0;
}

// Scratch of one convolution call, released (stream-ordered) on every exit path.
struct Scratch {
    void *in_bf = nullptr, *w_bf = nullptr, *out_bf = nullptr, *ws = nullptr;
    ~Scratch() {
        nst_cu_free(in_bf);
        nst_cu_free(w_bf);
        nst_cu_free(out_bf);
        nst_cu_free(ws);
    }
};

// bf16 mode: converts the two inputs into scratch and allocates the bf16 output.
int bf16_inputs(Scratch &sc, const float *in, size_t in_total, const float *w, size_t w_total,
                size_t out_total, cudaStream_t s, nst_err *e) {
    size_t b = sizeof(__nv_bfloat16);
    if (!(sc.in_bf = nst_cu_alloc(in_total * b, e)) || !(sc.w_bf = nst_cu_alloc(w_total * b, e)) ||
        !(sc.out_bf = nst_cu_alloc(out_total * b, e)))
        return -1;
    to_bf16_kernel<<<nst_cu_blocks(in_total), NST_CU_THREADS, 0, s>>>((__nv_bfloat16 *)sc.in_bf, in,
                                                                     in_total);
    if (nst_cu_launched("to_bf16_kernel", e)) return -1;
    to_bf16_kernel<<<nst_cu_blocks(w_total), NST_CU_THREADS, 0, s>>>((__nv_bfloat16 *)sc.w_bf, w,
                                                                    w_total);
    return nst_cu_launched("to_bf16_kernel", e);
}

} // namespace

int nst_cu_conv3x3_fwd(float *y, const float *x, const float *w, const float *bias, int n, int c,
                       int h, int wd, int k, int relu, nst_err *e) {
    cudaStream_t s;
    cudnnHandle_t hd;
    size_t in_total, out_total, w_total;
    if (sizes_ok("conv3x3", n, c, h, wd, k, &in_total, &out_total, &w_total, e) ||
        nst_cu_stream(&s, e) || nst_cu_cudnn(&hd, e))
        return -1;
    Scratch sc;
    bool bf = nst_cu_precision() == NST_PREC_BF16;
    if (bf && bf16_inputs(sc, x, in_total, w, w_total, out_total, s, e)) return -1;
    const void *xin = bf ? sc.in_bf : (const void *)x, *win = bf ? sc.w_bf : (const void *)w;
    void *yout = bf ? sc.out_bf : (void *)y;
    Plan *p = plan_get(hd, DIR_FWD, n, c, h, wd, k, xin, win, yout, e);
    if (!p) return -1;
    if (p->ws && !(sc.ws = nst_cu_alloc(p->ws, e))) return -1;
    const float one = 1.0f, zero = 0.0f;
    if (nst_cudnn_check(cudnnConvolutionForward(hd, &one, p->xd, xin, p->wd, win, p->cd,
                                                (cudnnConvolutionFwdAlgo_t)p->algo, sc.ws, p->ws,
                                                &zero, p->yd, yout),
                        "cudnnConvolutionForward", e))
        return -1;
    if (!bf && !bias && !relu) return 0;
    epilogue_kernel<<<nst_cu_blocks(out_total), NST_CU_THREADS, 0, s>>>(
        y, bf ? (const __nv_bfloat16 *)sc.out_bf : nullptr, bias, out_total, (size_t)h * wd, k,
        relu != 0);
    return nst_cu_launched("epilogue_kernel", e);
}

int nst_cu_conv3x3_bwd_data(float *dx, const float *dy, const float *w, int n, int c, int h,
                            int wd, int k, nst_err *e) {
    cudaStream_t s;
    cudnnHandle_t hd;
    size_t in_total, out_total, w_total;
    if (sizes_ok("conv3x3_bwd_data", n, c, h, wd, k, &in_total, &out_total, &w_total, e) ||
        nst_cu_stream(&s, e) || nst_cu_cudnn(&hd, e))
        return -1;
    Scratch sc;
    bool bf = nst_cu_precision() == NST_PREC_BF16;
    // Backward-data reads dy (n,k,h,w) and writes dx (n,c,h,w).
    if (bf && bf16_inputs(sc, dy, out_total, w, w_total, in_total, s, e)) return -1;
    const void *dyin = bf ? sc.in_bf : (const void *)dy, *win = bf ? sc.w_bf : (const void *)w;
    void *dxout = bf ? sc.out_bf : (void *)dx;
    Plan *p = plan_get(hd, DIR_BWD_DATA, n, c, h, wd, k, dyin, win, dxout, e);
    if (!p) return -1;
    if (p->ws && !(sc.ws = nst_cu_alloc(p->ws, e))) return -1;
    const float one = 1.0f, zero = 0.0f;
    if (nst_cudnn_check(cudnnConvolutionBackwardData(hd, &one, p->wd, win, p->yd, dyin, p->cd,
                                                     (cudnnConvolutionBwdDataAlgo_t)p->algo, sc.ws,
                                                     p->ws, &zero, p->xd, dxout),
                        "cudnnConvolutionBackwardData", e))
        return -1;
    if (!bf) return 0;
    epilogue_kernel<<<nst_cu_blocks(in_total), NST_CU_THREADS, 0, s>>>(
        dx, (const __nv_bfloat16 *)sc.out_bf, nullptr, in_total, (size_t)h * wd, c, 0);
    return nst_cu_launched("epilogue_kernel", e);
}
