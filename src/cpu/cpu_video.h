// Prototypes of the CPU video backend (src/cpu/cpu_flow.c, src/cpu/cpu_temporal.c); the
// table is in src/cpu/cpu_video.c. Arguments as in src/core/video.h.
#ifndef NST_CPU_VIDEO_H
#define NST_CPU_VIDEO_H

#include "video.h"

int nst_cpu_warp(float *out, const float *img, const float *flow, int n, int c, int h, int w,
                 nst_border border, nst_err *e);
int nst_cpu_consistency(float *mask, const float *fwd, const float *bwd, int n, int h, int w,
                        const nst_consistency *p, nst_err *e);
int nst_cpu_temporal_loss(float *loss1, float *grad, const float *x, const float *w,
                          const float *c, int n, int ch, size_t hw, int mc, float scale, nst_err *e);

#endif
