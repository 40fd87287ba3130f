// The CUDA video backend's table (src/core/video.h); its CPU twin is src/cpu/cpu_video.c.
#include "cuda_video.h"

// Positional, in the order of struct nst_video_backend (designated initializers are C++20).
extern "C" const nst_video_backend nst_cuda_video_backend = {
    "cuda",
    nst_cu_warp,
    nst_cu_consistency,
    nst_cu_temporal_loss,
};
static_assert(sizeof(nst_video_backend) == 4 * sizeof(void *),
              "nst_video_backend changed: update the table");
