// safetensors reader: validates the whole header up front (cJSON), then reads single
// tensors with pread and converts F16 / BF16 to float32. See safetensors.h.
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/half.h"

// Integers in JSON are doubles to cJSON; above 2^53 they are no longer exact.
#define MAX_JSON_INT 9007199254740992.0
// Elements converted per pread when the file's dtype is not the host's float32.
#define CHUNK_ELEMS ((size_t)1 << 16)

const char *nst_st_dtype_name(nst_st_dtype d) {
    switch (d) {
    case NST_ST_F32: return "F32";
    case NST_ST_F16: return "F16";
    case NST_ST_BF16: return "BF16";
    }
    return "?";
}

size_t nst_st_dtype_size(nst_st_dtype d) { return d == NST_ST_F32 ? 4 : 2; }

int nst_st_dtype_parse(const char *s, nst_st_dtype *out, nst_err *e) {
    if (!strcmp(s, "F32") || !strcmp(s, "f32"))
        *out = NST_ST_F32;
    else if (!strcmp(s, "F16") || !strcmp(s, "f16"))
        *out = NST_ST_F16;
    else if (!strcmp(s, "BF16") || !strcmp(s, "bf16"))
        *out = NST_ST_BF16;
    else
        return nst_fail(e, "unsupported dtype '%s' (supported: F32, F16, BF16)", s);
    return 0;
}

// Dtypes of the safetensors format that nst does not load (for a precise message).
static int known_other_dtype(const char *s) {
    static const char *const other[] = {"F64", "I64", "I32", "I16", "I8", "U64", "U32",
                                        "U16", "U8", "BOOL", "F8_E4M3", "F8_E5M2", "C64"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (!strcmp(s, other[i]))
            return 1;
    return 0;
}

static void shape_str(int ndim, const int64_t *shape, char *buf, size_t len) {
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && k < len; i++) {
        int w = snprintf(buf + k, len - k, i ? "x%lld" : "%lld", (long long)shape[i]);
        if (w < 0)
            break;
        k += (size_t)w;
    }
}

static int is_json_uint(const cJSON *v) {
    if (!cJSON_IsNumber(v))
        return 0;
    double d = v->valuedouble;
    return d >= 0 && d <= MAX_JSON_INT && d == (double)(uint64_t)d;
}

// Reads exactly len bytes at off; -1 with errno (0 on a short read).
static int pread_all(int fd, void *buf, size_t len, uint64_t off, size_t *got) {
    char *p = buf;
    *got = 0;
    while (*got < len) {
        ssize_t r = pread(fd, p + *got, len - *got, (off_t)(off + *got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = 0;
            return -1;
        }
        *got += (size_t)r;
    }
    return 0;
}

void nst_st_close(nst_st_file *f) {
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    for (size_t i = 0; i < f->ntensors; i++)
        free(f->tensors[i].name);
    for (size_t i = 0; i < f->nmeta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->tensors);
    free(f->meta);
    free(f->path);
    free(f);
}

static int parse_dtype(const nst_st_file *f, const char *name, const cJSON *obj,
                       nst_st_dtype *out, nst_err *e) {
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(obj, "dtype");
    if (!dt)
        return nst_fail(e, "%s: tensor '%s': missing dtype", f->path, name);
    if (!cJSON_IsString(dt))
        return nst_fail(e, "%s: tensor '%s': dtype is not a string", f->path, name);
    const char *s = dt->valuestring;
    if (!strcmp(s, "F32"))
        *out = NST_ST_F32;
    else if (!strcmp(s, "F16"))
        *out = NST_ST_F16;
    else if (!strcmp(s, "BF16"))
        *out = NST_ST_BF16;
    else
        return nst_fail(e, "%s: tensor '%s': %s dtype '%.40s' (supported: F32, F16, BF16)",
                        f->path, name, known_other_dtype(s) ? "unsupported" : "unknown", s);
    return 0;
}

static int parse_shape(const nst_st_file *f, nst_st_entry *en, const cJSON *obj, nst_err *e) {
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(obj, "shape");
    if (!sh)
        return nst_fail(e, "%s: tensor '%s': missing shape", f->path, en->name);
    if (!cJSON_IsArray(sh))
        return nst_fail(e, "%s: tensor '%s': shape is not an array", f->path, en->name);
    int n = cJSON_GetArraySize(sh);
    if (n > NST_MAX_DIMS)
        return nst_fail(e, "%s: tensor '%s': shape has %d dims, at most %d are supported",
                        f->path, en->name, n, NST_MAX_DIMS);
    size_t numel = 1;
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh) {
        if (!is_json_uint(d))
            return nst_fail(e, "%s: tensor '%s': shape entry %d is not a non-negative integer",
                            f->path, en->name, i + 1);
        en->shape[i] = (int64_t)d->valuedouble;
        if (nst_mul_size(numel, (size_t)en->shape[i], &numel))
            return nst_fail(e, "%s: tensor '%s': shape is too large", f->path, en->name);
        i++;
    }
    en->ndim = n;
    if (n == 0) { // a scalar: one element
        en->ndim = 1;
        en->shape[0] = 1;
    }
    en->numel = numel;
    return 0;
}

static int parse_offsets(const nst_st_file *f, nst_st_entry *en, const cJSON *obj, nst_err *e) {
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(obj, "data_offsets");
    if (!off)
        return nst_fail(e, "%s: tensor '%s': missing data_offsets", f->path, en->name);
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !is_json_uint(off->child) ||
        !is_json_uint(off->child->next))
        return nst_fail(e, "%s: tensor '%s': data_offsets must be [begin, end], two "
                        "non-negative integers", f->path, en->name);
    en->begin = (uint64_t)off->child->valuedouble;
    en->end = (uint64_t)off->child->next->valuedouble;
    if (en->begin > en->end)
        return nst_fail(e, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin",
                        f->path, en->name, (unsigned long long)en->begin,
                        (unsigned long long)en->end);
    size_t bytes;
    char sh[96];
    shape_str(en->ndim, en->shape, sh, sizeof sh);
    if (nst_mul_size(en->numel, nst_st_dtype_size(en->dtype), &bytes) ||
        (uint64_t)bytes != en->end - en->begin)
        return nst_fail(e, "%s: tensor '%s': shape %s with dtype %s does not match its byte "
                        "length %llu (data_offsets [%llu, %llu])", f->path, en->name, sh,
                        nst_st_dtype_name(en->dtype), (unsigned long long)(en->end - en->begin),
                        (unsigned long long)en->begin, (unsigned long long)en->end);
    uint64_t data_size = f->file_size - f->data_start;
    if (en->end > data_size)
        return nst_fail(e, "%s: tensor '%s': data_offsets [%llu, %llu] past the end of the file "
                        "(data section has %llu bytes; truncated file?)", f->path, en->name,
                        (unsigned long long)en->begin, (unsigned long long)en->end,
                        (unsigned long long)data_size);
    return 0;
}

static int parse_metadata(nst_st_file *f, const cJSON *md, nst_err *e) {
    if (!cJSON_IsObject(md))
        return nst_fail(e, "%s: __metadata__ is not an object", f->path);
    size_t n = (size_t)cJSON_GetArraySize(md);
    f->meta = calloc(n ? n : 1, sizeof *f->meta);
    if (!f->meta)
        return nst_fail(e, "%s: out of memory", f->path);
    const cJSON *kv;
    cJSON_ArrayForEach(kv, md) {
        if (!cJSON_IsString(kv))
            return nst_fail(e, "%s: __metadata__ value for '%s' is not a string", f->path,
                            kv->string);
        nst_st_meta *m = &f->meta[f->nmeta];
        m->key = strdup(kv->string);
        m->value = strdup(kv->valuestring);
        f->nmeta++;
        if (!m->key || !m->value)
            return nst_fail(e, "%s: out of memory", f->path);
    }
    return 0;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const nst_st_entry *)a)->name, ((const nst_st_entry *)b)->name);
}

static int cmp_begin(const void *a, const void *b) {
    const nst_st_entry *x = *(const nst_st_entry *const *)a, *y = *(const nst_st_entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

// Sorted by name for nst_st_find; no two names equal; no two byte ranges overlapping
// (holes between them are allowed).
static int check_layout(nst_st_file *f, nst_err *e) {
    qsort(f->tensors, f->ntensors, sizeof *f->tensors, cmp_name);
    for (size_t i = 1; i < f->ntensors; i++)
        if (!strcmp(f->tensors[i - 1].name, f->tensors[i].name))
            return nst_fail(e, "%s: tensor '%s' appears twice", f->path, f->tensors[i].name);
    if (f->ntensors < 2)
        return 0;
    const nst_st_entry **by = malloc(f->ntensors * sizeof *by);
    if (!by)
        return nst_fail(e, "%s: out of memory", f->path);
    for (size_t i = 0; i < f->ntensors; i++)
        by[i] = &f->tensors[i];
    qsort(by, f->ntensors, sizeof *by, cmp_begin);
    const nst_st_entry *prev = NULL;
    int rc = 0;
    for (size_t i = 0; i < f->ntensors && !rc; i++) {
        if (by[i]->begin == by[i]->end)
            continue; // empty tensors own no bytes
        if (prev && prev->end > by[i]->begin)
            rc = nst_fail(e, "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap",
                          f->path, prev->name, (unsigned long long)prev->begin,
                          (unsigned long long)prev->end, by[i]->name,
                          (unsigned long long)by[i]->begin, (unsigned long long)by[i]->end);
        prev = by[i];
    }
    free(by);
    return rc;
}

static int parse_header(nst_st_file *f, const char *json, size_t len, nst_err *e) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        long at = end ? (long)(end - json) : -1;
        return nst_fail(e, "%s: header is not valid JSON (error near byte %ld of %zu)", f->path,
                        at, len);
    }
    int rc = 0;
    // The format pads the header with spaces; anything else after the JSON is garbage.
    for (const char *p = end; p < json + len && !rc; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            rc = nst_fail(e, "%s: header is not valid JSON (garbage after byte %ld)", f->path,
                          (long)(end - json));
    if (!rc && !cJSON_IsObject(root))
        rc = nst_fail(e, "%s: header is not a JSON object", f->path);
    size_t n = 0;
    const cJSON *it;
    if (!rc) {
        cJSON_ArrayForEach(it, root) n += strcmp(it->string, "__metadata__") != 0;
        f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
        if (!f->tensors)
            rc = nst_fail(e, "%s: out of memory", f->path);
    }
    if (!rc) {
        cJSON_ArrayForEach(it, root) {
            if (!strcmp(it->string, "__metadata__")) {
                if (f->meta)
                    rc = nst_fail(e, "%s: __metadata__ appears twice", f->path);
                else
                    rc = parse_metadata(f, it, e);
            } else {
                nst_st_entry *en = &f->tensors[f->ntensors];
                en->name = strdup(it->string);
                if (!en->name) {
                    rc = nst_fail(e, "%s: out of memory", f->path);
                    break;
                }
                f->ntensors++;
                if (!cJSON_IsObject(it))
                    rc = nst_fail(e, "%s: tensor '%s': entry is not an object", f->path,
                                  en->name);
                if (!rc)
                    rc = parse_dtype(f, en->name, it, &en->dtype, e);
                if (!rc)
                    rc = parse_shape(f, en, it, e);
                if (!rc)
                    rc = parse_offsets(f, en, it, e);
            }
            if (rc)
                break;
        }
    }
    cJSON_Delete(root);
    return rc ? rc : check_layout(f, e);
}

nst_st_file *nst_st_open(const char *path, nst_err *e) {
    nst_st_file *f = calloc(1, sizeof *f);
    char *json = NULL;
    if (!f || !(f->path = strdup(path))) {
        free(f);
        nst_fail(e, "%s: out of memory", path);
        return NULL;
    }
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        nst_fail(e, "cannot open %s: %s", path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        nst_fail(e, "cannot stat %s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        nst_fail(e, "%s: not a regular file", path);
        goto fail;
    }
    f->file_size = (uint64_t)st.st_size;
    if (f->file_size == 0) {
        nst_fail(e, "%s: empty file, not a safetensors file", path);
        goto fail;
    }
    if (f->file_size < 8) {
        nst_fail(e, "%s: file too short (%llu bytes) for a safetensors header", path,
                 (unsigned long long)f->file_size);
        goto fail;
    }
    unsigned char b[8];
    size_t got;
    if (pread_all(f->fd, b, 8, 0, &got)) {
        nst_fail(e, "cannot read %s: %s", path, errno ? strerror(errno) : "short read");
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | b[i];
    if (hlen >> 63) {
        nst_fail(e, "%s: header length %llu is negative as a signed 64-bit number "
                 "(not a safetensors file?)", path, (unsigned long long)hlen);
        goto fail;
    }
    if (hlen > NST_ST_MAX_HEADER) {
        nst_fail(e, "%s: header length %llu exceeds the limit of %llu bytes "
                 "(not a safetensors file?)", path, (unsigned long long)hlen,
                 (unsigned long long)NST_ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > f->file_size - 8) {
        nst_fail(e, "%s: header length %llu exceeds the file size %llu (truncated file?)", path,
                 (unsigned long long)hlen, (unsigned long long)f->file_size);
        goto fail;
    }
    if (hlen < 2) {
        nst_fail(e, "%s: header length %llu is too short for a JSON object", path,
                 (unsigned long long)hlen);
        goto fail;
    }
    f->data_start = 8 + hlen;
    json = malloc((size_t)hlen + 1);
    if (!json) {
        nst_fail(e, "%s: out of memory for a %llu-byte header", path, (unsigned long long)hlen);
        goto fail;
    }
    if (pread_all(f->fd, json, (size_t)hlen, 8, &got)) {
        nst_fail(e, "cannot read the header of %s: %s", path,
                 errno ? strerror(errno) : "file truncated");
        goto fail;
    }
    json[hlen] = '\0';
    if (parse_header(f, json, (size_t)hlen, e))
        goto fail;
    free(json);
    return f;
fail:
    free(json);
    nst_st_close(f);
    return NULL;
}

const nst_st_entry *nst_st_find(const nst_st_file *f, const char *name) {
    nst_st_entry key;
    key.name = (char *)name;
    return bsearch(&key, f->tensors, f->ntensors, sizeof *f->tensors, cmp_name);
}

const char *nst_st_meta_get(const nst_st_file *f, const char *key) {
    for (size_t i = 0; i < f->nmeta; i++)
        if (!strcmp(f->meta[i].key, key))
            return f->meta[i].value;
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
            uint32_t x = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                         (uint32_t)p[3] << 24;
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
    if (!buf)
        return nst_fail(e, "%s: tensor '%s': out of memory", f->path, en->name);
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
        return nst_fail(e, "%s: tensor '%s' has no elements; nst tensors cannot be empty",
                        f->path, en->name);
    if (dst->numel != en->numel) {
        char a[96], b[96];
        shape_str(en->ndim, en->shape, a, sizeof a);
        nst_shape_str(dst, b, sizeof b);
        return nst_fail(e, "%s: tensor '%s' has shape %s, cannot load it into a %s tensor",
                        f->path, en->name, a, b);
    }
    if (nst_dev(dst) == NST_CPU)
        return read_host(f, en, nst_data(dst), e);
    float *host = malloc(en->numel * sizeof *host);
    if (!host)
        return nst_fail(e, "%s: tensor '%s': out of memory", f->path, en->name);
    int rc = read_host(f, en, host, e);
    if (!rc)
        rc = nst_upload(dst, host, e);
    free(host);
    return rc;
}

nst_tensor *nst_st_read(const nst_st_file *f, const nst_st_entry *en, nst_err *e) {
    char sh[96];
    size_t bytes = SIZE_MAX;
    shape_str(en->ndim, en->shape, sh, sizeof sh);
    if (en->numel == 0) {
        nst_fail(e, "%s: tensor '%s' (shape %s) has no elements; nst tensors cannot be empty",
                 f->path, en->name, sh);
        return NULL;
    }
    if (nst_mul_size(en->numel, sizeof(float), &bytes) || bytes > nst_max_tensor_bytes) {
        nst_fail(e, "%s: tensor '%s' (shape %s) needs %zu bytes as float32, above the limit "
                 "of %zu bytes (nst_max_tensor_bytes)", f->path, en->name, sh, bytes,
                 nst_max_tensor_bytes);
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

nst_tensor *nst_st_load(const nst_st_file *f, const char *name, nst_err *e) {
    const nst_st_entry *en = nst_st_find(f, name);
    if (!en) {
        nst_fail(e, "no tensor '%s' in %s", name, f->path);
        return NULL;
    }
    return nst_st_read(f, en, e);
}
