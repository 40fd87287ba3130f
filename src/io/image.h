// Image I/O (PNG via libpng, JPEG via libjpeg), resizing and colour conversions.
// Images are float32 CPU tensors (1,3,H,W) with RGB in [0,1]. The core never sees Lua:
// every fallible function returns 0 / a tensor, or -1 / NULL with a message naming the
// file. libpng's and libjpeg's longjmp-based errors are caught inside image_png.c and
// image_jpeg.c and never cross into the caller.
#ifndef NST_IMAGE_H
#define NST_IMAGE_H

#include <stdio.h>

#include "core/nst.h"

typedef enum nst_image_format { NST_IMAGE_PNG = 1, NST_IMAGE_JPEG = 2 } nst_image_format;

// What the file header says, before any conversion.
typedef struct nst_image_info {
    int64_t width, height;
    int channels; // in the file: 1 gray, 2 gray+alpha, 3 RGB/palette, 4 RGBA/CMYK
    int bits; // per sample in the file: 1, 2, 4, 8 or 16
    nst_image_format format;
} nst_image_info;

typedef struct nst_image_save_opts {
    int quality; // JPEG, 1..100; 0 means the default (95)
    int bits; // PNG, 8 or 16; 0 means 8
} nst_image_save_opts;

// Format from the file's first bytes (never the extension); header only.
int nst_image_info_read(const char *path, nst_image_info *info, nst_err *e);
// Loads a PNG or JPEG into a new (1,3,H,W) CPU tensor, RGB in [0,1]. Alpha is dropped
// (not composited); grayscale is replicated into R, G, B. Errors: missing file, not a
// PNG/JPEG, 0x0, more than nst_max_image_pixels (checked before allocating), truncated
// or corrupt data, CMYK JPEG.
nst_tensor *nst_image_load(const char *path, nst_err *e);
// Saves a (1,3,H,W) or (3,H,W) CPU tensor; format from the extension (.png, .jpg,
// .jpeg, any case). Values are clamped to [0,1] (NaN becomes 0) and rounded. Atomic
// (io/atomic_file.h): on error an existing file at path is left as it was.
int nst_image_save(const nst_tensor *t, const char *path, const nst_image_save_opts *opts,
                   nst_err *e);

// (..., H, W) CPU tensor (2 to 4 dims) -> new tensor (..., h, w). Bilinear (half-pixel
// centres, edges clamped) when enlarging; when shrinking, a triangle filter whose support
// grows with the factor (antialiased, as PIL's and torch's antialias=True).
nst_tensor *nst_image_resize(const nst_tensor *t, int64_t h, int64_t w, nst_err *e);

// (1,3,H,W) or (3,H,W) CPU tensors. YUV with the coefficients of Torch7's image package
// (Y = 0.299 R + 0.587 G + 0.114 B), so results match neural-style. out may alias in.
int nst_image_rgb_to_yuv(nst_tensor *out, const nst_tensor *in, nst_err *e);
int nst_image_yuv_to_rgb(nst_tensor *out, const nst_tensor *in, nst_err *e);
// neural-style's -original_colors: out = RGB(Y of generated, U,V of content). Shapes
// must match; not clamped (saving clamps).
int nst_image_original_colors(nst_tensor *out, const nst_tensor *content,
                              const nst_tensor *generated, nst_err *e);

// Format readers/writers, used by image.c. f is positioned at the start of the file;
// path only names the file in messages. Readers check dimensions with
// nst_image_check_size before allocating.
int nst_png_info(FILE *f, const char *path, nst_image_info *info, nst_err *e);
nst_tensor *nst_png_read(FILE *f, const char *path, nst_err *e);
// rgb: 3 planes of h*w floats, quantized with nst_image_quantize (clamped, NaN -> 0).
int nst_png_write(FILE *f, const char *path, const float *rgb, int64_t h, int64_t w, int bits,
                  nst_err *e);
int nst_jpeg_info(FILE *f, const char *path, nst_image_info *info, nst_err *e);
nst_tensor *nst_jpeg_read(FILE *f, const char *path, nst_err *e);
int nst_jpeg_write(FILE *f, const char *path, const float *rgb, int64_t h, int64_t w, int quality,
                   nst_err *e);

// EXIF orientation (1..8; 1 when absent or unreadable) of a JPEG APP1 payload, and a
// (1,3,H,W) image turned the way it says (t is consumed: returned, or freed with a new
// tensor returned; NULL and freed on error). image_orient.c, with libexif.
int nst_exif_orientation(const unsigned char *app1, unsigned int len);
nst_tensor *nst_image_orient(nst_tensor *t, int orientation, nst_err *e);

// 0x0 / over-limit checks shared by the readers; the message names path and size.
int nst_image_check_size(const char *path, int64_t w, int64_t h, nst_err *e);
// Row y of a (1,3,H,W) image from w interleaved 8-bit RGB pixels, scaled to [0,1].
void nst_image_put_rgb8_row(nst_tensor *t, const unsigned char *rgb, int64_t y);
// Rounds a [0,1]-clamped value (NaN -> 0) to 0..maxv.
unsigned nst_image_quantize(float v, unsigned maxv);

#endif
