// safetensors header parser: the JSON header validated whole with cJSON (dtypes,
// shapes, byte ranges inside the file, no overlaps, metadata). See safetensors.h.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

// Integers in JSON are doubles to cJSON; above 2^53 they are no longer exact.
#define MAX_JSON_INT 9007199254740992.0

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
    if (!strcmp(s, "F32") || !strcmp(s, "f32")) *out = NST_ST_F32;
    else if (!strcmp(s, "F16") || !strcmp(s, "f16")) *out = NST_ST_F16;
    else if (!strcmp(s, "BF16") || !strcmp(s, "bf16")) *out = NST_ST_BF16;
    else return nst_fail(e, "unsupported dtype '%s' (supported: F32, F16, BF16)", s);
    return 0;
}

// Dtypes of the safetensors format that nst does not load (for a precise message).
static int known_other_dtype(const char *s) {
    static const char *const other[] = {"F64", "I64", "I32",  "I16",     "I8",      "U64", "U32",
                                        "U16", "U8",  "BOOL", "F8_E4M3", "F8_E5M2", "C64"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (!strcmp(s, other[i])) return 1;
    return 0;
}

static int is_json_uint(const cJSON *v) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    return d >= 0 && d <= MAX_JSON_INT && d == (double)(uint64_t)d;
}

static int parse_dtype(const nst_st_file *f, const char *name, const cJSON *obj, nst_st_dtype *out,
                       nst_err *e) {
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(obj, "dtype");
    if (!dt) return nst_fail(e, "%s: tensor '%s': missing dtype", f->path, name);
    if (!cJSON_IsString(dt))
        return nst_fail(e, "%s: tensor '%s': dtype is not a string", f->path, name);
    const char *s = dt->valuestring;
    if (!strcmp(s, "F32")) *out = NST_ST_F32;
    else if (!strcmp(s, "F16")) *out = NST_ST_F16;
    else if (!strcmp(s, "BF16")) *out = NST_ST_BF16;
    else
        return nst_fail(e, "%s: tensor '%s': %s dtype '%.40s' (supported: F32, F16, BF16)", f->path,
                        name, known_other_dtype(s) ? "unsupported" : "unknown", s);
    return 0;
}

static int parse_shape(const nst_st_file *f, nst_st_entry *en, const cJSON *obj, nst_err *e) {
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(obj, "shape");
    if (!sh) return nst_fail(e, "%s: tensor '%s': missing shape", f->path, en->name);
    if (!cJSON_IsArray(sh))
        return nst_fail(e, "%s: tensor '%s': shape is not an array", f->path, en->name);
    int n = cJSON_GetArraySize(sh);
    if (n > NST_MAX_DIMS)
        return nst_fail(e, "%s: tensor '%s': shape has %d dims, at most %d are supported", f->path,
                        en->name, n, NST_MAX_DIMS);
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
    if (!off) return nst_fail(e, "%s: tensor '%s': missing data_offsets", f->path, en->name);
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !is_json_uint(off->child) ||
        !is_json_uint(off->child->next))
        return nst_fail(e,
                        "%s: tensor '%s': data_offsets must be [begin, end], two "
                        "non-negative integers",
                        f->path, en->name);
    en->begin = (uint64_t)off->child->valuedouble;
    en->end = (uint64_t)off->child->next->valuedouble;
    if (en->begin > en->end)
        return nst_fail(e, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin",
                        f->path, en->name, (unsigned long long)en->begin,
                        (unsigned long long)en->end);
    size_t bytes;
    char sh[96];
    nst_shape_format(en->ndim, en->shape, sh, sizeof sh);
    if (nst_mul_size(en->numel, nst_st_dtype_size(en->dtype), &bytes) ||
        (uint64_t)bytes != en->end - en->begin)
        return nst_fail(e,
                        "%s: tensor '%s': shape %s with dtype %s does not match its byte "
                        "length %llu (data_offsets [%llu, %llu])",
                        f->path, en->name, sh, nst_st_dtype_name(en->dtype),
                        (unsigned long long)(en->end - en->begin), (unsigned long long)en->begin,
                        (unsigned long long)en->end);
    uint64_t data_size = f->file_size - f->data_start;
    if (en->end > data_size)
        return nst_fail(e,
                        "%s: tensor '%s': data_offsets [%llu, %llu] past the end of the file "
                        "(data section has %llu bytes; truncated file?)",
                        f->path, en->name, (unsigned long long)en->begin,
                        (unsigned long long)en->end, (unsigned long long)data_size);
    return 0;
}

static int parse_metadata(nst_st_file *f, const cJSON *md, nst_err *e) {
    if (!cJSON_IsObject(md)) return nst_fail(e, "%s: __metadata__ is not an object", f->path);
    size_t n = (size_t)cJSON_GetArraySize(md);
    f->meta = calloc(n ? n : 1, sizeof *f->meta);
    if (!f->meta) return nst_fail(e, "%s: out of memory", f->path);
    const cJSON *kv;
    cJSON_ArrayForEach(kv, md) {
        if (!cJSON_IsString(kv))
            return nst_fail(e, "%s: __metadata__ value for '%s' is not a string", f->path,
                            kv->string);
        nst_st_meta *m = &f->meta[f->nmeta];
        m->key = strdup(kv->string);
        m->value = strdup(kv->valuestring);
        f->nmeta++;
        if (!m->key || !m->value) return nst_fail(e, "%s: out of memory", f->path);
    }
    return 0;
}

int nst_st_cmp_entry(const void *a, const void *b) {
    return strcmp(((const nst_st_entry *)a)->name, ((const nst_st_entry *)b)->name);
}

static int cmp_begin(const void *a, const void *b) {
    const nst_st_entry *x = *(const nst_st_entry *const *)a, *y = *(const nst_st_entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

// Sorted by name for nst_st_find; no two names equal; no two byte ranges overlapping
// (holes between them are allowed).
static int check_layout(nst_st_file *f, nst_err *e) {
    qsort(f->tensors, f->ntensors, sizeof *f->tensors, nst_st_cmp_entry);
    for (size_t i = 1; i < f->ntensors; i++)
        if (!strcmp(f->tensors[i - 1].name, f->tensors[i].name))
            return nst_fail(e, "%s: tensor '%s' appears twice", f->path, f->tensors[i].name);
    if (f->ntensors < 2) return 0;
    const nst_st_entry **by = malloc(f->ntensors * sizeof *by);
    if (!by) return nst_fail(e, "%s: out of memory", f->path);
    for (size_t i = 0; i < f->ntensors; i++) by[i] = &f->tensors[i];
    qsort(by, f->ntensors, sizeof *by, cmp_begin);
    const nst_st_entry *prev = NULL;
    int rc = 0;
    for (size_t i = 0; i < f->ntensors && !rc; i++) {
        if (by[i]->begin == by[i]->end) continue; // empty tensors own no bytes
        if (prev && prev->end > by[i]->begin)
            rc = nst_fail(e, "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap", f->path,
                          prev->name, (unsigned long long)prev->begin,
                          (unsigned long long)prev->end, by[i]->name,
                          (unsigned long long)by[i]->begin, (unsigned long long)by[i]->end);
        prev = by[i];
    }
    free(by);
    return rc;
}

int nst_st_parse_header(nst_st_file *f, const char *json, size_t len, nst_err *e) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        long at = end ? (long)(end - json) : -1;
        return nst_fail(e, "%s: header is not valid JSON (error near byte %ld of %zu)", f->path, at,
                        len);
    }
    int rc = 0;
    // The format pads the header with spaces; anything else after the JSON is garbage.
    for (const char *p = end; p < json + len && !rc; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            rc = nst_fail(e, "%s: header is not valid JSON (garbage after byte %ld)", f->path,
                          (long)(end - json));
    if (!rc && !cJSON_IsObject(root)) rc = nst_fail(e, "%s: header is not a JSON object", f->path);
    size_t n = 0;
    const cJSON *it;
    if (!rc) {
        cJSON_ArrayForEach(it, root) n += strcmp(it->string, "__metadata__") != 0;
        f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
        if (!f->tensors) rc = nst_fail(e, "%s: out of memory", f->path);
    }
    if (!rc) {
        cJSON_ArrayForEach(it, root) {
            if (!strcmp(it->string, "__metadata__")) {
                if (f->meta) rc = nst_fail(e, "%s: __metadata__ appears twice", f->path);
                else rc = parse_metadata(f, it, e);
            } else {
                nst_st_entry *en = &f->tensors[f->ntensors];
                en->name = strdup(it->string);
                if (!en->name) {
                    rc = nst_fail(e, "%s: out of memory", f->path);
                    break;
                }
                f->ntensors++;
                if (!cJSON_IsObject(it))
                    rc = nst_fail(e, "%s: tensor '%s': entry is not an object", f->path, en->name);
                if (!rc) rc = parse_dtype(f, en->name, it, &en->dtype, e);
                if (!rc) rc = parse_shape(f, en, it, e);
                if (!rc) rc = parse_offsets(f, en, it, e);
            }
            if (rc) break;
        }
    }
    cJSON_Delete(root);
    return rc ? rc : check_layout(f, e);
}
