// PNG reading and writing with libpng. libpng reports errors by longjmp: every libpng
// call happens inside one function that called setjmp, and the resources it needs are
// owned by a context struct in the caller's frame, which frees them whatever happened.
#include <errno.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "io/image.h"

typedef struct png_ctx {
    FILE *f;
    const char *path;
    char msg[200]; // libpng's error
    char warn[200]; // its first warning (often the cause behind the error)
    int failed; // 1 when e already holds our own message
    nst_err *e;
    nst_tensor *t; // (1,3,H,W) being filled
    unsigned char *buf; // one row, or the whole image when interlaced
} png_ctx;

static void ctx_error(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void ctx_warning(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    if (!c->warn[0]) snprintf(c->warn, sizeof c->warn, "%s", msg);
}

static void ctx_read(png_structp png, png_bytep data, size_t n) {
    png_ctx *c = png_get_io_ptr(png);
    if (fread(data, 1, n, c->f) != n)
        png_error(png, ferror(c->f) ? "read error" : "truncated file (unexpected end of data)");
}

static void ctx_write(png_structp png, png_bytep data, size_t n) {
    png_ctx *c = png_get_io_ptr(png);
    if (fwrite(data, 1, n, c->f) != n) png_error(png, strerror(errno));
}

static void ctx_flush(png_structp png) {
    png_ctx *c = png_get_io_ptr(png);
    if (fflush(c->f) != 0) png_error(png, strerror(errno));
}

// Turns the context's state after a failure into e's message.
static int ctx_fail(png_ctx *c, const char *what) {
    if (c->failed) return -1;
    if (c->warn[0] && strcmp(c->warn, c->msg) != 0)
        return nst_fail(c->e, "%s: %s: %s (%s)", c->path, what, c->msg, c->warn);
    return nst_fail(c->e, "%s: %s: %s", c->path, what, c->msg[0] ? c->msg : "unknown error");
}

// Reads the signature and IHDR size fields ourselves, so that 0x0 and oversized images
// get a clear message before libpng or we allocate anything. Leaves f at the start.
static int precheck(FILE *f, const char *path, int check_limit, nst_err *e) {
    unsigned char hdr[24];
    size_t n = fread(hdr, 1, sizeof hdr, f);
    if (fseek(f, 0, SEEK_SET) != 0)
        return nst_fail(e, "%s: cannot seek: %s", path, strerror(errno));
    if (n < sizeof hdr)
        return nst_fail(e, "%s: bad PNG file: truncated file (no complete header)", path);
    if (memcmp(hdr + 12, "IHDR", 4) != 0)
        return nst_fail(e, "%s: bad PNG file: the first chunk is not IHDR", path);
    int64_t w = ((int64_t)hdr[16] << 24) | (hdr[17] << 16) | (hdr[18] << 8) | hdr[19];
    int64_t h = ((int64_t)hdr[20] << 24) | (hdr[21] << 16) | (hdr[22] << 8) | hdr[23];
    if (!check_limit && w > 0 && h > 0) return 0;
    return nst_image_check_size(path, w, h, e);
}

static png_structp create_read(png_ctx *c, png_infop *info) {
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, ctx_error, ctx_warning);
    if (!png) return NULL;
    *info = png_create_info_struct(png);
    if (!*info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return NULL;
    }
    png_set_read_fn(png, c, ctx_read);
    // Our pixel limit is the real one; libpng's own (1e6 per side) would only hide it.
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    // Metadata chunks are skipped unread: nst uses none of them, and libpng 1.6 mallocs
    // the length a tEXt/zTXt/iTXt/iCCP/sPLT/eXIf/pCAL/sCAL header claims (up to 2 GiB)
    // before reading it, only warning that it is over its 8 MB chunk limit.
    static const png_byte skip[] = "bKGD\0cHRM\0eXIf\0gAMA\0hIST\0iCCP\0iTXt\0oFFs\0pCAL\0pHYs\0"
                                   "sBIT\0sCAL\0sPLT\0sRGB\0tEXt\0tIME\0zTXt";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skip, (int)(sizeof skip / 5));
    return png;
}

static int info_body(png_ctx *c, png_structp png, png_infop info, nst_image_info *out) {
    if (setjmp(png_jmpbuf(png))) return -1;
    png_read_info(png, info);
    int ctype = png_get_color_type(png, info);
    out->width = png_get_image_width(png, info);
    out->height = png_get_image_height(png, info);
    out->bits = png_get_bit_depth(png, info);
    out->format = NST_IMAGE_PNG;
    switch (ctype) {
    case PNG_COLOR_TYPE_GRAY: out->channels = 1; break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: out->channels = 2; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: out->channels = 4; break;
    case PNG_COLOR_TYPE_PALETTE:
        out->channels = png_get_valid(png, info, PNG_INFO_tRNS) ? 4 : 3;
        break;
    default: out->channels = 3; break;
    }
    return 0;
}

int nst_png_info(FILE *f, const char *path, nst_image_info *out, nst_err *e) {
    if (precheck(f, path, 0, e)) return -1;
    png_ctx c = {.f = f, .path = path, .e = e};
    png_infop info = NULL;
    png_structp png = create_read(&c, &info);
    if (!png) return nst_fail(e, "%s: out of memory creating the PNG reader", path);
    int rc = info_body(&c, png, info, out);
    png_destroy_read_struct(&png, &info, NULL);
    return rc ? ctx_fail(&c, "bad PNG file") : 0;
}

// One decoded row (RGB, 8 or 16 bits big-endian) into planes of t at row y.
static void convert_row(nst_tensor *t, const unsigned char *row, int64_t y, int bits) {
    if (bits == 8) {
        nst_image_put_rgb8_row(t, row, y);
    } else {
        int64_t h = t->shape[2], w = t->shape[3];
        float *r = nst_data(t) + y * w, *g = r + h * w, *b = g + h * w;
        for (int64_t x = 0; x < w; x++, row += 6) {
            r[x] = ((row[0] << 8) | row[1]) / 65535.0f;
            g[x] = ((row[2] << 8) | row[3]) / 65535.0f;
            b[x] = ((row[4] << 8) | row[5]) / 65535.0f;
        }
    }
}

static int read_body(png_ctx *c, png_structp png, png_infop info) {
    if (setjmp(png_jmpbuf(png))) return -1;
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (nst_image_check_size(c->path, w, h, c->e)) {
        c->failed = 1;
        return -1;
    }
    // Everything becomes 8- or 16-bit RGB: palette and low-depth gray expand, gray is
    // replicated, alpha (and tRNS, which palette expansion turns into alpha) is dropped.
    int ctype = png_get_color_type(png, info);
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (png_get_bit_depth(png, info) < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    png_set_strip_alpha(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int bits = png_get_bit_depth(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (png_get_channels(png, info) != 3 || (bits != 8 && bits != 16) ||
        rowbytes != (size_t)w * 3 * (bits / 8)) {
        c->failed = 1;
        return nst_fail(c->e, "%s: unsupported PNG layout (color type %d, %d bits)", c->path, ctype,
                        png_get_bit_depth(png, info));
    }
    int64_t shape[4] = {1, 3, h, w};
    nst_err te = {{0}};
    c->failed = 1; // until the pixels are allocated, failures are ours
    if (!(c->t = nst_tensor_new(NST_CPU, 4, shape, &te)))
        return nst_fail(c->e, "%s: %s", c->path, te.msg);
    size_t bytes = rowbytes;
    if ((passes > 1 && nst_mul_size(rowbytes, h, &bytes)) || !(c->buf = malloc(bytes)))
        return nst_fail(c->e, "%s: out of memory for a %ux%u PNG", c->path, w, h);
    c->failed = 0;
    if (passes == 1) {
        for (png_uint_32 y = 0; y < h; y++) {
            png_read_row(png, c->buf, NULL);
            convert_row(c->t, c->buf, y, bits);
        }
    } else {
        // Interlaced: each pass refines rows already in the buffer.
        for (int p = 0; p < passes; p++)
            for (png_uint_32 y = 0; y < h; y++)
                png_read_row(png, c->buf + (size_t)y * rowbytes, NULL);
        for (png_uint_32 y = 0; y < h; y++)
            convert_row(c->t, c->buf + (size_t)y * rowbytes, y, bits);
    }
    // Reads up to IEND, so a file cut right after its image data is still an error.
    png_read_end(png, NULL);
    return 0;
}

nst_tensor *nst_png_read(FILE *f, const char *path, nst_err *e) {
    if (precheck(f, path, 1, e)) return NULL;
    png_ctx c = {.f = f, .path = path, .e = e};
    png_infop info = NULL;
    png_structp png = create_read(&c, &info);
    if (!png) {
        nst_fail(e, "%s: out of memory creating the PNG reader", path);
        return NULL;
    }
    int rc = read_body(&c, png, info);
    png_destroy_read_struct(&png, &info, NULL);
    free(c.buf);
    if (rc) {
        nst_tensor_free(c.t);
        ctx_fail(&c, "bad PNG file");
        return NULL;
    }
    return c.t;
}

static int write_body(png_ctx *c, png_structp png, png_infop info, const float *rgb, int64_t h,
                      int64_t w, int bits) {
    if (setjmp(png_jmpbuf(png))) return -1;
    png_set_write_fn(png, c, ctx_write, ctx_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, bits, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t hw = (size_t)h * (size_t)w;
    for (int64_t y = 0; y < h; y++) {
        const float *r = rgb + y * w, *g = r + hw, *b = g + hw;
        unsigned char *p = c->buf;
        for (int64_t x = 0; x < w; x++) {
            const float v[3] = {r[x], g[x], b[x]};
            for (int k = 0; k < 3; k++) {
                if (bits == 8) {
                    *p++ = (unsigned char)nst_image_quantize(v[k], 255);
                } else {
                    unsigned q = nst_image_quantize(v[k], 65535);
                    *p++ = (unsigned char)(q >> 8); // PNG samples are big-endian
                    *p++ = (unsigned char)(q & 255);
                }
            }
        }
        png_write_row(png, c->buf);
    }
    png_write_end(png, NULL);
    return 0;
}

int nst_png_write(FILE *f, const char *path, const float *rgb, int64_t h, int64_t w, int bits,
                  nst_err *e) {
    if (bits != 8 && bits != 16)
        return nst_fail(e, "%s: PNG bits must be 8 or 16, got %d", path, bits);
    if (h < 1 || w < 1 || h > 0x7fffffff || w > 0x7fffffff)
        return nst_fail(e, "%s: cannot write a %lldx%lld PNG", path, (long long)h, (long long)w);
    png_ctx c = {.f = f, .path = path, .e = e};
    size_t rowbytes;
    if (nst_mul_size((size_t)w, 3 * (size_t)(bits / 8), &rowbytes) || !(c.buf = malloc(rowbytes)))
        return nst_fail(e, "%s: out of memory for a PNG row of width %lld", path, (long long)w);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &c, ctx_error, ctx_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int rc = -1;
    if (info) rc = write_body(&c, png, info, rgb, h, w, bits);
    else snprintf(c.msg, sizeof c.msg, "out of memory creating the PNG writer");
    png_destroy_write_struct(&png, &info);
    free(c.buf);
    return rc ? ctx_fail(&c, "cannot write PNG") : 0;
}
