// safetensors writer: header built with cJSON, data converted in chunks, written
// through the atomic writer (io/atomic_file.h).
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/half.h"
#include "io/atomic_file.h"

#define CHUNK_ELEMS ((size_t)1 << 16)

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// -1 if two of the n strings are equal (the name of one in *dup).
static int find_dup(const char *const *s, size_t n, const char **dup, nst_err *e) {
    *dup = NULL;
    if (n < 2) return 0;
    const char **c = malloc(n * sizeof *c);
    if (!c) return nst_fail(e, "out of memory");
    memcpy(c, s, n * sizeof *c);
    qsort(c, n, sizeof *c, cmp_str);
    for (size_t i = 1; i < n && !*dup; i++)
        if (!strcmp(c[i - 1], c[i])) *dup = c[i];
    free(c);
    return *dup ? -1 : 0;
}

static cJSON *json_uint(uint64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return cJSON_CreateRaw(buf); // exact integers, not doubles
}

// The header JSON padded with spaces to a multiple of 8 bytes; *len its length.
static char *build_header(size_t n, const char *const *names, const nst_tensor *const *tensors,
                          size_t nmeta, const char *const *keys, const char *const *values,
                          nst_st_dtype dtype, size_t *len) {
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && nmeta > 0) {
        cJSON *md = cJSON_AddObjectToObject(root, "__metadata__");
        ok = md != NULL;
        for (size_t i = 0; ok && i < nmeta; i++)
            ok = cJSON_AddStringToObject(md, keys[i], values[i]) != NULL;
    }
    uint64_t off = 0, es = nst_st_dtype_size(dtype);
    for (size_t i = 0; ok && i < n; i++) {
        const nst_tensor *t = tensors[i];
        cJSON *o = cJSON_AddObjectToObject(root, names[i]);
        cJSON *sh = cJSON_CreateArray(), *offs = cJSON_CreateArray();
        ok = o && sh && offs && cJSON_AddStringToObject(o, "dtype", nst_st_dtype_name(dtype));
        for (int d = 0; ok && d < t->ndim; d++)
            ok = cJSON_AddItemToArray(sh, json_uint((uint64_t)t->shape[d]));
        ok = ok && cJSON_AddItemToArray(offs, json_uint(off));
        off += (uint64_t)t->numel * es;
        ok = ok && cJSON_AddItemToArray(offs, json_uint(off));
        if (ok && cJSON_AddItemToObject(o, "shape", sh)) sh = NULL;
        if (ok && cJSON_AddItemToObject(o, "data_offsets", offs)) offs = NULL;
        ok = ok && !sh && !offs;
        cJSON_Delete(sh);
        cJSON_Delete(offs);
    }
    char *s = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!s) return NULL;
    size_t k = strlen(s), padded = (k + 7) / 8 * 8;
    char *out = malloc(padded + 1);
    if (out) {
        memcpy(out, s, k);
        memset(out + k, ' ', padded - k);
        out[padded] = '\0';
        *len = padded;
    }
    cJSON_free(s);
    return out;
}

// Writes t's elements (named name) as little-endian dtype.
static int write_tensor(nst_atomic_file *af, const char *name, const nst_tensor *t,
                        nst_st_dtype dtype, nst_err *e) {
    const float *src = NULL;
    float *host = NULL;
    if (nst_dev(t) == NST_CPU) {
        src = nst_data(t);
    } else {
        nst_err inner;
        host = malloc(t->numel * sizeof *host);
        if (!host) return nst_fail(e, "%s: tensor '%s': out of memory", af->path, name);
        if (nst_download(t, host, &inner)) {
            free(host);
            return nst_fail(e, "%s: tensor '%s': %s", af->path, name, inner.msg);
        }
        src = host;
    }
    size_t es = nst_st_dtype_size(dtype);
    size_t cap = t->numel < CHUNK_ELEMS ? t->numel : CHUNK_ELEMS;
    unsigned char *buf = malloc(cap * es);
    int rc = buf ? 0 : nst_fail(e, "%s: tensor '%s': out of memory", af->path, name);
    for (size_t done = 0; !rc && done < t->numel;) {
        size_t k = t->numel - done < cap ? t->numel - done : cap;
        for (size_t i = 0; i < k; i++) {
            float v = src[done + i];
            unsigned char *p = buf + i * es;
            if (dtype == NST_ST_F32) {
                uint32_t x;
                memcpy(&x, &v, 4);
                p[0] = (unsigned char)x, p[1] = (unsigned char)(x >> 8);
                p[2] = (unsigned char)(x >> 16), p[3] = (unsigned char)(x >> 24);
            } else {
                uint16_t h = dtype == NST_ST_F16 ? nst_f32_to_f16(v) : nst_f32_to_bf16(v);
                p[0] = (unsigned char)h, p[1] = (unsigned char)(h >> 8);
            }
        }
        rc = nst_atomic_write(af, buf, k * es, e);
        done += k;
    }
    free(buf);
    free(host);
    return rc;
}

static int check_args(const char *path, size_t n, const char *const *names,
                      const nst_tensor *const *tensors, size_t nmeta, const char *const *keys,
                      const char *const *values, nst_err *e) {
    const char *dup;
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || !names[i][0])
            return nst_fail(e, "%s: tensor %zu has an empty name", path, i + 1);
        if (!strcmp(names[i], "__metadata__"))
            return nst_fail(e, "%s: '__metadata__' cannot be a tensor name", path);
        if (!tensors[i] || tensors[i]->numel == 0)
            return nst_fail(e, "%s: tensor '%s' is missing or empty", path, names[i]);
    }
    for (size_t i = 0; i < nmeta; i++)
        if (!keys[i] || !values[i])
            return nst_fail(e, "%s: metadata entry %zu is missing its key or value", path, i + 1);
    if (find_dup(names, n, &dup, e))
        return dup ? nst_fail(e, "%s: tensor name '%s' appears twice", path, dup) : -1;
    if (find_dup(keys, nmeta, &dup, e))
        return dup ? nst_fail(e, "%s: metadata key '%s' appears twice", path, dup) : -1;
    return 0;
}

int nst_st_save(const char *path, size_t n, const char *const *names,
                const nst_tensor *const *tensors, size_t nmeta, const char *const *keys,
                const char *const *values, nst_st_dtype dtype, nst_err *e) {
    if (check_args(path, n, names, tensors, nmeta, keys, values, e)) return -1;
    size_t hlen = 0;
    char *header = build_header(n, names, tensors, nmeta, keys, values, dtype, &hlen);
    if (!header) return nst_fail(e, "%s: out of memory building the header", path);
    nst_atomic_file af;
    if (nst_atomic_open(&af, path, e)) {
        free(header);
        return -1;
    }
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    int rc = nst_atomic_write(&af, lenb, 8, e) || nst_atomic_write(&af, header, hlen, e) ? -1 : 0;
    for (size_t i = 0; !rc && i < n; i++) rc = write_tensor(&af, names[i], tensors[i], dtype, e);
    free(header);
    return nst_atomic_close(&af, rc == 0, e);
}
