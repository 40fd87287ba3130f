// The CUDA context of the process: one device (0), one stream, one cuBLAS and one
// cuDNN handle bound to it, and the settings the core gave (precision, conv layout).
// Everything is created on first use so that loading the library never touches the
// driver; single-threaded use is assumed (Lua states call in one at a time).
#include <stdio.h>

#include "cuda_internal.h"

// cuBLAS workspace recommended for Hopper; given from the arena so cuBLAS never
// allocates behind our back.
#define NST_CUBLAS_WORKSPACE (32u << 20)

static int g_available = -1; // -1 unknown, 0 no, 1 yes
static char g_unavailable_why[256];
static cudaStream_t g_stream;
static int g_stream_ok;
static cublasHandle_t g_cublas;
static cudnnHandle_t g_cudnn;
// Replaced by the core's settings at registration (core/settings.c has the defaults).
static nst_settings g_settings = {NST_TF32, NST_LAYOUT_AUTO};

int nst_cu_check(cudaError_t err, const char *what, nst_err *e) {
    if (err == cudaSuccess) return 0;
    // Clears a non-sticky error so it is not reported again by the next launch check.
    (void)cudaGetLastError();
    return nst_fail(e, "CUDA %s failed: %s (%s)", what, cudaGetErrorString(err),
                    cudaGetErrorName(err));
}

int nst_cudnn_check(cudnnStatus_t st, const char *what, nst_err *e) {
    if (st == CUDNN_STATUS_SUCCESS) return 0;
    return nst_fail(e, "cuDNN %s failed: %s", what, cudnnGetErrorString(st));
}

int nst_cublas_check(cublasStatus_t st, const char *what, nst_err *e) {
    if (st == CUBLAS_STATUS_SUCCESS) return 0;
    return nst_fail(e, "cuBLAS %s failed: %s", what, cublasGetStatusString(st));
}

int nst_cu_launched(const char *kernel, nst_err *e) {
    return nst_cu_check(cudaGetLastError(), kernel, e);
}

int nst_cu_available(void) {
    if (g_available >= 0) return g_available;
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(g_unavailable_why, sizeof g_unavailable_why, "%s", cudaGetErrorString(err));
        g_available = 0;
    } else if (count < 1) {
        snprintf(g_unavailable_why, sizeof g_unavailable_why, "no CUDA device");
        g_available = 0;
    } else {
        g_available = 1;
    }
    return g_available;
}

int nst_cu_stream(cudaStream_t *s, nst_err *e) {
    if (g_stream_ok) {
        *s = g_stream;
        return 0;
    }
    if (!nst_cu_available()) return nst_fail(e, "CUDA not available: %s", g_unavailable_why);
    if (nst_cu_check(cudaSetDevice(0), "cudaSetDevice(0)", e)) return -1;
    // Non-blocking: our stream never waits on the legacy default stream.
    if (nst_cu_check(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking),
                     "cudaStreamCreateWithFlags", e))
        return -1;
    g_stream_ok = 1;
    *s = g_stream;
    return 0;
}

static int apply_cublas_math(cublasHandle_t h, nst_err *e) {
    // fp32: CUBLAS_DEFAULT_MATH never lowers float32 inputs to TF32.
    cublasMath_t mode =
        g_settings.precision == NST_FP32 ? CUBLAS_DEFAULT_MATH : CUBLAS_TF32_TENSOR_OP_MATH;
    return nst_cublas_check(cublasSetMathMode(h, mode), "cublasSetMathMode", e);
}

int nst_cu_cublas(cublasHandle_t *h, nst_err *e) {
    if (g_cublas) {
        *h = g_cublas;
        return 0;
    }
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    cublasHandle_t nh;
    if (nst_cublas_check(cublasCreate(&nh), "cublasCreate", e)) return -1;
    void *ws = NULL;
    // cublasSetStream resets the workspace, so the workspace is set after it.
    if (nst_cublas_check(cublasSetStream(nh, s), "cublasSetStream", e) ||
        !(ws = nst_cu_alloc(NST_CUBLAS_WORKSPACE, e)) ||
        nst_cublas_check(cublasSetWorkspace(nh, ws, NST_CUBLAS_WORKSPACE), "cublasSetWorkspace",
                         e) ||
        apply_cublas_math(nh, e)) {
        nst_cu_free(ws);
        cublasDestroy(nh);
        return -1;
    }
    g_cublas = nh;
    *h = nh;
    return 0;
}

int nst_cu_cudnn(cudnnHandle_t *h, nst_err *e) {
    if (g_cudnn) {
        *h = g_cudnn;
        return 0;
    }
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    cudnnHandle_t nh;
    if (nst_cudnn_check(cudnnCreate(&nh), "cudnnCreate", e)) return -1;
    if (nst_cudnn_check(cudnnSetStream(nh, s), "cudnnSetStream", e)) {
        cudnnDestroy(nh);
        return -1;
    }
    g_cudnn = nh;
    *h = nh;
    return 0;
}

nst_precision nst_cu_precision(void) { return g_settings.precision; }

// "auto" is the layout measured on the H200 so far (kernels/README.md): NCHW until the
// channels-last paths have been measured there.
int nst_cu_conv_nhwc(void) {
    return g_settings.layout == NST_LAYOUT_NHWC || g_settings.layout == NST_LAYOUT_CHAIN;
}

int nst_cu_configure(const nst_settings *st, nst_err *e) {
    if ((int)st->precision < (int)NST_FP32 || (int)st->precision > (int)NST_BF16)
        return nst_fail(e, "cuda: unknown precision %d", (int)st->precision);
    if ((int)st->layout < (int)NST_LAYOUT_AUTO || (int)st->layout > (int)NST_LAYOUT_CHAIN)
        return nst_fail(e, "cuda: unknown conv layout %d", (int)st->layout);
    g_settings = *st;
    // Convolution plans are keyed by precision (cuda_conv.cu); cuBLAS keeps a mode.
    if (g_cublas) return apply_cublas_math(g_cublas, e);
    return 0;
}

extern "C" int nst_cuda_device_name(char *buf, size_t len) {
    if (!buf || len == 0) return -1;
    buf[0] = '\0';
    if (!nst_cu_available()) return -1;
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
        (void)cudaGetLastError();
        return -1;
    }
    snprintf(buf, len, "%s", prop.name);
    return 0;
}
