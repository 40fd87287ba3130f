// Layout conversions around cuDNN's channels-last (NHWC) convolutions.
//
// nst's tensors are NCHW float32. cuDNN's tensor-core kernels on Hopper want NHWC with
// channel counts that are multiples of 8; given NCHW they transpose internally (extra
// kernels every call). So a channels-last convolution converts its input once, with
// the channel count padded by zeros, runs on NHWC, and converts the output back while
// adding the bias and applying ReLU, in one pass each way. Storage type T is float
// (fp32 / tf32 modes) or bf16.
//
// The transposes go through a 32x33 shared tile so that both the read and the write of
// every warp are contiguous.
#include <cuda_bf16.h>

#include "cuda_internal.h"

namespace {

constexpr int TILE = 32, ROWS = 8;
// gridDim.z limit; larger batches are split.
constexpr int MAX_Z = 65535;

__device__ inline void store(float *p, float v) { *p = v; }
__device__ inline void store(__nv_bfloat16 *p, float v) { *p = __float2bfloat16(v); }
__device__ inline float load(const float *p) { return *p; }
__device__ inline float load(const __nv_bfloat16 *p) { return __bfloat162float(*p); }

// in (n, c, P) float -> out (n, P, cp) T; channels c..cp-1 are written as zero, and so
// is every element whose mask (n, c, P) is not > 0 (a ReLU's backward; mask may be NULL).
template <typename T>
__global__ void to_nhwc_kernel(T *out, const float *in, const float *mask, int c, int cp,
                               size_t P) {
    __shared__ float tile[TILE][TILE + 1];
    size_t p0 = (size_t)blockIdx.x * TILE;
    int c0 = blockIdx.y * TILE;
    T *dst = out + (size_t)blockIdx.z * cp * P;
    for (int j = threadIdx.y; j < TILE; j += ROWS) {
        int ch = c0 + j;
        size_t p = p0 + threadIdx.x;
        size_t at = (size_t)blockIdx.z * c * P + (size_t)ch * P + p;
        tile[j][threadIdx.x] = ch < c && p < P && (!mask || mask[at] > 0.0f) ? in[at] : 0.0f;
    }
    __syncthreads();
    for (int j = threadIdx.y; j < TILE; j += ROWS) {
        size_t p = p0 + j;
        int ch = c0 + threadIdx.x;
        if (p < P && ch < cp) store(dst + p * cp + ch, tile[threadIdx.x][j]);
    }
}

// in (n, P, kp) T -> out (n, k, P) float: out = relu?(in + bias[channel]); channels
// k..kp-1 of the input are dropped. ReLU maps NaN to 0, as the CPU's fused ReLU.
template <typename T>
__global__ void from_nhwc_kernel(float *out, const T *in, const float *bias, int relu, int k,
                                 int kp, size_t P) {
    __shared__ float tile[TILE][TILE + 1];
    size_t p0 = (size_t)blockIdx.x * TILE;
    int k0 = blockIdx.y * TILE;
    const T *src = in + (size_t)blockIdx.z * kp * P;
    float *dst = out + (size_t)blockIdx.z * k * P;
    for (int j = threadIdx.y; j < TILE; j += ROWS) {
        size_t p = p0 + j;
        int ch = k0 + threadIdx.x;
        tile[j][threadIdx.x] = p < P && ch < k ? load(src + p * kp + ch) : 0.0f;
    }
    __syncthreads();
    for (int j = threadIdx.y; j < TILE; j += ROWS) {
        int ch = k0 + j;
        size_t p = p0 + threadIdx.x;
        if (ch < k && p < P) {
            float v = tile[threadIdx.x][j];
            if (bias) v += bias[ch];
            if (relu) v = v > 0.0f ? v : 0.0f;
            dst[(size_t)ch * P + p] = v;
        }
    }
}

// w (k, c, 3, 3) float -> out (kp, 3, 3, cp) T (cuDNN's NHWC filter layout, KRSC);
// padded filters and channels are zero.
template <typename T>
__global__ void weights_krsc_kernel(T *out, const float *w, int k, int c, int kp, int cp) {
    size_t total = (size_t)kp * 9 * cp;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)blockDim.x * gridDim.x) {
        int ch = (int)(i % (size_t)cp);
        size_t rest = i / (size_t)cp;
        int rs = (int)(rest % 9);
        int kk = (int)(rest / 9);
        store(out + i, kk < k && ch < c ? w[((size_t)kk * c + ch) * 9 + rs] : 0.0f);
    }
}

dim3 tile_grid(size_t P, int channels, int batch) {
    return dim3((unsigned)((P + TILE - 1) / TILE), (unsigned)((channels + TILE - 1) / TILE),
                (unsigned)batch);
}

} // namespace

int nst_cu_to_nhwc(void *out, int bf16, const float *in, const float *mask, int n, int c, int cp,
                   size_t P, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    for (int b0 = 0; b0 < n; b0 += MAX_Z) {
        int nb = n - b0 < MAX_Z ? n - b0 : MAX_Z;
        const float *src = in + (size_t)b0 * c * P, *msk = mask ? mask + (size_t)b0 * c * P : NULL;
        size_t off = (size_t)b0 * cp * P;
        dim3 grid = tile_grid(P, cp, nb), block(TILE, ROWS);
        nst_cu_by_type(bf16, [&](auto z) {
            using T = decltype(z);
            to_nhwc_kernel<<<grid, block, 0, s>>>((T *)out + off, src, msk, c, cp, P);
        });
        if (nst_cu_launched("to_nhwc_kernel", e)) return -1;
    }
    return 0;
}

int nst_cu_from_nhwc(float *out, const void *in, int bf16, const float *bias, int relu, int n,
                     int k, int kp, size_t P, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    for (int b0 = 0; b0 < n; b0 += MAX_Z) {
        int nb = n - b0 < MAX_Z ? n - b0 : MAX_Z;
        float *dst = out + (size_t)b0 * k * P;
        size_t off = (size_t)b0 * kp * P;
        dim3 grid = tile_grid(P, k, nb), block(TILE, ROWS);
        nst_cu_by_type(bf16, [&](auto z) {
            using T = decltype(z);
            from_nhwc_kernel<<<grid, block, 0, s>>>(dst, (const T *)in + off, bias, relu, k, kp, P);
        });
        if (nst_cu_launched("from_nhwc_kernel", e)) return -1;
    }
    return 0;
}

int nst_cu_weights_krsc(void *out, int bf16, const float *w, int k, int c, int kp, int cp,
                        nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    size_t total = (size_t)kp * 9 * cp;
    nst_cu_by_type(bf16, [&](auto z) {
        using T = decltype(z);
        weights_krsc_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>((T *)out, w, k, c, kp,
                                                                            cp);
    });
    return nst_cu_launched("weights_krsc_kernel", e);
}
