// Video ops of the core (issue 15): optical flow between frames, backward warping by a
// flow, the forward-backward consistency mask and the temporal loss of Ruder, Dosovitskiy
// & Brox, "Artistic style transfer for videos" (2016). Checks here, math in the
// backends' video tables (src/cpu/cpu_video.c, kernels/cuda_video.cu).
//
// Flow convention (OpenCV's): flow (N,2,H,W) from frame a to frame b holds, per pixel p
// of a, the displacement in pixels (channel 0: x to the right, channel 1: y down) with
// a(p) ~ b(p + flow(p)). So warp(b, flow) ~ a: warping pulls b back onto a's grid.
#ifndef NST_VIDEO_H
#define NST_VIDEO_H

#include "nst.h"

// What a sample outside the frame reads: the nearest edge pixel (OpenCV's
// BORDER_REPLICATE) or 0 (BORDER_CONSTANT with value 0, neighbours inside the frame
// still blended in).
typedef enum nst_border { NST_BORDER_REPLICATE = 0, NST_BORDER_ZERO = 1 } nst_border;

// Thresholds of the consistency check (pixels squared; Ruder et al.'s defaults in
// nst_consistency_defaults). With bwd the flow of the current frame to the previous one
// and fwd the flow of the previous frame to the current one, wf(p) = fwd(p + bwd(p)):
//   disoccluded where |wf + bwd|^2 > occ_rel (|wf|^2 + |bwd|^2) + occ_abs
//   motion boundary where |grad bwd_x|^2 + |grad bwd_y|^2 > mb_rel |bwd|^2 + mb_abs
// and where p + bwd(p) leaves the previous frame. The mask is 0 there, 1 elsewhere.
typedef struct nst_consistency {
    float occ_rel, occ_abs, mb_rel, mb_abs;
} nst_consistency;

extern const nst_consistency nst_consistency_defaults;

// One table per device, like src/backend.h's (out, in..., sizes, params, err); the
// core checks shapes before calling. Planes are h x w floats.
typedef struct nst_video_backend {
    const char *name;
    // out (n,c,h,w)[p] = img (n,c,h,w) sampled bilinearly at p + flow (n,2,h,w)[p];
    // a non-finite flow reads 0. out must not alias img or flow.
    int (*warp)(float *out, const float *img, const float *flow, int n, int c, int h, int w,
                nst_border border, nst_err *e);
    // mask (n,1,h,w) from fwd and bwd (n,2,h,w), see nst_consistency.
    int (*consistency)(float *mask, const float *fwd, const float *bwd, int n, int h, int w,
                       const nst_consistency *p, nst_err *e);
    // loss1 = scale * sum c (x - w)^2 over x (n,ch,hw); grad = 2 scale c (x - w) or NULL.
    // c: NULL (all ones), or (n,mc,hw) with mc = 1 (one weight per pixel, shared by the
    // channels) or mc = ch.
    int (*temporal_loss)(float *loss1, float *grad, const float *x, const float *w,
                         const float *c, int n, int ch, size_t hw, int mc, float scale, nst_err *e);
} nst_video_backend;

extern const nst_video_backend nst_cpu_video_backend;
#ifdef NST_WITH_CUDA
extern const nst_video_backend nst_cuda_video_backend;
#endif

typedef enum nst_flow_preset {
    NST_FLOW_ULTRAFAST = 0, // OpenCV's DISOpticalFlow::PRESET_ULTRAFAST
    NST_FLOW_FAST = 1,
    NST_FLOW_MEDIUM = 2,
} nst_flow_preset;

// fwd (1,2,H,W) = flow from a to b; bwd (like fwd, or NULL) = flow from b to a. a, b:
// frames (1,3,H,W) RGB or (1,1,H,W) grey in [0,1] on one device; the flow is computed
// on the host (OpenCV's DIS) and lands on the frames' device.
int nst_flow(nst_tensor *fwd, nst_tensor *bwd, const nst_tensor *a, const nst_tensor *b,
             nst_flow_preset preset, nst_err *e);
// out like img (N,C,H,W); flow (N,2,H,W).
int nst_warp(nst_tensor *out, const nst_tensor *img, const nst_tensor *flow, nst_border border,
             nst_err *e);
// mask (N,1,H,W); fwd, bwd (N,2,H,W).
int nst_flow_consistency(nst_tensor *mask, const nst_tensor *fwd, const nst_tensor *bwd,
                         const nst_consistency *p, nst_err *e);
// loss1 one element; grad like x or NULL; w like x; c NULL, (N,1,H,W) or like x.
// x (N,C,H,W). loss = scale * sum c (x - w)^2, grad = 2 scale c (x - w).
int nst_temporal_loss(nst_tensor *loss1, nst_tensor *grad, const nst_tensor *x,
                      const nst_tensor *w, const nst_tensor *c, float scale, nst_err *e);

#endif
