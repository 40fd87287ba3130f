// Image files: format detection by content, size limits, loading and saving (through
// the atomic writer). The format readers and writers live in image_png.c and
// image_jpeg.c.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "io/atomic_file.h"
#include "io/image.h"

int nst_image_check_size(const char *path, int64_t w, int64_t h, nst_err *e) {
    if (w < 1 || h < 1)
        return nst_fail(e, "%s: image is %lldx%lld, it has no pixels", path, (long long)w,
                        (long long)h);
    // PNG sides fit in 31 bits and JPEG's in 16, so the product cannot overflow.
    uint64_t pixels = (uint64_t)w * (uint64_t)h;
    if (w > 0x7fffffff || h > 0x7fffffff || pixels > (uint64_t)nst_max_image_pixels)
        return nst_fail(
            e, "%s: image is %lldx%lld (%llu pixels), more than the limit of %zu pixels", path,
            (long long)w, (long long)h, (unsigned long long)pixels, nst_max_image_pixels);
    return 0;
}

void nst_image_put_rgb8_row(nst_tensor *t, const unsigned char *rgb, int64_t y) {
    int64_t h = t->shape[2], w = t->shape[3];
    float *r = nst_data(t) + y * w, *g = r + h * w, *b = g + h * w;
    for (int64_t x = 0; x < w; x++, rgb += 3) {
        r[x] = rgb[0] / 255.0f;
        g[x] = rgb[1] / 255.0f;
        b[x] = rgb[2] / 255.0f;
    }
}

unsigned nst_image_quantize(float v, unsigned maxv) {
    if (!(v > 0.0f)) return 0; // negative or NaN
    if (v >= 1.0f) return maxv;
    return (unsigned)(v * (float)maxv + 0.5f);
}

// Opens path and tells its format from the first bytes.
static FILE *open_image(const char *path, nst_image_format *fmt, nst_err *e) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        nst_fail(e, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char magic[8] = {0};
    size_t n = fread(magic, 1, sizeof magic, f);
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n == 8 && memcmp(magic, png_sig, 8) == 0) {
        *fmt = NST_IMAGE_PNG;
    } else if (n >= 3 && magic[0] == 0xff && magic[1] == 0xd8 && magic[2] == 0xff) {
        *fmt = NST_IMAGE_JPEG;
    } else {
        if (ferror(f)) nst_fail(e, "%s: cannot read: %s", path, strerror(errno));
        else if (n == 0) nst_fail(e, "%s: empty file, not a PNG or JPEG file", path);
        else nst_fail(e, "%s: not a PNG or JPEG file", path);
        fclose(f);
        return NULL;
    }
    if (fseek(f, 0, SEEK_SET) != 0) {
        nst_fail(e, "%s: cannot seek: %s", path, strerror(errno));
        fclose(f);
        return NULL;
    }
    return f;
}

int nst_image_info_read(const char *path, nst_image_info *info, nst_err *e) {
    nst_image_format fmt = NST_IMAGE_PNG;
    FILE *f = open_image(path, &fmt, e);
    if (!f) return -1;
    int rc =
        fmt == NST_IMAGE_PNG ? nst_png_info(f, path, info, e) : nst_jpeg_info(f, path, info, e);
    fclose(f);
    return rc;
}

nst_tensor *nst_image_load(const char *path, nst_err *e) {
    nst_image_format fmt = NST_IMAGE_PNG;
    FILE *f = open_image(path, &fmt, e);
    if (!f) return NULL;
    nst_tensor *t = fmt == NST_IMAGE_PNG ? nst_png_read(f, path, e) : nst_jpeg_read(f, path, e);
    fclose(f);
    return t;
}

// Format from the extension, case-insensitive.
static int format_from_path(const char *path, nst_image_format *fmt, nst_err *e) {
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash)) {
        if (strcasecmp(dot, ".png") == 0) {
            *fmt = NST_IMAGE_PNG;
            return 0;
        }
        if (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0) {
            *fmt = NST_IMAGE_JPEG;
            return 0;
        }
    }
    return nst_fail(e, "%s: cannot tell the image format: the name must end in .png, .jpg or .jpeg",
                    path);
}

int nst_image_save(const nst_tensor *t, const char *path, const nst_image_save_opts *opts,
                   nst_err *e) {
    char shape[64];
    if (!t) return nst_fail(e, "%s: no tensor to save", path);
    if (nst_dev(t) != NST_CPU)
        return nst_fail(e, "%s: expected a CPU tensor; call :cpu() first", path);
    nst_shape_str(t, shape, sizeof shape);
    int d = t->ndim == 4 ? 1 : 0; // (1,3,H,W) or (3,H,W)
    if (!((t->ndim == 4 && t->shape[0] == 1) || t->ndim == 3) || t->shape[d] != 3)
        return nst_fail(e, "%s: expected an image tensor 1x3xHxW or 3xHxW, got %s", path, shape);
    int64_t h = t->shape[d + 1], w = t->shape[d + 2];

    nst_image_format fmt = NST_IMAGE_PNG;
    if (format_from_path(path, &fmt, e)) return -1;
    int quality = opts && opts->quality ? opts->quality : 95;
    int bits = opts && opts->bits ? opts->bits : 8;
    if (fmt == NST_IMAGE_JPEG && bits != 8)
        return nst_fail(e, "%s: JPEG files are 8-bit; use a .png name for %d bits", path, bits);
    if (fmt == NST_IMAGE_PNG && bits != 16 && bits != 8)
        return nst_fail(e, "%s: PNG bits must be 8 or 16, got %d", path, bits);
    if (quality < 1 || quality > 100)
        return nst_fail(e, "%s: JPEG quality must be in 1..100, got %d", path, quality);

    nst_atomic_file af;
    if (nst_atomic_open(&af, path, e)) return -1;
    int rc = fmt == NST_IMAGE_PNG ? nst_png_write(af.f, path, nst_data(t), h, w, bits, e)
                                  : nst_jpeg_write(af.f, path, nst_data(t), h, w, quality, e);
    return nst_atomic_close(&af, rc == 0, e);
}
