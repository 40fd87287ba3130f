// The temporal loss on the GPU (the CPU twin is src/cpu/cpu_temporal.c): one elementwise
// pass writes the gradient 2 scale c (x - w) and the terms scale c (x - w)^2 into
// scratch, then cuda_reduce.cu's deterministic sum makes the device scalar.
#include "cuda_internal.h"

// x, w, grad, terms (n, ch, hw); c NULL or (n, mc, hw), mc 1 or ch.
__global__ void temporal_kernel(float *terms, float *grad, const float *x, const float *w,
                                const float *c, int ch, size_t hw, int mc, float scale,
                                size_t total) {
    NST_CU_GRID_STRIDE(idx, total) {
        float d = x[idx] - w[idx], cd = d;
        if (c) {
            size_t pl = idx / hw, b = pl / ch, k = pl % ch;
            cd = c[(b * mc + (mc == 1 ? 0 : k)) * hw + idx % hw] * d;
        }
        terms[idx] = scale * cd * d;
        if (grad) grad[idx] = 2.0f * scale * cd;
    }
}

int nst_cu_temporal_loss(float *loss1, float *grad, const float *x, const float *w, const float *c,
                         int n, int ch, size_t hw, int mc, float scale, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    size_t total = (size_t)n * ch * hw;
    float *terms = (float *)nst_cu_alloc(total * sizeof(float), e);
    if (!terms) return -1;
    temporal_kernel<<<nst_cu_blocks(total), NST_CU_THREADS, 0, s>>>(terms, grad, x, w, c, ch, hw,
                                                                    mc, scale, total);
    int rc = nst_cu_launched("temporal_kernel", e);
    if (!rc) rc = nst_cu_reduce(loss1, terms, total, NST_SUM, e);
    // Stream order: the arena hands the block out again only to later work.
    nst_cu_free(terms);
    return rc;
}
