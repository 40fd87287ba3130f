// libFuzzer target for the PNG reader (src/io/image_png.c): the input bytes are the file.
// Both entry points run on every input: nst_png_info (header only) and nst_png_read
// (full decode), then again on a copy with the chunk CRCs made right. Any tensor
// returned is freed, so leaks show up in LeakSanitizer.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "fuzz_image.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_image_limits();
    return 0;
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
    unsigned char *buf = fuzz_image_copy(data, size);
    if (!buf) return 0;
    fuzz_image_run(buf, size, "fuzz.png", nst_png_info, nst_png_read);
    if (fix_crcs(buf, size)) fuzz_image_run(buf, size, "fuzz.png", nst_png_info, nst_png_read);
    free(buf);
    return 0;
}
