// The per-pixel rules of warping and of the consistency mask, shared by the CPU backend
// (src/cpu/cpu_flow.c) and the CUDA kernels (kernels/cuda_flow.cu) so both compute the
// same thing. See src/core/video.h for the conventions.
#ifndef NST_FLOW_MATH_H
#define NST_FLOW_MATH_H

#include <math.h>
#include <stddef.h>

#include "core/elementwise.h" // NST_HD
#include "core/backend.h" // nst_border

NST_HD int nst_flow_finite(float v) { return v >= -1e30f && v <= 1e30f; } // false for NaN too

NST_HD float nst_flow_clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

// Plane (h, w) at integer (x, y): 0 outside for NST_BORDER_ZERO; replicate has clamped.
NST_HD float nst_flow_at(const float *plane, int h, int w, int x, int y, nst_border border) {
    if (border == NST_BORDER_REPLICATE) {
        x = x < 0 ? 0 : x >= w ? w - 1 : x;
        y = y < 0 ? 0 : y >= h ? h - 1 : y;
    } else if (x < 0 || x >= w || y < 0 || y >= h) {
        return 0.0f;
    }
    return plane[(size_t)y * w + x];
}

// Bilinear sample at (x, y), pixel centres at integers, as OpenCV's remap with
// INTER_LINEAR (which rounds the weights to 1/32 of a pixel; this does not). Clamping the
// coordinate first is exact (replicate: to the edge pixels; zero: one pixel out, where
// every neighbour but the edge reads 0) and keeps huge values off the int conversion.
NST_HD float nst_flow_sample(const float *plane, int h, int w, float x, float y,
                             nst_border border) {
    if (!nst_flow_finite(x) || !nst_flow_finite(y)) return 0.0f;
    if (border == NST_BORDER_REPLICATE) {
        x = nst_flow_clampf(x, 0.0f, (float)(w - 1));
        y = nst_flow_clampf(y, 0.0f, (float)(h - 1));
    } else {
        x = nst_flow_clampf(x, -1.0f, (float)w);
        y = nst_flow_clampf(y, -1.0f, (float)h);
    }
    float fx = floorf(x), fy = floorf(y), ax = x - fx, ay = y - fy;
    int x0 = (int)fx, y0 = (int)fy;
    float v00 = nst_flow_at(plane, h, w, x0, y0, border),
          v01 = nst_flow_at(plane, h, w, x0 + 1, y0, border);
    float v10 = nst_flow_at(plane, h, w, x0, y0 + 1, border);
    float v11 = nst_flow_at(plane, h, w, x0 + 1, y0 + 1, border);
    return (1.0f - ay) * ((1.0f - ax) * v00 + ax * v01) + ay * ((1.0f - ax) * v10 + ax * v11);
}

// Consistency of pixel (x, y) of the current frame: 1 or 0. fwd, bwd: (2, h, w) of one
// batch item. Written as !(a <= b) so that a NaN anywhere marks the pixel inconsistent.
NST_HD float nst_flow_consistent(const float *fwd, const float *bwd, int h, int w, int x, int y,
                                 nst_consistency p) {
    size_t hw = (size_t)h * w, i = (size_t)y * w + x;
    float bu = bwd[i], bv = bwd[hw + i];
    float px = (float)x + bu, py = (float)y + bv;
    // Also false for NaN: the pixel comes from outside the previous frame.
    if (!(px >= 0.0f && px <= (float)(w - 1) && py >= 0.0f && py <= (float)(h - 1))) return 0.0f;
    float fu = nst_flow_sample(fwd, h, w, px, py, NST_BORDER_REPLICATE);
    float fv = nst_flow_sample(fwd + hw, h, w, px, py, NST_BORDER_REPLICATE);
    float su = fu + bu, sv = fv + bv, b2 = bu * bu + bv * bv;
    if (!(su * su + sv * sv <= p.occ_rel * (fu * fu + fv * fv + b2) + p.occ_abs)) return 0.0f;
    // Forward differences of the backward flow, 0 past the last column / row.
    float ux = x + 1 < w ? bwd[i + 1] - bu : 0.0f, uy = y + 1 < h ? bwd[i + w] - bu : 0.0f;
    float vx = x + 1 < w ? bwd[hw + i + 1] - bv : 0.0f,
          vy = y + 1 < h ? bwd[hw + i + w] - bv : 0.0f;
    if (!(ux * ux + uy * uy + vx * vx + vy * vy <= p.mb_rel * b2 + p.mb_abs)) return 0.0f;
    return 1.0f;
}

#endif
