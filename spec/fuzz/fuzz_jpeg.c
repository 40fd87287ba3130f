// libFuzzer target for the JPEG reader (src/image_jpeg.c): the input bytes are the file.
// Both entry points run on every input: nst_jpeg_info (header only) and nst_jpeg_read
// (full decode). Any tensor returned is freed, so leaks show up in LeakSanitizer.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (!e->msg[0] || !strstr(e->msg, "fuzz.jpg")) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0; // fmemopen refuses an empty buffer
    // A private copy: fmemopen wants a writable buffer, and ASan then catches reads one
    // byte past the input exactly.
    unsigned char *buf = malloc(size);
    if (!buf) return 0;
    memcpy(buf, data, size);
    FILE *f = fmemopen(buf, size, "rb");
    if (!f) {
        free(buf);
        return 0;
    }
    nst_err e = {{0}};
    nst_image_info info;
    memset(&info, 0, sizeof info);
    if (nst_jpeg_info(f, "fuzz.jpg", &info, &e) == 0) {
        if (info.width < 1 || info.height < 1) __builtin_trap(); // promised a non-empty image
    } else {
        names_file(&e);
    }
    rewind(f);
    e.msg[0] = '\0';
    nst_tensor *t = nst_jpeg_read(f, "fuzz.jpg", &e);
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
    free(buf);
    return 0;
}
