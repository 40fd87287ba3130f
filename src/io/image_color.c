// Colour conversions on (N,3,H,W) or (3,H,W) CPU tensors: RGB <-> YUV with the
// coefficients of Torch7's image.rgb2yuv / image.yuv2rgb, and neural-style's
// -original_colors (luminance of the result, chrominance of the content).
#include <stddef.h>

#include "io/image.h"

// Number of images and pixels per plane of an (N,3,H,W) or (3,H,W) CPU tensor.
static int image_dims(const nst_tensor *t, const char *what, int64_t *n, size_t *hw, nst_err *e) {
    char shape[64];
    if (!t) return nst_fail(e, "%s: no tensor", what);
    if (nst_dev(t) != NST_CPU)
        return nst_fail(e, "%s: expected a CPU tensor; call :cpu() first", what);
    int d = t->ndim - 3;
    if ((t->ndim != 3 && t->ndim != 4) || t->shape[d] != 3) {
        nst_shape_str(t, shape, sizeof shape);
        return nst_fail(e, "%s: expected an image tensor Nx3xHxW or 3xHxW, got %s", what, shape);
    }
    *n = d ? t->shape[0] : 1;
    *hw = (size_t)t->shape[d + 1] * (size_t)t->shape[d + 2];
    return 0;
}

static int same_image_shape(const nst_tensor *a, const nst_tensor *b, const char *what,
                            nst_err *e) {
    if (nst_same_shape(a, b)) return 0;
    char sa[64], sb[64];
    nst_shape_str(a, sa, sizeof sa);
    nst_shape_str(b, sb, sizeof sb);
    return nst_fail(e, "%s: shapes differ: %s vs %s", what, sa, sb);
}

// out[:, 0..2] = M in[:, 0..2] per pixel; out may alias in.
static void mix3(float *out, const float *in, int64_t n, size_t hw, const float m[3][3]) {
    for (int64_t b = 0; b < n; b++) {
        const float *i0 = in + (size_t)b * 3 * hw, *i1 = i0 + hw, *i2 = i1 + hw;
        float *o0 = out + (size_t)b * 3 * hw, *o1 = o0 + hw, *o2 = o1 + hw;
        for (size_t p = 0; p < hw; p++) {
            float x = i0[p], y = i1[p], z = i2[p];
            o0[p] = m[0][0] * x + m[0][1] * y + m[0][2] * z;
            o1[p] = m[1][0] * x + m[1][1] * y + m[1][2] * z;
            o2[p] = m[2][0] * x + m[2][1] * y + m[2][2] * z;
        }
    }
}

static const float RGB2YUV[3][3] = {
    {0.299f, 0.587f, 0.114f},
    {-0.14713f, -0.28886f, 0.436f},
    {0.615f, -0.51499f, -0.10001f},
};
static const float YUV2RGB[3][3] = {
    {1.0f, 0.0f, 1.13983f},
    {1.0f, -0.39465f, -0.58060f},
    {1.0f, 2.03211f, 0.0f},
};

static int convert(nst_tensor *out, const nst_tensor *in, const float m[3][3], const char *what,
                   nst_err *e) {
    int64_t n;
    size_t hw;
    if (image_dims(in, what, &n, &hw, e) || image_dims(out, what, &n, &hw, e) ||
        same_image_shape(out, in, what, e))
        return -1;
    mix3(nst_data(out), nst_data(in), n, hw, m);
    return 0;
}

int nst_image_rgb_to_yuv(nst_tensor *out, const nst_tensor *in, nst_err *e) {
    return convert(out, in, RGB2YUV, "rgb_to_yuv", e);
}

int nst_image_yuv_to_rgb(nst_tensor *out, const nst_tensor *in, nst_err *e) {
    return convert(out, in, YUV2RGB, "yuv_to_rgb", e);
}

int nst_image_original_colors(nst_tensor *out, const nst_tensor *content,
                              const nst_tensor *generated, nst_err *e) {
    const char *what = "original_colors";
    int64_t n;
    size_t hw;
    if (image_dims(content, what, &n, &hw, e) || image_dims(generated, what, &n, &hw, e) ||
        image_dims(out, what, &n, &hw, e) || same_image_shape(content, generated, what, e) ||
        same_image_shape(out, content, what, e))
        return -1;
    const float *c = nst_data(content), *g = nst_data(generated);
    float *o = nst_data(out);
    for (int64_t b = 0; b < n; b++) {
        size_t base = (size_t)b * 3 * hw;
        for (size_t p = 0; p < hw; p++) {
            // out may alias either input: read everything before writing.
            float cr = c[base + p], cg = c[base + hw + p], cb = c[base + 2 * hw + p];
            float gr = g[base + p], gg = g[base + hw + p], gb = g[base + 2 * hw + p];
            float y = RGB2YUV[0][0] * gr + RGB2YUV[0][1] * gg + RGB2YUV[0][2] * gb;
            float u = RGB2YUV[1][0] * cr + RGB2YUV[1][1] * cg + RGB2YUV[1][2] * cb;
            float v = RGB2YUV[2][0] * cr + RGB2YUV[2][1] * cg + RGB2YUV[2][2] * cb;
            o[base + p] = y + YUV2RGB[0][2] * v;
            o[base + hw + p] = y + YUV2RGB[1][1] * u + YUV2RGB[1][2] * v;
            o[base + 2 * hw + p] = y + YUV2RGB[2][1] * u;
        }
    }
    return 0;
}
