// src/io/flow.h without OpenCV: the build found no OpenCV headers, so flow is an error
// that says how to get it (warping, the mask and the temporal loss still work).
#ifndef NST_WITH_OPENCV
#include "io/flow.h"

int nst_flow_available(void) { return 0; }

int nst_flow_dis(float *fwd, float *bwd, const float *a, const float *b, int c, int h, int w,
                 int preset, nst_err *e) {
    return nst_fail(e, "flow: nst was built without OpenCV (install Debian's libopencv-video-dev "
                       "and rebuild)");
}
#else
// Keeps the translation unit non-empty (ISO C forbids an empty one).
typedef int nst_flow_none_unused;
#endif
