// safetensors reader: opens and checks a file (the header through
// safetensors_header.c), then reads single tensors with pread, converting F16 / BF16 to
// float32. See safetensors.h.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/half.h"
#include "io/safetensors.h"

// Elements converted per pread when the file's dtype is not the host's float32.
#define CHUNK_ELEMS ((size_t)1 << 16)

// Reads exactly len bytes at off; -1 with errno (0 on a short read).
static int pread_all(int fd, void *buf, size_t len, uint64_t off, size_t *got) {
    char *p = buf;
    *got = 0;
    while (*got < len) {
        ssize_t r = pread(fd, p + *got, len - *got, (off_t)(off + *got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = 0;
            return -1;
        }
        *got += (size_t)r;
    }
    return 0;
}

void nst_st_close(nst_st_file *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    for (size_t i = 0; i < f->ntensors; i++) free(f->tensors[i].name);
    for (size_t i = 0; i < f->nmeta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->tensors);
    free(f->meta);
    free(f->path);
    free(f);
}

// Opens f->path as a regular, non-empty file; sets f->fd and f->file_size.
static int open_file(nst_st_file *f, nst_err *e) {
    const char *path = f->path;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) return nst_fail(e, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(f->fd, &st) != 0) return nst_fail(e, "cannot stat %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return nst_fail(e, "%s: not a regular file", path);
    f->file_size = (uint64_t)st.st_size;
    if (f->file_size == 0) return nst_fail(e, "%s: empty file, not a safetensors file", path);
    if (f->file_size < 8)
        return nst_fail(e, "%s: file too short (%llu bytes) for a safetensors header", path,
                        (unsigned long long)f->file_size);
    return 0;
}

// The header length in the first 8 bytes, checked against the file and the limit.
static int read_header_len(const nst_st_file *f, uint64_t *out, nst_err *e) {
    const char *path = f->path;
    unsigned char b[8];
    size_t got;
    if (pread_all(f->fd, b, 8, 0, &got))
        return nst_fail(e, "cannot read %s: %s", path, errno ? strerror(errno) : "short read");
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
    if (hlen >> 63)
        return nst_fail(e,
                        "%s: header length %llu is negative as a signed 64-bit number "
                        "(not a safetensors file?)",
                        path, (unsigned long long)hlen);
    if (hlen > NST_ST_MAX_HEADER)
        return nst_fail(e,
                        "%s: header length %llu exceeds the limit of %llu bytes "
                        "(not a safetensors file?)",
                        path, (unsigned long long)hlen, (unsigned long long)NST_ST_MAX_HEADER);
    if (hlen > f->file_size - 8)
        return nst_fail(e, "%s: header length %llu exceeds the file size %llu (truncated file?)",
                        path, (unsigned long long)hlen, (unsigned long long)f->file_size);
    if (hlen < 2)
        return nst_fail(e, "%s: header length %llu is too short for a JSON object", path,
                        (unsigned long long)hlen);
    *out = hlen;
    return 0;
}

// Reads the header (hlen bytes after the length) and parses it into f.
static int read_header(nst_st_file *f, uint64_t hlen, nst_err *e) {
    char *json = malloc((size_t)hlen + 1);
    if (!json)
        return nst_fail(e, "%s: out of memory for a %llu-byte header", f->path,
                        (unsigned long long)hlen);
    size_t got;
    int rc = 0;
    if (pread_all(f->fd, json, (size_t)hlen, 8, &got)) {
        rc = nst_fail(e, "cannot read the header of %s: %s", f->path,
                      errno ? strerror(errno) : "file truncated");
    } else {
        json[hlen] = '\0';
        rc = nst_st_parse_header(f, json, (size_t)hlen, e);
    }
    free(json);
    return rc;
}

nst_st_file *nst_st_open(const char *path, nst_err *e) {
    nst_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        nst_fail(e, "%s: out of memory", path);
        return NULL;
    }
    f->fd = -1;
    uint64_t hlen = 0;
    if (open_file(f, e) || read_header_len(f, &hlen, e)) {
        nst_st_close(f);
        return NULL;
    }
    f->data_start = 8 + hlen;
    if (read_header(f, hlen, e)) {
        nst_st_close(f);
        return NULL;
    }
    return f;
}

const nst_st_entry *nst_st_find(const nst_st_file *f, const char *name) {
    nst_st_entry key;
    key.name = (char *)name;
    return bsearch(&key, f->tensors, f->ntensors, sizeof *f->tensors, nst_st_cmp_entry);
}

const char *nst_st_meta_get(const nst_st_file *f, const char *key) {
    for (size_t i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta[i].key, key)) return f->meta[i].value;
    return NULL;
}

static int host_is_le(void) {
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

// Converts n little-endian elements of dtype from src to float32 at out.
static void convert(float *out, const unsigned char *src, size_t n, nst_st_dtype dt) {
    for (size_t i = 0; i < n; i++) {
        if (dt == NST_ST_F32) {
            const unsigned char *p = src + 4 * i;
            uint32_t x =
                (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            memcpy(&out[i], &x, 4);
        } else {
            uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
            out[i] = dt == NST_ST_F16 ? nst_f16_to_f32(h) : nst_bf16_to_f32(h);
        }
    }
}

// Fills host[0 .. en->numel) from the file.
static int read_host(const nst_st_file *f, const nst_st_entry *en, float *host, nst_err *e) {
    size_t es = nst_st_dtype_size(en->dtype), got;
    uint64_t off = f->data_start + en->begin;
    if (en->dtype == NST_ST_F32 && host_is_le()) {
        if (pread_all(f->fd, host, en->numel * 4, off, &got))
            return nst_fail(e, "%s: tensor '%s': %s (read %zu of %zu bytes)", f->path, en->name,
                            errno ? strerror(errno) : "file truncated", got, en->numel * 4);
        return 0;
    }
    size_t cap = en->numel < CHUNK_ELEMS ? en->numel : CHUNK_ELEMS;
    unsigned char *buf = malloc(cap * es);
    if (!buf) return nst_fail(e, "%s: tensor '%s': out of memory", f->path, en->name);
    for (size_t done = 0; done < en->numel;) {
        size_t k = en->numel - done < cap ? en->numel - done : cap;
        if (pread_all(f->fd, buf, k * es, off + done * es, &got)) {
            free(buf);
            return nst_fail(e, "%s: tensor '%s': %s (read %zu of %zu bytes)", f->path, en->name,
                            errno ? strerror(errno) : "file truncated", done * es + got,
                            en->numel * es);
        }
        convert(host + done, buf, k, en->dtype);
        done += k;
    }
    free(buf);
    return 0;
}

int nst_st_read_into(const nst_st_file *f, const nst_st_entry *en, nst_tensor *dst, nst_err *e) {
    if (en->numel == 0)
        return nst_fail(e, "%s: tensor '%s' has no elements; nst tensors cannot be empty", f->path,
                        en->name);
    if (dst->numel != en->numel) {
        char a[96], b[96];
        nst_shape_format(en->ndim, en->shape, a, sizeof a);
        nst_shape_str(dst, b, sizeof b);
        return nst_fail(e, "%s: tensor '%s' has shape %s, cannot load it into a %s tensor", f->path,
                        en->name, a, b);
    }
    if (nst_dev(dst) == NST_CPU) return read_host(f, en, nst_data(dst), e);
    float *host = malloc(en->numel * sizeof *host);
    if (!host) return nst_fail(e, "%s: tensor '%s': out of memory", f->path, en->name);
    int rc = read_host(f, en, host, e);
    if (!rc) rc = nst_upload(dst, host, e);
    free(host);
    return rc;
}

nst_tensor *nst_st_read(const nst_st_file *f, const nst_st_entry *en, nst_err *e) {
    char sh[96];
    size_t bytes = SIZE_MAX;
    nst_shape_format(en->ndim, en->shape, sh, sizeof sh);
    if (en->numel == 0) {
        nst_fail(e, "%s: tensor '%s' (shape %s) has no elements; nst tensors cannot be empty",
                 f->path, en->name, sh);
        return NULL;
    }
    if (nst_mul_size(en->numel, sizeof(float), &bytes) || bytes > nst_max_tensor_bytes) {
        nst_fail(e,
                 "%s: tensor '%s' (shape %s) needs %zu bytes as float32, above the limit "
                 "of %zu bytes (nst_max_tensor_bytes)",
                 f->path, en->name, sh, bytes, nst_max_tensor_bytes);
        return NULL;
    }
    nst_err inner;
    nst_tensor *t = nst_tensor_new(NST_CPU, en->ndim, en->shape, &inner);
    if (!t) {
        nst_fail(e, "%s: tensor '%s': %s", f->path, en->name, inner.msg);
        return NULL;
    }
    if (nst_st_read_into(f, en, t, e)) {
        nst_tensor_free(t);
        return NULL;
    }
    return t;
}
