// Timing marks (see profile.h). CUDA marks are events recorded on the one stream and
// read after a synchronization in nst_profile_stop.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/profile.h"
#ifdef NST_WITH_CUDA
#include "nst_cuda.h"
#endif

typedef struct mark {
    nst_profile_entry entry;
    double t; // CPU: seconds; CUDA: unused (event index = position)
} mark;

static mark *g_marks;
static size_t g_cap, g_count, g_dropped;
static int g_on;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int nst_profile_enabled(void) { return g_on; }

int nst_profile_start(size_t capacity, nst_err *e) {
    if (capacity < 1 || capacity > 1000000)
        return nst_fail(e, "profile: capacity must be 1..1000000, got %zu", capacity);
    mark *m = calloc(capacity, sizeof *m);
    if (!m) return nst_fail(e, "profile: out of memory");
    free(g_marks);
    g_marks = m, g_cap = capacity, g_count = 0, g_dropped = 0, g_on = 1;
    return 0;
}

int nst_profile_mark(nst_device d, const char *label, const char *suffix, nst_err *e) {
    if (!g_on) return 0;
    if (g_count == g_cap) {
        g_dropped++;
        return 0;
    }
    mark *m = &g_marks[g_count];
    snprintf(m->entry.label, sizeof m->entry.label, "%s%s", label ? label : "", suffix ? suffix : "");
    m->entry.device = d;
    m->entry.ms = 0;
    if (d == NST_CUDA) {
#ifdef NST_WITH_CUDA
        if (nst_cuda_event_record(g_count, e)) return -1;
#else
        return nst_fail(e, "profile: nst was built without CUDA");
#endif
    } else {
        m->t = now();
    }
    g_count++;
    return 0;
}

int nst_profile_stop(nst_profile_entry **out, size_t *count, size_t *dropped, nst_err *e) {
    if (!g_on) return nst_fail(e, "profile: not started (nst.profile_start)");
    g_on = 0;
    nst_profile_entry *res = calloc(g_count ? g_count : 1, sizeof *res);
    if (!res) return nst_fail(e, "profile: out of memory");
    long prev[2] = {-1, -1}; // last mark per device
    for (size_t i = 0; i < g_count; i++) {
        mark *m = &g_marks[i];
        int d = m->entry.device == NST_CUDA;
        res[i] = m->entry;
        if (prev[d] >= 0) {
            if (!d) {
                res[i].ms = (m->t - g_marks[prev[d]].t) * 1e3;
            } else {
#ifdef NST_WITH_CUDA
                float ms;
                if (nst_cuda_event_elapsed((size_t)prev[d], i, &ms, e)) {
                    free(res);
                    return -1;
                }
                res[i].ms = ms;
#endif
            }
        }
        prev[d] = (long)i;
    }
    *out = res, *count = g_count, *dropped = g_dropped;
    return 0;
}
