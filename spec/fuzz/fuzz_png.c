// libFuzzer target for the PNG reader (src/image_png.c): the input bytes are the file.
// Both entry points run on every input: nst_png_info (header only) and nst_png_read
// (full decode), then again on a copy with the chunk CRCs made right. Any tensor
// returned is freed, so leaks show up in LeakSanitizer.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "image.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    // 4 Mpixel = 48 MB of float32 RGB: a valid header asking for more must be refused
    // before anything is allocated, never take the fuzzer past -rss_limit_mb.
    nst_max_image_pixels = (size_t)1 << 22;
    return 0;
}

// Every failure must come with a message naming the file (the Lua error shows it).
static void names_file(const nst_err *e) {
    if (!e->msg[0] || !strstr(e->msg, "fuzz.png")) __builtin_trap();
}

// The readers on one buffer (left unchanged).
static void run_one(unsigned char *buf, size_t size) {
    FILE *f = fmemopen(buf, size, "rb");
    if (!f) return;
    nst_err e = {{0}};
    nst_image_info info;
    memset(&info, 0, sizeof info);
    if (nst_png_info(f, "fuzz.png", &info, &e) == 0) {
        if (info.width < 1 || info.height < 1) __builtin_trap(); // promised a non-empty image
    } else {
        names_file(&e);
    }
    rewind(f);
    e.msg[0] = '\0';
    nst_tensor *t = nst_png_read(f, "fuzz.png", &e);
    if (t) {
        // What the reader returns is always a (1,3,H,W) CPU tensor within the limit.
        if (t->ndim != 4 || t->shape[0] != 1 || t->shape[1] != 3 ||
            (size_t)(t->shape[2] * t->shape[3]) > nst_max_image_pixels)
            __builtin_trap();
        nst_tensor_free(t);
    } else {
        names_file(&e);
    }
    fclose(f);
}

// Rewrites the CRC of every complete chunk after the signature; 1 if any changed. Almost
// every mutation breaks a CRC, and libpng refuses a critical chunk with a bad one before
// looking at its data: the fixed copy lets the fuzzer reach IHDR/PLTE/tRNS/IDAT handling.
static int fix_crcs(unsigned char *b, size_t n) {
    int changed = 0;
    for (size_t off = 8; off + 12 <= n;) {
        uint32_t len = (uint32_t)b[off] << 24 | (uint32_t)b[off + 1] << 16 |
                       (uint32_t)b[off + 2] << 8 | b[off + 3];
        if (len > n - off - 12) break;
        uLong crc = crc32(0, b + off + 4, len + 4); // over type and data
        unsigned char want[4] = {(unsigned char)(crc >> 24), (unsigned char)(crc >> 16),
                                 (unsigned char)(crc >> 8), (unsigned char)crc};
        unsigned char *have = b + off + 8 + len;
        if (memcmp(have, want, 4) != 0) {
            memcpy(have, want, 4);
            changed = 1;
        }
        off += 12 + (size_t)len;
    }
    return changed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0; // fmemopen refuses an empty buffer
    // A private copy: fmemopen wants a writable buffer, and ASan then catches reads one
    // byte past the input exactly.
    unsigned char *buf = malloc(size);
    if (!buf) return 0;
    memcpy(buf, data, size);
    run_one(buf, size);
    if (fix_crcs(buf, size)) run_one(buf, size);
    free(buf);
    return 0;
}
