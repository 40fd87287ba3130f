// Timing marks: where an iteration's time goes, per device. Off by default; a mark
// costs one flag test then. When on, a mark records an event through the device's
// backend: the CPU reads the clock (CPU work is synchronous), CUDA records an event on
// the stream, so the time between two marks is the device time of the work queued
// between them, host gaps included.
#ifndef NST_PROFILE_H
#define NST_PROFILE_H

#include "core/nst.h"

typedef struct nst_profile_entry {
    char label[48];
    nst_device device;
    double ms; // since the previous mark on the same device (0 for the first)
} nst_profile_entry;

// Starts recording (clearing earlier marks); at most capacity marks are kept.
int nst_profile_start(size_t capacity, nst_err *e);
// Records label followed by suffix (may be NULL). Marks past the capacity are counted
// as dropped, not recorded.
int nst_profile_mark(nst_device d, const char *label, const char *suffix, nst_err *e);
// Waits for the devices, stops recording and returns the marks (caller frees *out with
// free()) and how many were dropped.
int nst_profile_stop(nst_profile_entry **out, size_t *count, size_t *dropped, nst_err *e);

#endif
