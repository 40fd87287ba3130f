// The channels-last chain (core/backend.h, nst_chain_ops; twin of src/cpu/cpu_chain.c):
// the VGG's activations and gradients stay in NHWC between layers, channels padded to
// nst_pad8, stored as bf16 in bf16 mode and float otherwise (type T below). Only the
// network input, the tapped outputs and the gradients arriving at taps cross over to
// nst's NCHW float. The chain's convolutions are cuDNN's (nst_cu_conv_run, cuda_conv.cu)
// with the bias + ReLU epilogue here.
//
// Padded channels hold zeros everywhere: the convolution's padded filters are zero and
// the epilogue writes 0 there, so the next layer sees exact zeros.
#include <cuda_bf16.h>

#include "cuda_internal.h"

namespace {

constexpr int TILE = 32, ROWS = 8, MAX_Z = 65535;

__device__ inline void store(float *p, float v) { *p = v; }
__device__ inline void store(__nv_bfloat16 *p, float v) { *p = __float2bfloat16(v); }
__device__ inline float load(const float *p) { return *p; }
__device__ inline float load(const __nv_bfloat16 *p) { return __bfloat162float(*p); }

// y (total / kp, kp): y = relu?(y + bias[ch]) for ch < k, 0 in padded channels.
template <typename T>
__global__ void bias_relu_kernel(T *y, const float *bias, size_t total, int k, int kp, int relu) {
    NST_CU_GRID_STRIDE(i, total) {
        int ch = (int)(i % (size_t)kp);
        float v = 0.0f;
        if (ch < k) {
            v = load(y + i) + (bias ? bias[ch] : 0.0f);
            if (relu) v = v > 0.0f ? v : 0.0f;
        }
        store(y + i, v);
    }
}

// g = g * (mask > 0), elementwise over the same layout (a ReLU's backward).
template <typename T>
__global__ void mask_kernel(T *g, const T *mask, size_t total) {
    NST_CU_GRID_STRIDE(i, total)
        if (!(load(mask + i) > 0.0f)) store(g + i, 0.0f);
}

// g (n, P, cp) = ((valid ? g : 0) + tap (n, c, P) float), then zeroed where mask (like
// g, may be NULL) is not > 0. Padded channels stay 0. Through a shared tile, as the
// layout transposes.
template <typename T>
__global__ void add_tap_kernel(T *g, int valid, const float *tap, const T *mask, int c, int cp,
                               size_t P) {
    __shared__ float tile[TILE][TILE + 1];
    size_t p0 = (size_t)blockIdx.x * TILE;
    int c0 = blockIdx.y * TILE;
    const float *src = tap + (size_t)blockIdx.z * c * P;
    size_t base = (size_t)blockIdx.z * cp * P;
    for (int j = threadIdx.y; j < TILE; j += ROWS) {
        int ch = c0 + j;
        size_t p = p0 + threadIdx.x;
        tile[j][threadIdx.x] = ch < c && p < P ? src[(size_t)ch * P + p] : 0.0f;
    }
    __syncthreads();
    for (int j = threadIdx.y; j < TILE; j += ROWS) {
        size_t p = p0 + j;
        int ch = c0 + threadIdx.x;
        if (p < P && ch < cp) {
            size_t at = base + p * cp + ch;
            float v = (valid ? load(g + at) : 0.0f) + tile[threadIdx.x][j];
            if (mask && !(load(mask + at) > 0.0f)) v = 0.0f;
            store(g + at, v);
        }
    }
}

// The image b, row i, column j and channel ch of element idx of an (n, h, w, cp) tensor.
struct nhwc_at {
    size_t b;
    int i, j, ch;
};

__device__ __forceinline__ nhwc_at nhwc_of(size_t idx, int cp, int w, int h) {
    nhwc_at at;
    at.ch = (int)(idx % (size_t)cp);
    size_t r = idx / (size_t)cp;
    at.j = (int)(r % (size_t)w);
    r /= (size_t)w;
    at.i = (int)(r % (size_t)h);
    at.b = r / (size_t)h;
    return at;
}

// Index 0..3 of the first maximum of the window (x00, x01, x10, x11); a NaN wins (the
// last NaN if several), as in cuda_pool.cu and the CPU backend.
template <typename T>
__device__ __forceinline__ int window_argmax(const T *w0, size_t col, size_t row) {
    float v[4] = {load(w0), load(w0 + col), load(w0 + row), load(w0 + row + col)};
    float m = v[0];
    int best = 0;
    for (int q = 1; q < 4; q++)
        if (v[q] > m || v[q] != v[q]) m = v[q], best = q;
    return best;
}

// y (n, h/2, w/2, cp) from x (n, h, w, cp); one thread per output element.
template <typename T>
__global__ void pool_fwd_kernel(T *y, const T *x, size_t total, int cp, int h, int wd, int is_max) {
    int ho = h / 2, wo = wd / 2;
    NST_CU_GRID_STRIDE(o, total) {
        nhwc_at at = nhwc_of(o, cp, wo, ho);
        int ch = at.ch, oi = at.i, oj = at.j;
        size_t b = at.b;
        size_t col = (size_t)cp, row = (size_t)wd * cp;
        const T *w0 = x + ((b * h + 2 * oi) * (size_t)wd + 2 * oj) * cp + ch;
        float v;
        if (is_max) {
            int q = window_argmax(w0, col, row);
            v = load(w0 + (q >> 1) * row + (q & 1) * col);
        } else {
            v = 0.25f * ((load(w0) + load(w0 + col)) + (load(w0 + row) + load(w0 + row + col)));
        }
        store(y + o, v);
    }
}

// dx (n, h, w, cp) from dy (n, h/2, w/2, cp); one thread per input element, so every
// element is written (zero in an odd last row / column).
template <typename T>
__global__ void pool_bwd_kernel(T *dx, const T *dy, const T *x, size_t total, int cp, int h, int wd,
                                int is_max) {
    int ho = h / 2, wo = wd / 2;
    NST_CU_GRID_STRIDE(idx, total) {
        nhwc_at at = nhwc_of(idx, cp, wd, h);
        int ch = at.ch, i = at.i, j = at.j;
        size_t b = at.b;
        int oi = i >> 1, oj = j >> 1;
        float g = 0.0f;
        if (oi < ho && oj < wo) {
            float d = load(dy + ((b * ho + oi) * (size_t)wo + oj) * cp + ch);
            if (is_max) {
                size_t col = (size_t)cp, row = (size_t)wd * cp;
                const T *w0 = x + ((b * h + 2 * oi) * (size_t)wd + 2 * oj) * cp + ch;
                int q = ((i & 1) << 1) | (j & 1);
                g = window_argmax(w0, col, row) == q ? d : 0.0f;
            } else {
                g = 0.25f * d;
            }
        }
        store(dx + idx, g);
    }
}

bool chain_bf16() { return nst_cu_precision() == NST_BF16; }

int pool_check(int n, int c, int h, int wd, nst_pool mode, size_t *in_total, size_t *out_total,
               nst_err *e) {
    if (mode != NST_POOL_MAX && mode != NST_POOL_AVG)
        return nst_fail(e, "chain pool: unknown mode %d", (int)mode);
    if (n < 1 || c < 1 || h < 2 || wd < 2)
        return nst_fail(e, "chain pool: bad sizes n=%d c=%d h=%d w=%d", n, c, h, wd);
    size_t cp = (size_t)nst_pad8(c), a, b;
    if (nst_mul_size((size_t)n * cp, (size_t)h, &a) || nst_mul_size(a, (size_t)wd, in_total) ||
        nst_mul_size((size_t)n * cp, (size_t)(h / 2), &b) ||
        nst_mul_size(b, (size_t)(wd / 2), out_total))
        return nst_fail(e, "chain pool: size overflow");
    return 0;
}

// y (rows, nst_pad8(k)): the conv epilogue, bias (may be NULL) and ReLU, padded
// channels set to 0.
int chain_bias_relu(void *y, const float *bias, size_t rows, int k, int relu, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    int kp = nst_pad8(k);
    size_t total = rows * (size_t)kp;
    nst_cu_by_type(chain_bf16(), [&](auto z) {
        using T = decltype(z);
        bias_relu_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>((T *)y, bias, total, k, kp,
                                                                         relu);
    });
    return nst_cu_launched("bias_relu_kernel", e);
}

} // namespace

// ---- nst_chain_ops slots ----

static size_t chain_elem_size(nst_precision p) {
    return p == NST_BF16 ? sizeof(__nv_bfloat16) : sizeof(float);
}

static int chain_from_nchw(void *out, const float *in, int n, int c, size_t P, nst_err *e) {
    return nst_cu_to_nhwc(out, chain_bf16(), in, NULL, n, c, nst_pad8(c), P, e);
}

static int chain_to_nchw(float *out, const void *in, int n, int c, size_t P, nst_err *e) {
    return nst_cu_from_nhwc(out, in, chain_bf16(), NULL, 0, n, c, nst_pad8(c), P, e);
}

static size_t chain_weight_bytes(nst_precision p, int k, int c) {
    return (size_t)nst_pad8(k) * 9 * (size_t)nst_pad8(c) * chain_elem_size(p);
}

static int chain_weights(void *out, const float *w, int k, int c, nst_err *e) {
    return nst_cu_weights_krsc(out, chain_bf16(), w, k, c, nst_pad8(k), nst_pad8(c), e);
}

// The chain's convolutions: x, y, dx, dy are NHWC buffers with padded channels in the
// chain's element type, wp the weights in KRSC (chain_weights).
static int chain_conv_fwd(void *y, const void *x, const void *wp, const float *bias, int n, int c,
                          int h, int wd, int k, int relu, nst_err *e) {
    if (nst_cu_conv_sizes("chain conv3x3", n, c, h, wd, k, e) ||
        nst_cu_conv_run(0, n, c, h, wd, k, 1, x, wp, y, e))
        return -1;
    return chain_bias_relu(y, bias, (size_t)n * h * wd, k, relu, e);
}

static int chain_conv_bwd(void *dx, const void *dy, const void *wp, int n, int c, int h, int wd,
                          int k, nst_err *e) {
    if (nst_cu_conv_sizes("chain conv3x3_bwd_data", n, c, h, wd, k, e)) return -1;
    return nst_cu_conv_run(1, n, c, h, wd, k, 1, dy, wp, dx, e);
}

static int chain_pool_fwd(void *y, const void *x, int n, int c, int h, int wd, nst_pool mode,
                          nst_err *e) {
    cudaStream_t s;
    size_t in_total, out_total;
    if (nst_cu_stream(&s, e) || pool_check(n, c, h, wd, mode, &in_total, &out_total, e)) return -1;
    int cp = nst_pad8(c), mx = mode == NST_POOL_MAX;
    nst_cu_by_type(chain_bf16(), [&](auto z) {
        using T = decltype(z);
        pool_fwd_kernel<<<nst_cu_blocks(out_total), NST_CU_THREADS, 0, s>>>(
            (T *)y, (const T *)x, out_total, cp, h, wd, mx);
    });
    return nst_cu_launched("chain pool_fwd_kernel", e);
}

static int chain_pool_bwd(void *dx, const void *dy, const void *x, int n, int c, int h, int wd,
                          nst_pool mode, nst_err *e) {
    cudaStream_t s;
    size_t in_total, out_total;
    if (nst_cu_stream(&s, e) || pool_check(n, c, h, wd, mode, &in_total, &out_total, e)) return -1;
    int cp = nst_pad8(c), mx = mode == NST_POOL_MAX;
    nst_cu_by_type(chain_bf16(), [&](auto z) {
        using T = decltype(z);
        pool_bwd_kernel<<<nst_cu_blocks(in_total), NST_CU_THREADS, 0, s>>>(
            (T *)dx, (const T *)dy, (const T *)x, in_total, cp, h, wd, mx);
    });
    return nst_cu_launched("chain pool_bwd_kernel", e);
}

static int chain_grad(void *g, int valid, const float *tap, const void *mask, int n, int c,
                      size_t P, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    int cp = nst_pad8(c);
    bool bf = chain_bf16();
    if (!tap) { // mask only
        if (!valid) return nst_fail(e, "chain grad: nothing to mask");
        if (!mask) return 0;
        size_t total = P * (size_t)n * (size_t)cp;
        nst_cu_by_type(bf, [&](auto z) {
            using T = decltype(z);
            mask_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>((T *)g, (const T *)mask,
                                                                        total);
        });
        return nst_cu_launched("chain mask_kernel", e);
    }
    for (int b0 = 0; b0 < n; b0 += MAX_Z) {
        int nb = n - b0 < MAX_Z ? n - b0 : MAX_Z;
        size_t off = (size_t)b0 * cp * P;
        const float *t = tap + (size_t)b0 * c * P;
        dim3 grid((unsigned)((P + TILE - 1) / TILE), (unsigned)((cp + TILE - 1) / TILE),
                  (unsigned)nb);
        dim3 block(TILE, ROWS);
        nst_cu_by_type(bf, [&](auto z) {
            using T = decltype(z);
            add_tap_kernel<<<grid, block, 0, s>>>((T *)g + off, valid, t,
                                                  mask ? (const T *)mask + off : nullptr, c, cp, P);
        });
        if (nst_cu_launched("chain add_tap_kernel", e)) return -1;
    }
    return 0;
}

// Positional, in the order of struct nst_chain_ops (designated initializers are C++20).
extern "C" const nst_chain_ops nst_cuda_chain = {
    chain_elem_size, chain_from_nchw, chain_to_nchw,  chain_weight_bytes, chain_weights,
    chain_conv_fwd,  chain_conv_bwd,  chain_pool_fwd, chain_pool_bwd,     chain_grad,
};
static_assert(sizeof(nst_chain_ops) == 10 * sizeof(void *),
              "nst_chain_ops changed: update the table");
