// Video ops of the core (issue 15): optical flow between frames, backward warping by a
// flow, the forward-backward consistency mask and the temporal loss of Ruder, Dosovitskiy
// & Brox, "Artistic style transfer for videos" (2016). Checks here, math in the
// backends' warp, consistency and temporal_loss slots (core/backend.h).
//
// Flow convention (OpenCV's): flow (N,2,H,W) from frame a to frame b holds, per pixel p
// of a, the displacement in pixels (channel 0: x to the right, channel 1: y down) with
// a(p) ~ b(p + flow(p)). So warp(b, flow) ~ a: warping pulls b back onto a's grid.
#ifndef NST_VIDEO_H
#define NST_VIDEO_H

#include "core/backend.h"

extern const nst_consistency nst_consistency_defaults;

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
int nst_temporal_loss(nst_tensor *loss1, nst_tensor *grad, const nst_tensor *x, const nst_tensor *w,
                      const nst_tensor *c, float scale, nst_err *e);

#endif
