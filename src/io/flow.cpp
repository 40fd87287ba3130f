// OpenCV's DIS optical flow behind src/io/flow.h's C interface. Every OpenCV call sits
// inside a try block: a cv::Exception or std::bad_alloc becomes an nst_err message, never
// an exception crossing into C (which would terminate the Lua host).
#include <math.h>

#include <exception>
#include <new>
#include <opencv2/core.hpp>
#include <opencv2/video/tracking.hpp>

extern "C" {
#include "io/flow.h"
}

// Planar (c, h, w) floats in [0,1] -> 8-bit grey: DIS works on CV_8UC1 only.
static void to_grey(cv::Mat &out, const float *img, int c, int h, int w) {
    size_t hw = (size_t)h * w;
    for (int y = 0; y < h; y++) {
        unsigned char *row = out.ptr<unsigned char>(y);
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            float v = c == 3 ? 0.299f * img[i] + 0.587f * img[hw + i] + 0.114f * img[2 * hw + i]
                             : img[i];
            v = v * 255.0f + 0.5f;
            // NaN fails both tests and reads as 0.
            row[x] = v >= 255.0f ? 255 : v >= 0.0f ? (unsigned char)v : 0;
        }
    }
}

// CV_32FC2 (h, w) interleaved -> planar (2, h, w).
static void to_planar(float *out, const cv::Mat &flow, int h, int w) {
    size_t hw = (size_t)h * w;
    for (int y = 0; y < h; y++) {
        const cv::Vec2f *row = flow.ptr<cv::Vec2f>(y);
        for (int x = 0; x < w; x++) {
            out[(size_t)y * w + x] = row[x][0];
            out[hw + (size_t)y * w + x] = row[x][1];
        }
    }
}

static int calc(float *fwd, float *bwd, const float *a, const float *b, int c, int h, int w,
                int preset, nst_err *e) {
    cv::Mat ga(h, w, CV_8UC1), gb(h, w, CV_8UC1), flow;
    to_grey(ga, a, c, h, w);
    to_grey(gb, b, c, h, w);
    cv::Ptr<cv::DISOpticalFlow> dis = cv::DISOpticalFlow::create(preset);
    dis->calc(ga, gb, flow);
    if (flow.rows != h || flow.cols != w || flow.type() != CV_32FC2)
        return nst_fail(e, "flow: OpenCV's DIS returned a %dx%d flow of type %d for a %dx%d frame",
                        flow.cols, flow.rows, flow.type(), w, h);
    to_planar(fwd, flow, h, w);
    if (bwd) {
        flow.release();
        dis->calc(gb, ga, flow);
        to_planar(bwd, flow, h, w);
    }
    return 0;
}

extern "C" int nst_flow_available(void) { return 1; }

extern "C" int nst_flow_dis(float *fwd, float *bwd, const float *a, const float *b, int c, int h,
                            int w, int preset, nst_err *e) {
    if (c != 1 && c != 3) return nst_fail(e, "flow: frames have 1 or 3 channels, got %d", c);
    if (h < NST_FLOW_MIN_SIDE || w < NST_FLOW_MIN_SIDE)
        return nst_fail(e, "flow: frames of %dx%d are too small (at least %dx%d)", w, h,
                        NST_FLOW_MIN_SIDE, NST_FLOW_MIN_SIDE);
    if (preset < 0 || preset > 2) return nst_fail(e, "flow: unknown DIS preset %d", preset);
    try {
        return calc(fwd, bwd, a, b, c, h, w, preset, e);
    } catch (const cv::Exception &ex) {
        return nst_fail(e, "flow: OpenCV: %s", ex.what());
    } catch (const std::bad_alloc &) {
        return nst_fail(e, "flow: out of memory");
    } catch (const std::exception &ex) {
        return nst_fail(e, "flow: %s", ex.what());
    } catch (...) {
        return nst_fail(e, "flow: unknown C++ exception in OpenCV");
    }
}
