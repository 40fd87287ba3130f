// Atomic file writing (see atomic_file.h).
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/signals.h"
#include "io/atomic_file.h"

#define TMP_SUFFIX ".tmp-XXXXXX"

// The mode a plain new file gets (what fopen would create): 0666 less the umask.
static mode_t new_file_mode(void) {
    mode_t mask = umask(0);
    umask(mask);
    return 0666 & ~mask;
}

int nst_atomic_open(nst_atomic_file *af, const char *path, nst_err *e) {
    af->path = path, af->tmp = NULL, af->f = NULL;
    size_t len = strlen(path);
    char *tmp = malloc(len + sizeof TMP_SUFFIX);
    if (!tmp) return nst_fail(e, "%s: out of memory", path);
    memcpy(tmp, path, len);
    memcpy(tmp + len, TMP_SUFFIX, sizeof TMP_SUFFIX);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int rc =
            nst_fail(e, "%s: cannot create a temporary file next to it: %s", path, strerror(errno));
        free(tmp);
        return rc;
    }
    nst_signals_tempfile(tmp); // a second Ctrl-C removes it before the process ends
    // mkstemp makes the file 0600; the output is an ordinary file. Best effort: some
    // filesystems have no modes.
    (void)fchmod(fd, new_file_mode());
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int rc = nst_fail(e, "%s: cannot write: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        nst_signals_tempfile(NULL);
        free(tmp);
        return rc;
    }
    af->tmp = tmp, af->f = f;
    return 0;
}

int nst_atomic_write(nst_atomic_file *af, const void *buf, size_t len, nst_err *e) {
    if (len && fwrite(buf, 1, len, af->f) != len)
        return nst_fail(e, "%s: cannot write: %s", af->path, strerror(errno));
    return 0;
}

// Makes a rename durable; failure here is not an error (the file itself is synced).
static void sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else return;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int nst_atomic_close(nst_atomic_file *af, int ok, nst_err *e) {
    int rc = ok ? 0 : -1;
    if (!rc && (fflush(af->f) != 0 || fsync(fileno(af->f)) != 0))
        rc = nst_fail(e, "%s: cannot write: %s", af->path, strerror(errno));
    if (fclose(af->f) != 0 && !rc)
        rc = nst_fail(e, "%s: cannot write: %s", af->path, strerror(errno));
    if (!rc && rename(af->tmp, af->path) != 0)
        rc = nst_fail(e, "%s: cannot replace it with the new file: %s", af->path, strerror(errno));
    if (rc) unlink(af->tmp);
    else sync_parent_dir(af->path);
    nst_signals_tempfile(NULL);
    free(af->tmp);
    af->tmp = NULL, af->f = NULL;
    return rc;
}

int nst_write_atomic(const char *path, const void *data, size_t len, nst_err *e) {
    nst_atomic_file af;
    if (nst_atomic_open(&af, path, e)) return -1;
    int ok = nst_atomic_write(&af, data, len, e) == 0;
    return nst_atomic_close(&af, ok, e);
}
