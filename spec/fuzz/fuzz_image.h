// Shared by the image fuzz targets: one reader's two entry points (header only, full
// decode) on an in-memory file, with the checks every input must pass.
#ifndef NST_FUZZ_IMAGE_H
#define NST_FUZZ_IMAGE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/image.h"

typedef int (*fuzz_info_fn)(FILE *f, const char *path, nst_image_info *info, nst_err *e);
typedef nst_tensor *(*fuzz_read_fn)(FILE *f, const char *path, nst_err *e);

// 4 Mpixel = 48 MB of float32 RGB: a valid header asking for more must be refused
// before anything is allocated, never take the fuzzer past -rss_limit_mb.
static inline void fuzz_image_limits(void) { nst_max_image_pixels = (size_t)1 << 22; }

// Every failure must come with a message naming the file (the Lua error shows it).
static inline void fuzz_names_file(const nst_err *e, const char *name) {
    if (!e->msg[0] || !strstr(e->msg, name)) __builtin_trap();
}

// Runs info and read on buf (size >= 1 bytes; fmemopen wants a writable buffer, so
// pass a private copy, see fuzz_image_copy); buf is left unchanged.
static inline void fuzz_image_run(unsigned char *buf, size_t size, const char *name,
                                  fuzz_info_fn info_fn, fuzz_read_fn read_fn) {
    FILE *f = fmemopen(buf, size, "rb");
    if (!f) return;
    nst_err e = {{0}};
    nst_image_info info;
    memset(&info, 0, sizeof info);
    if (info_fn(f, name, &info, &e) == 0) {
        if (info.width < 1 || info.height < 1) __builtin_trap(); // promised a non-empty image
    } else {
        fuzz_names_file(&e, name);
    }
    rewind(f);
    e.msg[0] = '\0';
    nst_tensor *t = read_fn(f, name, &e);
    if (t) {
        // What the reader returns is always a (1,3,H,W) CPU tensor within the limit.
        if (t->ndim != 4 || t->shape[0] != 1 || t->shape[1] != 3 ||
            (size_t)(t->shape[2] * t->shape[3]) > nst_max_image_pixels)
            __builtin_trap();
        nst_tensor_free(t);
    } else {
        fuzz_names_file(&e, name);
    }
    fclose(f);
}

// A private copy of the fuzzer's input (NULL for an empty input, which fmemopen refuses):
// writable for fmemopen, and exactly size bytes, so ASan catches a read one byte past it.
static inline unsigned char *fuzz_image_copy(const uint8_t *data, size_t size) {
    if (size == 0) return NULL;
    unsigned char *buf = malloc(size);
    if (buf) memcpy(buf, data, size);
    return buf;
}

#endif
