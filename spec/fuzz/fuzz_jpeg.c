// libFuzzer target for the JPEG reader (src/io/image_jpeg.c): the input bytes are the file.
// Both entry points run on every input: nst_jpeg_info (header only) and nst_jpeg_read
// (full decode). Any tensor returned is freed, so leaks show up in LeakSanitizer.
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_image.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_image_limits();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *buf = fuzz_image_copy(data, size);
    if (!buf) return 0;
    fuzz_image_run(buf, size, "fuzz.jpg", nst_jpeg_info, nst_jpeg_read);
    free(buf);
    return 0;
}
