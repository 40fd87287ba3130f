// JPEG reading and writing with libjpeg(-turbo). libjpeg's error_exit normally prints
// and calls exit(); ours formats the message and longjmps back into the one function
// here that called setjmp, which then returns -1. Warnings that mean the data is
// corrupt or truncated (libjpeg would fill the rest with gray) are errors too.
#include <setjmp.h>
#include <stdio.h> // before jpeglib.h, which uses FILE
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
// jpeglib.h must come first: jerror.h uses its types.
#include <jerror.h>

#include "io/image.h"

typedef struct jpeg_ctx {
    struct jpeg_error_mgr pub; // first member: cinfo->err points at it
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
    int failed; // 1 when e already holds our own message
    const char *path;
    nst_err *e;
    nst_tensor *t;
    unsigned char *row;
    int orientation; // EXIF's, 1..8 (1: as stored)
} jpeg_ctx;

static void ctx_error_exit(j_common_ptr ci) {
    jpeg_ctx *c = (jpeg_ctx *)ci->err;
    (*ci->err->format_message)(ci, c->msg);
    longjmp(c->jmp, 1);
}

static void ctx_emit(j_common_ptr ci, int level) {
    if (level >= 0) return; // trace messages
    switch (ci->err->msg_code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC: ctx_error_exit(ci); break;
    default: ci->err->num_warnings++; // benign (unknown JFIF version, bad ICC marker...)
    }
}

static void ctx_output(j_common_ptr ci) { (void)ci; } // the core never prints

static void ctx_init(jpeg_ctx *c, const char *path, nst_err *e) {
    memset(c, 0, sizeof *c);
    jpeg_std_error(&c->pub);
    c->pub.error_exit = ctx_error_exit;
    c->pub.emit_message = ctx_emit;
    c->pub.output_message = ctx_output;
    c->path = path;
    c->e = e;
}

static int ctx_fail(jpeg_ctx *c, const char *what) {
    if (c->failed) return -1;
    return nst_fail(c->e, "%s: %s: %s", c->path, what, c->msg[0] ? c->msg : "unknown error");
}

// APP1 (EXIF) is kept by libjpeg when asked before the header is read.
static void keep_exif(struct jpeg_decompress_struct *ci) {
    jpeg_save_markers(ci, JPEG_APP0 + 1, 0xFFFF);
}

static int exif_orientation(struct jpeg_decompress_struct *ci) {
    for (jpeg_saved_marker_ptr m = ci->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1) {
            int o = nst_exif_orientation(m->data, m->data_length);
            if (o != 1) return o;
        }
    return 1;
}

static int header_body(jpeg_ctx *c, struct jpeg_decompress_struct *ci, FILE *f) {
    if (setjmp(c->jmp)) return -1;
    jpeg_create_decompress(ci);
    jpeg_stdio_src(ci, f);
    keep_exif(ci);
    jpeg_read_header(ci, TRUE);
    c->orientation = exif_orientation(ci);
    return 0;
}

int nst_jpeg_info(FILE *f, const char *path, nst_image_info *out, nst_err *e) {
    jpeg_ctx c;
    ctx_init(&c, path, e);
    struct jpeg_decompress_struct ci;
    memset(&ci, 0, sizeof ci); // so destroy is safe even if create fails
    ci.err = &c.pub;
    int rc = header_body(&c, &ci, f);
    if (rc) {
        rc = ctx_fail(&c, "bad JPEG file");
    } else {
        int swap = c.orientation >= 5; // as displayed, as the reader returns it
        out->width = swap ? ci.image_height : ci.image_width;
        out->height = swap ? ci.image_width : ci.image_height;
        out->channels = ci.num_components;
        out->bits = ci.data_precision;
        out->format = NST_IMAGE_JPEG;
        if (out->width < 1 || out->height < 1)
            rc = nst_image_check_size(path, out->width, out->height, e);
    }
    jpeg_destroy_decompress(&ci);
    return rc;
}

static int read_body(jpeg_ctx *c, struct jpeg_decompress_struct *ci, FILE *f) {
    if (header_body(c, ci, f)) return -1;
    if (setjmp(c->jmp)) return -1; // header_body's jump target ended with its frame
    c->failed = 1; // until decoding starts, failures are our own checks
    if (nst_image_check_size(c->path, ci->image_width, ci->image_height, c->e)) return -1;
    if (ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK)
        return nst_fail(c->e, "%s: CMYK JPEG files are not supported (convert it to RGB first)",
                        c->path);
    if (ci->num_components != 1 && ci->num_components != 3)
        return nst_fail(c->e, "%s: JPEG with %d components is not supported", c->path,
                        ci->num_components);
    ci->out_color_space = ci->num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    c->failed = 0;
    jpeg_start_decompress(ci);

    int64_t h = ci->output_height, w = ci->output_width, nc = ci->output_components;
    int64_t shape[4] = {1, 3, h, w};
    nst_err te = {{0}};
    c->failed = 1;
    if (nc != 1 && nc != 3)
        return nst_fail(c->e, "%s: unexpected %d JPEG output components", c->path, (int)nc);
    if (!(c->t = nst_tensor_new(NST_CPU, 4, shape, &te)))
        return nst_fail(c->e, "%s: %s", c->path, te.msg);
    if (!(c->row = malloc((size_t)w * (size_t)nc)))
        return nst_fail(c->e, "%s: out of memory for a JPEG row", c->path);
    c->failed = 0;
    float *r = nst_data(c->t), *g = r + h * w, *b = g + h * w;
    while (ci->output_scanline < ci->output_height) {
        int64_t y = ci->output_scanline;
        JSAMPROW rows[1] = {c->row};
        if (jpeg_read_scanlines(ci, rows, 1) != 1) {
            snprintf(c->msg, sizeof c->msg, "no data for row %lld", (long long)y);
            return -1;
        }
        const unsigned char *p = c->row;
        if (nc == 3) {
            nst_image_put_rgb8_row(c->t, p, y);
        } else {
            float *ry = r + y * w, *gy = g + y * w, *by = b + y * w;
            for (int64_t x = 0; x < w; x++) ry[x] = gy[x] = by[x] = p[x] / 255.0f;
        }
    }
    jpeg_finish_decompress(ci);
    return 0;
}

nst_tensor *nst_jpeg_read(FILE *f, const char *path, nst_err *e) {
    jpeg_ctx c;
    ctx_init(&c, path, e);
    struct jpeg_decompress_struct ci;
    memset(&ci, 0, sizeof ci);
    ci.err = &c.pub;
    int rc = read_body(&c, &ci, f);
    jpeg_destroy_decompress(&ci);
    free(c.row);
    if (rc) {
        nst_tensor_free(c.t);
        ctx_fail(&c, "bad JPEG file");
        return NULL;
    }
    return nst_image_orient(c.t, c.orientation, e);
}

static int write_body(jpeg_ctx *c, struct jpeg_compress_struct *ci, FILE *f, const float *rgb,
                      int64_t h, int64_t w, int quality) {
    if (setjmp(c->jmp)) return -1;
    jpeg_create_compress(ci);
    jpeg_stdio_dest(ci, f);
    ci->image_width = (JDIMENSION)w;
    ci->image_height = (JDIMENSION)h;
    ci->input_components = 3;
    ci->in_color_space = JCS_RGB;
    jpeg_set_defaults(ci);
    jpeg_set_quality(ci, quality, TRUE);
    ci->optimize_coding = TRUE;
    if (quality >= 90) {
        // Full-resolution chroma: at high quality 4:2:0 subsampling is the main loss,
        // visible on the fine colour texture style transfer produces.
        for (int k = 0; k < 3; k++)
            ci->comp_info[k].h_samp_factor = ci->comp_info[k].v_samp_factor = 1;
    }
    jpeg_start_compress(ci, TRUE);
    size_t hw = (size_t)h * (size_t)w;
    while (ci->next_scanline < ci->image_height) {
        int64_t y = ci->next_scanline;
        const float *r = rgb + y * w, *g = r + hw, *b = g + hw;
        unsigned char *p = c->row;
        for (int64_t x = 0; x < w; x++) {
            *p++ = (unsigned char)nst_image_quantize(r[x], 255);
            *p++ = (unsigned char)nst_image_quantize(g[x], 255);
            *p++ = (unsigned char)nst_image_quantize(b[x], 255);
        }
        JSAMPROW rows[1] = {c->row};
        jpeg_write_scanlines(ci, rows, 1);
    }
    jpeg_finish_compress(ci);
    return 0;
}

int nst_jpeg_write(FILE *f, const char *path, const float *rgb, int64_t h, int64_t w, int quality,
                   nst_err *e) {
    if (quality < 1 || quality > 100)
        return nst_fail(e, "%s: JPEG quality must be in 1..100, got %d", path, quality);
    if (h < 1 || w < 1 || h > JPEG_MAX_DIMENSION || w > JPEG_MAX_DIMENSION)
        return nst_fail(e, "%s: cannot write a %lldx%lld JPEG (each side at most %d)", path,
                        (long long)h, (long long)w, (int)JPEG_MAX_DIMENSION);
    jpeg_ctx c;
    ctx_init(&c, path, e);
    if (!(c.row = malloc((size_t)w * 3)))
        return nst_fail(e, "%s: out of memory for a JPEG row", path);
    struct jpeg_compress_struct ci;
    memset(&ci, 0, sizeof ci);
    ci.err = &c.pub;
    int rc = write_body(&c, &ci, f, rgb, h, w, quality);
    jpeg_destroy_compress(&ci);
    free(c.row);
    return rc ? ctx_fail(&c, "cannot write JPEG") : 0;
}
