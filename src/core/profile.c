// Timing marks (see profile.h). Mark i records event i on its device through the
// backend's event slots (CPU: the clock; CUDA: an event on the stream); the times are
// read after the devices are waited for, in nst_profile_stop.
#include <stdio.h>
#include <stdlib.h>

#include "core/backend.h"
#include "core/profile.h"

static nst_profile_entry *g_marks;
static size_t g_cap, g_count, g_dropped;
static int g_on;

int nst_profile_start(size_t capacity, nst_err *e) {
    if (capacity < 1 || capacity > 1000000)
        return nst_fail(e, "profile: capacity must be 1..1000000, got %zu", capacity);
    nst_profile_entry *m = calloc(capacity, sizeof *m);
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
    // The compiled-in table: a device without hardware reports it from its slot.
    const nst_backend *b = nst_backend_table(d);
    if (!b) return nst_fail(e, "profile: nst was built without CUDA");
    nst_profile_entry *m = &g_marks[g_count];
    snprintf(m->label, sizeof m->label, "%s%s", label ? label : "", suffix ? suffix : "");
    m->device = d;
    m->ms = 0;
    if (b->event_record(g_count, e)) return -1;
    g_count++;
    return 0;
}

int nst_profile_stop(nst_profile_entry **out, size_t *count, size_t *dropped, nst_err *e) {
    if (!g_on) return nst_fail(e, "profile: not started (nst.profile_start)");
    g_on = 0;
    nst_profile_entry *res = calloc(g_count ? g_count : 1, sizeof *res);
    if (!res) return nst_fail(e, "profile: out of memory");
    long prev[NST_NDEVICES] = {-1, -1}; // last mark per device
    for (size_t i = 0; i < g_count; i++) {
        nst_device d = g_marks[i].device;
        res[i] = g_marks[i];
        if (prev[d] >= 0 &&
            nst_backend_table(d)->event_elapsed((size_t)prev[d], i, &res[i].ms, e)) {
            free(res);
            return -1;
        }
        prev[d] = (long)i;
    }
    *out = res, *count = g_count, *dropped = g_dropped;
    return 0;
}
