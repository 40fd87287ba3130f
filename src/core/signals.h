// SIGINT/SIGTERM during long runs. The first signal only sets a flag the Lua loop polls
// (so it can write a final checkpoint and return). A second one means "stop now": the
// handler removes the temporary file of any atomic save in progress (io/atomic_file.c),
// so no partial file is left behind, then gives the signal its default action and raises
// it again. The core itself never exits: the process ends the way an unhandled Ctrl-C
// ends it (killed by the signal; a shell reports 128 + the signal number, 130 for SIGINT).
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
