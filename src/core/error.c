// Error reporting of the core: a message in an nst_err, never an exit or a longjmp.
#include <stdio.h>

#include "core/nst.h"

int nst_fail(nst_err *e, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}
