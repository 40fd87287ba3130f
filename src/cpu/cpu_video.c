// The CPU video backend's table (src/core/video.h).
#include "cpu_video.h"

const nst_video_backend nst_cpu_video_backend = {
    .name = "cpu",
    .warp = nst_cpu_warp,
    .consistency = nst_cpu_consistency,
    .temporal_loss = nst_cpu_temporal_loss,
};
