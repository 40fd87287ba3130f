// Timing events of the CPU backend (twin of kernels/cuda_profile.cu): CPU work is
// synchronous, so event i is the monotonic clock when it is recorded.
#include <stdlib.h>
#include <time.h>

#include "cpu/cpu.h"

static double *g_times; // seconds, by event index
static size_t g_ntimes;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int nst_cpu_event_record(size_t i, nst_err *e) {
    if (i >= g_ntimes) {
        size_t n = g_ntimes ? g_ntimes : 256;
        while (n <= i) n *= 2;
        double *t = realloc(g_times, n * sizeof *t);
        if (!t) return nst_fail(e, "profile: out of host memory");
        g_times = t, g_ntimes = n;
    }
    g_times[i] = now();
    return 0;
}

int nst_cpu_event_elapsed(size_t a, size_t b, double *ms, nst_err *e) {
    if (a >= g_ntimes || b >= g_ntimes) return nst_fail(e, "profile: no event %zu", a > b ? a : b);
    *ms = (g_times[b] - g_times[a]) * 1e3;
    return 0;
}
