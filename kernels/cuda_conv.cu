// 3x3, stride 1, pad 1 convolution through cuDNN's convolution API: forward with a
// bias + ReLU epilogue, and backward-data. nst's tensors are NCHW float.
//
// A plan (descriptors + algorithm + workspace size) is made once per (direction,
// n, c, h, w, k, precision, layout) with cudnnFind*AlgorithmEx on the call's own
// buffers; Find synchronizes and may run every algorithm, so the first call per shape
// is slow and later calls queue work only. Workspace comes from the arena.
//
// Layouts (the device's settings, core/settings.h; nst.cuda_set_conv_layout):
// - channels-last (NHWC): the input is transposed into NHWC scratch (float, or bf16 in
//   bf16 mode) with channels padded to a multiple of 8, the weights into KRSC; cuDNN
//   runs its tensor-core kernels on them and the output is transposed back to NCHW
//   float with bias and ReLU applied in the same pass (cuda_layout.cu).
// - NCHW: cuDNN on the tensors themselves (fp32 / tf32); in bf16 mode x/dy and w are
//   converted to bf16 scratch first and the output converted back in the epilogue.
//
// Precision (the settings; nst.cuda_set_precision): fp32 accepts only FMA-math algorithms (falling back to
// implicit GEMM), tf32 takes the fastest float algorithm cuDNN offers, bf16 stores
// activations and weights in bf16 with float accumulation.
//
// Bias and ReLU use our own epilogue rather than cudnnConvolutionBiasActivationForward,
// whose identity activation only works with one algorithm.
#include <cuda_bf16.h>

#include <new>

#include "cuda_internal.h"

#define MAX_PLANS 128
// Workspace offered to Find; algorithms needing more are not considered.
#define FIND_WORKSPACE_CAP ((size_t)2048 << 20)

namespace {

enum dir { DIR_FWD = 0, DIR_BWD_DATA = 1 };

struct Plan {
    int dir, n, c, h, w, k, prec, nhwc; // the key; c and k unpadded
    int cp, kp; // channels as cuDNN sees them (padded when nhwc)
    cudnnTensorDescriptor_t xd, yd; // x (n,c,h,w), y (n,k,h,w); dx / dy for backward
    cudnnFilterDescriptor_t wd; // (k,c,3,3)
    cudnnConvolutionDescriptor_t cd;
    int algo; // cudnnConvolutionFwdAlgo_t or cudnnConvolutionBwdDataAlgo_t
    size_t ws;
    float ms; // Find's time for the chosen algorithm
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

Plan *plan_lookup(int d, int n, int c, int h, int w, int k, int prec, int nhwc) {
    for (int i = 0; i < g_nplans; i++) {
        Plan *p = g_plans[i];
        if (p->dir == d && p->n == n && p->c == c && p->h == h && p->w == w && p->k == k &&
            p->prec == prec && p->nhwc == nhwc)
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
    cudnnDataType_t dt = p->prec == NST_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
    cudnnMathType_t math = p->prec == NST_FP32   ? CUDNN_FMA_MATH
                           : p->prec == NST_BF16 ? CUDNN_TENSOR_OP_MATH
                                                 : CUDNN_DEFAULT_MATH;
    if (nst_cudnn_check(cudnnCreateTensorDescriptor(&p->xd), "cudnnCreateTensorDescriptor", e) ||
        nst_cudnn_check(cudnnCreateTensorDescriptor(&p->yd), "cudnnCreateTensorDescriptor", e) ||
        nst_cudnn_check(cudnnCreateFilterDescriptor(&p->wd), "cudnnCreateFilterDescriptor", e) ||
        nst_cudnn_check(cudnnCreateConvolutionDescriptor(&p->cd),
                        "cudnnCreateConvolutionDescriptor", e))
        return -1;
    cudnnTensorFormat_t fmt = p->nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    if (nst_cudnn_check(cudnnSetTensor4dDescriptor(p->xd, fmt, dt, p->n, p->cp, p->h, p->w),
                        "cudnnSetTensor4dDescriptor (x)", e) ||
        nst_cudnn_check(cudnnSetTensor4dDescriptor(p->yd, fmt, dt, p->n, p->kp, p->h, p->w),
                        "cudnnSetTensor4dDescriptor (y)", e) ||
        nst_cudnn_check(cudnnSetFilter4dDescriptor(p->wd, dt, fmt, p->kp, p->cp, 3, 3),
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
bool math_allowed(int prec, cudnnMathType_t m) { return prec != NST_FP32 || m == CUDNN_FMA_MATH; }

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

// From Find's results (fastest first): the fastest allowed algorithm, unless another
// within 10% of its time needs at most a quarter of its workspace (then the leanest of
// those): memory for a few percent of one convolution. -1 when none is allowed; records
// the measured time in the plan.
template <typename Perf>
int pick(Plan *p, const Perf *perf, int returned, cudnnMathType_t *math) {
    int best = -1;
    for (int i = 0; i < returned && best < 0; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && math_allowed(p->prec, perf[i].mathType))
            best = i;
    if (best < 0) return -1;
    int lean = best;
    for (int i = best + 1; i < returned; i++)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && math_allowed(p->prec, perf[i].mathType) &&
            perf[i].time <= 1.1f * perf[best].time && perf[i].memory <= perf[best].memory / 4 &&
            perf[i].memory < perf[lean].memory)
            lean = i;
    *math = perf[lean].mathType;
    p->ms = perf[lean].time;
    return (int)perf[lean].algo;
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
        if (st == CUDNN_STATUS_SUCCESS) chosen = pick(p, perf, returned, &math);
        if (chosen < 0 && st == CUDNN_STATUS_SUCCESS)
            chosen = (int)CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    } else {
        cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        st = cudnnFindConvolutionBackwardDataAlgorithmEx(h, p->wd, wt, p->yd, in, p->cd, p->xd, out,
                                                         CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                         &returned, perf, ws, find_ws);
        if (st == CUDNN_STATUS_SUCCESS) chosen = pick(p, perf, returned, &math);
        if (chosen < 0 && st == CUDNN_STATUS_SUCCESS)
            chosen = (int)CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
    }
    nst_cu_free(ws);
    if (nst_cudnn_check(st,
                        p->dir == DIR_FWD ? "cudnnFindConvolutionForwardAlgorithmEx"
                                          : "cudnnFindConvolutionBackwardDataAlgorithmEx",
                        e))
        return -1;
    // In bf16 mode keep tensor-op math even if Find reported the default.
    if (p->prec == NST_BF16 && math == CUDNN_FMA_MATH) math = CUDNN_TENSOR_OP_MATH;
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
Plan *plan_get(cudnnHandle_t h, int d, int n, int c, int hh, int w, int k, int nhwc, const void *in,
               const void *wt, void *out, nst_err *e) {
    int prec = (int)nst_cu_precision();
    Plan *p = plan_lookup(d, n, c, hh, w, k, prec, nhwc);
    if (p) return p;
    if (nst_cu_capturing()) {
        nst_fail(e,
                 "conv3x3: no cuDNN plan yet for %s n=%d c=%d %dx%d k=%d (finding one waits for "
                 "the device): run the work once before capturing a CUDA graph",
                 d == DIR_FWD ? "forward" : "backward-data", n, c, hh, w, k);
        return NULL;
    }
    p = new (std::nothrow) Plan();
    if (!p) {
        nst_fail(e, "conv3x3: out of host memory");
        return NULL;
    }
    p->dir = d, p->n = n, p->c = c, p->h = hh, p->w = w, p->k = k, p->prec = prec;
    p->nhwc = nhwc, p->cp = nhwc ? nst_pad8(c) : c, p->kp = nhwc ? nst_pad8(k) : k;
    if (plan_descriptors(p, e) || plan_choose(h, p, in, wt, out, e)) {
        plan_destroy(p);
        return NULL;
    }
    plan_store(p);
    return p;
}

// out = bf16(in), zero where mask (may be NULL) is not > 0.
__global__ void to_bf16_kernel(__nv_bfloat16 *out, const float *in, const float *mask, size_t n) {
    NST_CU_GRID_STRIDE(i, n) out[i] = __float2bfloat16(!mask || mask[i] > 0.0f ? in[i] : 0.0f);
}

// y (n,k,hw): y = relu?(src + bias[channel]); src is y itself (float) or the bf16
// output of a bf16 convolution (ybf != NULL).
__global__ void epilogue_kernel(float *y, const __nv_bfloat16 *ybf, const float *bias, size_t total,
                                size_t hw, int k, int relu) {
    NST_CU_GRID_STRIDE(i, total) {
        float v = ybf ? __bfloat162float(ybf[i]) : y[i];
        if (bias) v += bias[(i / hw) % (size_t)k];
        if (relu) v = v > 0.0f ? v : 0.0f;
        y[i] = v;
    }
}

// Scratch of one convolution call, released (stream-ordered) on every exit path.
struct Scratch {
    void *in = nullptr, *w = nullptr, *out = nullptr;
    ~Scratch() {
        nst_cu_free(in);
        nst_cu_free(w);
        nst_cu_free(out);
    }
};

// What cuDNN reads and writes: the caller's NCHW float buffers, or converted copies in
// scratch. `in` is x (forward) or dy (backward-data), `out` is y or dx.
struct Operands {
    const void *in, *w;
    void *out;
};

// Fills op for one call. in (n, cin, P) float, w (k, c, 3, 3) float, out (n, cout, P);
// in is masked by (mask > 0) when mask is not NULL (backward through a ReLU).
// NHWC: in and w converted (channels padded), output scratch allocated. NCHW bf16: in
// and w converted to bf16, bf16 output scratch. NCHW float: the buffers themselves, or
// the masked input in scratch.
int prepare(Scratch &sc, Operands &op, bool bf, bool nhwc, const float *in, const float *mask,
            int n, int cin, int cout, size_t P, const float *w, int k, int c, void *out,
            cudaStream_t s, nst_err *e) {
    op = {in, w, out};
    if (!bf && !nhwc) {
        if (!mask) return 0;
        size_t total = P * (size_t)n * (size_t)cin; // checked by nst_cu_conv_sizes
        if (!(sc.in = nst_cu_alloc(total * sizeof(float), e)) ||
            nst_cu_relu_bwd((float *)sc.in, in, mask, total, e))
            return -1;
        op.in = sc.in;
        return 0;
    }
    size_t esz = bf ? sizeof(__nv_bfloat16) : sizeof(float);
    int cinp = nhwc ? nst_pad8(cin) : cin, coutp = nhwc ? nst_pad8(cout) : cout;
    int kp = nhwc ? nst_pad8(k) : k, cp = nhwc ? nst_pad8(c) : c;
    size_t nP = P * (size_t)n, in_n, out_n, w_n, in_b, out_b,
           w_b; // nP checked by nst_cu_conv_sizes
    if (nst_mul_size(nP, (size_t)cinp, &in_n) || nst_mul_size(nP, (size_t)coutp, &out_n) ||
        nst_mul_size((size_t)kp * 9, (size_t)cp, &w_n) || nst_mul_size(in_n, esz, &in_b) ||
        nst_mul_size(out_n, esz, &out_b) || nst_mul_size(w_n, esz, &w_b))
        return nst_fail(e, "conv3x3: size overflow");
    if (!(sc.in = nst_cu_alloc(in_b, e)) || !(sc.w = nst_cu_alloc(w_b, e)) ||
        !(sc.out = nst_cu_alloc(out_b, e)))
        return -1;
    op = {sc.in, sc.w, sc.out};
    if (nhwc)
        return nst_cu_to_nhwc(sc.in, bf, in, mask, n, cin, cinp, P, e) ||
                       nst_cu_weights_krsc(sc.w, bf, w, k, c, kp, cp, e)
                   ? -1
                   : 0;
    to_bf16_kernel<<<nst_cu_blocks(in_n), NST_CU_THREADS, 0, s>>>((__nv_bfloat16 *)sc.in, in, mask,
                                                                  in_n);
    if (nst_cu_launched("to_bf16_kernel", e)) return -1;
    to_bf16_kernel<<<nst_cu_blocks(w_n), NST_CU_THREADS, 0, s>>>((__nv_bfloat16 *)sc.w, w, nullptr,
                                                                 w_n);
    return nst_cu_launched("to_bf16_kernel", e);
}

// Writes the result into the caller's NCHW float out (n, cout, P) with bias (may be
// NULL) and ReLU: transposed back from NHWC scratch, converted from bf16 scratch, or in
// place.
int finish(const Scratch &sc, bool bf, bool nhwc, float *out, const float *bias, int relu, int n,
           int cout, size_t P, cudaStream_t s, nst_err *e) {
    if (nhwc) return nst_cu_from_nhwc(out, sc.out, bf, bias, relu, n, cout, nst_pad8(cout), P, e);
    if (!bf && !bias && !relu) return 0;
    size_t total = P * (size_t)n * (size_t)cout;
    epilogue_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(
        out, bf ? (const __nv_bfloat16 *)sc.out : nullptr, bias, total, P, cout, relu != 0);
    return nst_cu_launched("epilogue_kernel", e);
}

} // namespace

// Queues one convolution (see cuda_internal.h); workspace from the arena, released
// stream-ordered.
int nst_cu_conv_run(int backward, int n, int c, int h, int wd, int k, int nhwc, const void *in,
                    const void *w, void *out, nst_err *e) {
    int dir = backward ? DIR_BWD_DATA : DIR_FWD;
    cudnnHandle_t hd;
    if (nst_cu_cudnn(&hd, e)) return -1;
    Plan *p = plan_get(hd, dir, n, c, h, wd, k, nhwc, in, w, out, e);
    if (!p) return -1;
    void *ws = NULL;
    if (p->ws && !(ws = nst_cu_alloc(p->ws, e))) return -1;
    const float one = 1.0f, zero = 0.0f;
    cudnnStatus_t st = dir == DIR_FWD
                           ? cudnnConvolutionForward(hd, &one, p->xd, in, p->wd, w, p->cd,
                                                     (cudnnConvolutionFwdAlgo_t)p->algo, ws, p->ws,
                                                     &zero, p->yd, out)
                           : cudnnConvolutionBackwardData(hd, &one, p->wd, w, p->yd, in, p->cd,
                                                          (cudnnConvolutionBwdDataAlgo_t)p->algo,
                                                          ws, p->ws, &zero, p->xd, out);
    nst_cu_free(ws);
    return nst_cudnn_check(
        st, dir == DIR_FWD ? "cudnnConvolutionForward" : "cudnnConvolutionBackwardData", e);
}

int nst_cu_conv_sizes(const char *what, int n, int c, int h, int w, int k, nst_err *e) {
    if (n < 1 || c < 1 || h < 1 || w < 1 || k < 1)
        return nst_fail(e, "%s: bad sizes n=%d c=%d h=%d w=%d k=%d", what, n, c, h, w, k);
    size_t hw, nhw, total;
    if (nst_mul_size((size_t)h, (size_t)w, &hw) || nst_mul_size(hw, (size_t)n, &nhw) ||
        nst_mul_size(nhw, (size_t)c, &total) || nst_mul_size(nhw, (size_t)k, &total) ||
        nst_mul_size((size_t)k * 9, (size_t)c, &total))
        return nst_fail(e, "%s: size overflow", what);
    return 0;
}

namespace {

// One convolution on nst's NCHW float tensors in either direction (in, out as in
// nst_cu_conv_run; mask as in prepare), in the current precision and layout.
int conv_call(const char *what, int dir, float *out, const float *in, const float *mask,
              const float *w, const float *bias, int relu, int n, int c, int h, int wd, int k,
              nst_err *e) {
    cudaStream_t s;
    if (nst_cu_conv_sizes(what, n, c, h, wd, k, e) || nst_cu_stream(&s, e)) return -1;
    Scratch sc;
    Operands op;
    bool bf = nst_cu_precision() == NST_BF16, nhwc = nst_cu_conv_nhwc() != 0;
    size_t P = (size_t)h * wd;
    int cin = dir == DIR_FWD ? c : k, cout = dir == DIR_FWD ? k : c;
    if (prepare(sc, op, bf, nhwc, in, mask, n, cin, cout, P, w, k, c, out, s, e) ||
        nst_cu_conv_run(dir == DIR_BWD_DATA, n, c, h, wd, k, nhwc, op.in, op.w, op.out, e))
        return -1;
    return finish(sc, bf, nhwc, out, bias, relu, n, cout, P, s, e);
}

} // namespace

int nst_cu_conv3x3_fwd(float *y, const float *x, const float *w, const float *bias, int n, int c,
                       int h, int wd, int k, int relu, nst_err *e) {
    return conv_call("conv3x3", DIR_FWD, y, x, nullptr, w, bias, relu, n, c, h, wd, k, e);
}

// Backward-data reads dy (n,k,h,w), masked by relu_y, and writes dx (n,c,h,w).
int nst_cu_conv3x3_bwd_data(float *dx, const float *dy, const float *relu_y, const float *w, int n,
                            int c, int h, int wd, int k, nst_err *e) {
    return conv_call("conv3x3_bwd_data", DIR_BWD_DATA, dx, dy, relu_y, w, nullptr, 0, n, c, h, wd,
                     k, e);
}

extern "C" int nst_cuda_conv_plans(nst_cuda_conv_plan *out, int max) {
    int n = 0;
    for (int i = 0; i < g_nplans && n < max; i++, n++) {
        const Plan *p = g_plans[i];
        out[n].backward = p->dir == DIR_BWD_DATA;
        out[n].n = p->n, out[n].c = p->c, out[n].h = p->h, out[n].w = p->w, out[n].k = p->k;
        out[n].precision = (nst_precision)p->prec;
        out[n].nhwc = p->nhwc;
        out[n].algo = p->algo;
        out[n].workspace = p->ws;
        out[n].ms = p->ms;
    }
    return n;
}
