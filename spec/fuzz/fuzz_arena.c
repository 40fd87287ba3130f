// Stand-in for src/cpu/cpu_arena.c in the fuzz targets only: every block is its own
// exact-size allocation, freed at once. The real arena rounds big blocks up to 64 KiB
// and keeps them cached after free, which would hide from AddressSanitizer a write past
// a tensor's end or a use after free, and would hold up to 2 GiB of idle blocks, which
// libFuzzer's -rss_limit_mb would report as an out-of-memory.
#include <stdlib.h>

#include "cpu/cpu.h"

void *nst_cpu_arena_alloc(size_t bytes, nst_err *e) {
    void *p = NULL;
    // Same alignment promise as the real arena (64 bytes); ASan still poisons exactly
    // past `bytes`.
    if (bytes > SIZE_MAX / 2 || posix_memalign(&p, 64, bytes ? bytes : 1) != 0) {
        nst_fail(e, "cpu: out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    return p;
}

void nst_cpu_arena_free(void *p) { free(p); }
