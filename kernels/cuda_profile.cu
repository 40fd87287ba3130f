// Timing events of the CUDA backend (twin of src/cpu/cpu_profile.c): event i is a CUDA
// event recorded on the one stream. Created on first use, kept for later profiles.
#include <stdlib.h>

#include "cuda_internal.h"

static cudaEvent_t *g_events;
static size_t g_nevents;

int nst_cu_event_record(size_t i, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (i >= g_nevents) {
        size_t n = g_nevents ? g_nevents : 256;
        while (n <= i) n *= 2;
        cudaEvent_t *ev = (cudaEvent_t *)realloc(g_events, n * sizeof *ev);
        if (!ev) return nst_fail(e, "profile: out of host memory");
        g_events = ev;
        for (; g_nevents < n; g_nevents++)
            if (nst_cu_check(cudaEventCreate(&g_events[g_nevents]), "cudaEventCreate", e))
                return -1;
    }
    return nst_cu_check(cudaEventRecord(g_events[i], s), "cudaEventRecord", e);
}

int nst_cu_event_elapsed(size_t a, size_t b, double *ms, nst_err *e) {
    if (a >= g_nevents || b >= g_nevents)
        return nst_fail(e, "profile: no event %zu", a > b ? a : b);
    if (nst_cu_check(cudaEventSynchronize(g_events[b]), "cudaEventSynchronize", e)) return -1;
    float f;
    if (nst_cu_check(cudaEventElapsedTime(&f, g_events[a], g_events[b]), "cudaEventElapsedTime", e))
        return -1;
    *ms = f;
    return 0;
}
