// The one way nst writes a file (images, safetensors, CSV and SVG plots, and through
// core.write_atomic anything Lua writes): a reader never sees a half-written file, and
// a failure leaves an existing file at the path as it was.
//
// The rule: the content goes to a temporary file next to the target, named
// <path>.tmp-XXXXXX (mkstemp), with the mode of any new file (0666 & ~umask); it is
// flushed, fsynced and renamed over the target, then the directory is fsynced (best
// effort). On any failure the temporary file is removed. While it exists a second
// Ctrl-C removes it too (core/signals.h).
//
// Messages name the target: "<path>: cannot create a temporary file next to it: <why>",
// "<path>: cannot write: <why>", "<path>: cannot replace it with the new file: <why>".
#ifndef NST_ATOMIC_FILE_H
#define NST_ATOMIC_FILE_H

#include <stdio.h>

#include "core/nst.h"

typedef struct nst_atomic_file {
    const char *path; // the target (the caller's string, kept until close)
    char *tmp; // the temporary file's name
    FILE *f; // open for writing on the temporary file (stdio, for libpng/libjpeg)
} nst_atomic_file;

// Creates the temporary file. On failure nothing is left to close.
int nst_atomic_open(nst_atomic_file *af, const char *path, nst_err *e);
// Writes len bytes to the temporary file.
int nst_atomic_write(nst_atomic_file *af, const void *buf, size_t len, nst_err *e);
// Ends the write. ok != 0: flush, fsync, close, rename over the target; -1 with a
// message if any of that fails. ok == 0 (the caller failed; its message stays in e):
// the temporary file is removed and -1 returned. Either way af is closed.
int nst_atomic_close(nst_atomic_file *af, int ok, nst_err *e);

// All of data (len bytes) to path: open, write, close.
int nst_write_atomic(const char *path, const void *data, size_t len, nst_err *e);

#endif
