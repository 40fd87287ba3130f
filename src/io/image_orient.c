// JPEG EXIF orientation (tag 0x0112): the camera stores the sensor's rows and says how to
// turn them for display. libexif (Debian libexif-dev) reads the APP1 segment; the turn
// itself is a copy with a per-pixel index map.
#include <string.h>

#include <libexif/exif-data.h>

#include "io/image.h"

int nst_exif_orientation(const unsigned char *app1, unsigned int len) {
    // the APP1 payload: "Exif\0\0" then a TIFF structure (libexif checks it)
    if (len < 6 || memcmp(app1, "Exif\0\0", 6) != 0) return 1;
    ExifData *ed = exif_data_new_from_data(app1, len);
    if (!ed) return 1;
    int o = 1;
    ExifEntry *en = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
    if (en && en->format == EXIF_FORMAT_SHORT && en->components >= 1 && en->data)
        o = exif_get_short(en->data, exif_data_get_byte_order(ed));
    exif_data_unref(ed);
    return o >= 1 && o <= 8 ? o : 1;
}

// (1,3,H,W) -> the displayed image: orientations 5..8 swap height and width. Pixel (i, j)
// of the result comes from (r, c) of t, as PIL's ImageOps.exif_transpose turns it.
nst_tensor *nst_image_orient(nst_tensor *t, int orientation, nst_err *e) {
    if (orientation <= 1 || orientation > 8) return t;
    const int64_t *s = t->shape;
    int64_t H = s[2], W = s[3], swap = orientation >= 5;
    int64_t oh = swap ? W : H, ow = swap ? H : W;
    int64_t shape[4] = {1, 3, oh, ow};
    nst_tensor *out = nst_tensor_new(NST_CPU, 4, shape, e);
    if (!out) {
        nst_tensor_free(t);
        return NULL;
    }
    const float *src = nst_data(t);
    float *dst = nst_data(out);
    for (int64_t i = 0; i < oh; i++) {
        for (int64_t j = 0; j < ow; j++) {
            int64_t r, c;
            switch (orientation) {
            case 2: r = i, c = W - 1 - j; break; // mirrored
            case 3: r = H - 1 - i, c = W - 1 - j; break; // rotated 180
            case 4: r = H - 1 - i, c = j; break; // flipped
            case 5: r = j, c = i; break; // transposed
            case 6: r = H - 1 - j, c = i; break; // to turn 90 clockwise
            case 7: r = H - 1 - j, c = W - 1 - i; break; // transversed
            default: r = j, c = W - 1 - i; break; // 8: to turn 90 counter-clockwise
            }
            for (int k = 0; k < 3; k++) dst[(k * oh + i) * ow + j] = src[(k * H + r) * W + c];
        }
    }
    nst_tensor_free(t);
    return out;
}
