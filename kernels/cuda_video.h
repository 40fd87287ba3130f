// Shared by the CUDA video files (cuda_flow.cu, cuda_temporal.cu, cuda_video.cu): the
// slots of the CUDA video table (src/core/video.h), arguments as there.
#ifndef NST_CUDA_VIDEO_H
#define NST_CUDA_VIDEO_H

#include "cuda_internal.h"

extern "C" {
#include "video.h"
}

// One thread per item of a grid-stride loop over n items.
#define NST_CU_VIDEO_STRIDE(i, n) \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (size_t)blockDim.x * gridDim.x)

int nst_cu_warp(float *out, const float *img, const float *flow, int n, int c, int h, int w,
                nst_border border, nst_err *e);
int nst_cu_consistency(float *mask, const float *fwd, const float *bwd, int n, int h, int w,
                       const nst_consistency *p, nst_err *e);
int nst_cu_temporal_loss(float *loss1, float *grad, const float *x, const float *w, const float *c,
                         int n, int ch, size_t hw, int mc, float scale, nst_err *e);

#endif
