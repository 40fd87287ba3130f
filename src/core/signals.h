// SIGINT/SIGTERM during long runs: the first signal only sets a flag the Lua loop polls
// (so it can write a final checkpoint); a second one exits at once, after removing the
// temporary file of any atomic save in progress, so no partial file is left behind.
#ifndef NST_SIGNALS_H
#define NST_SIGNALS_H

#include "core/nst.h"

int nst_signals_install(nst_err *e);
void nst_signals_restore(void);
int nst_signals_pending(void); // the signal received, or 0
void nst_signals_clear(void);
// Names the temporary file an atomic save is writing (NULL: none).
void nst_signals_tempfile(const char *path);

#endif
