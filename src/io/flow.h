// Dense optical flow on the host with OpenCV's DIS (Kroeger et al., "Fast Optical Flow
// using Dense Inverse Search", 2016), behind a C interface: src/io/flow.cpp when nst is
// built with OpenCV, src/io/flow_none.c (an error) otherwise. No C++ exception leaves it.
#ifndef NST_FLOW_H
#define NST_FLOW_H

#include "core/nst.h"

// Frames smaller than this on a side are refused (DIS works on 8x8 patches).
#define NST_FLOW_MIN_SIDE 16

// a, b: planar frames (c, h, w) of floats in [0,1], c = 3 (RGB) or 1 (grey); they are
// turned into 8-bit grey (Rec. 601 luma), which is what DIS takes. fwd (2, h, w): the
// flow from a to b in pixels (plane 0: x, plane 1: y), a(p) ~ b(p + fwd(p)); bwd (may be
// NULL): the flow from b to a. preset: 0 ultrafast, 1 fast, 2 medium (OpenCV's presets).
int nst_flow_dis(float *fwd, float *bwd, const float *a, const float *b, int c, int h, int w,
                 int preset, nst_err *e);

// 1 when nst was built with OpenCV (flow available), else 0.
int nst_flow_available(void);

#endif
