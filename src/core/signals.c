// Ctrl-C handling (see signals.h).
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "core/signals.h"

static volatile sig_atomic_t pending;
static volatile sig_atomic_t temp_valid;
static char temp_path[4096];
static struct sigaction old_int, old_term;
static int installed;

// Only async-signal-safe calls here (unlink, signal, raise).
static void on_signal(int sig) {
    if (pending) { // second signal: no half-written file, then the signal's default action
        if (temp_valid) unlink(temp_path);
        signal(sig, SIG_DFL);
        raise(sig); // delivered when the handler returns (the signal is blocked until then)
        return;
    }
    pending = sig;
}

int nst_signals_install(nst_err *e) {
    if (installed) return 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, &old_int) || sigaction(SIGTERM, &sa, &old_term))
        return nst_fail(e, "cannot install signal handlers");
    installed = 1;
    pending = 0;
    return 0;
}

void nst_signals_restore(void) {
    if (!installed) return;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    installed = 0;
}

int nst_signals_pending(void) { return pending; }
void nst_signals_clear(void) { pending = 0; }

void nst_signals_tempfile(const char *path) {
    temp_valid = 0;
    if (!path || strlen(path) >= sizeof temp_path) return;
    memcpy(temp_path, path, strlen(path) + 1);
    temp_valid = 1;
}
