// safetensors files: header parser (safetensors_header.c), reader (safetensors_read.c)
// and writer (safetensors_write.c).
// Format: u64 little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}
// then the data section; offsets are relative to its start (byte 8 + N).
// Supported dtypes: F32, F16, BF16 (converted to float32 on load).
#ifndef NST_SAFETENSORS_H
#define NST_SAFETENSORS_H

#include <stdint.h>

#include "core/nst.h"

// Header length bound: a longer header is refused before anything is allocated.
#define NST_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

typedef enum nst_st_dtype { NST_ST_F32 = 0, NST_ST_F16 = 1, NST_ST_BF16 = 2 } nst_st_dtype;

// "F32", "F16", "BF16"
const char *nst_st_dtype_name(nst_st_dtype d);
// bytes per element: 4 or 2
size_t nst_st_dtype_size(nst_st_dtype d);
// Parses "F32" / "F16" / "BF16" (also lower case); -1 with a message otherwise.
int nst_st_dtype_parse(const char *s, nst_st_dtype *out, nst_err *e);

typedef struct nst_st_entry {
    char *name;
    nst_st_dtype dtype;
    int ndim; // 1..4 (a 0-d tensor is read as shape {1})
    int64_t shape[NST_MAX_DIMS]; // entries >= 0; a 0 makes an empty tensor (not loadable)
    size_t numel;
    uint64_t begin, end; // byte range in the data section, end - begin = numel * size
} nst_st_entry;

typedef struct nst_st_meta {
    char *key;
    char *value;
} nst_st_meta;

// An opened, fully validated file. The descriptor stays open for nst_st_read*.
typedef struct nst_st_file {
    char *path;
    int fd;
    uint64_t file_size;
    uint64_t data_start; // 8 + header length
    size_t ntensors;
    nst_st_entry *tensors; // sorted by name (strcmp)
    size_t nmeta;
    nst_st_meta *meta; // in file order
} nst_st_file;

// Opens and validates path (header only; no tensor data is read). NULL with a message
// naming the file (and the tensor) on any problem.
nst_st_file *nst_st_open(const char *path, nst_err *e);
void nst_st_close(nst_st_file *f); // NULL is fine

// The entry named name, or NULL.
const nst_st_entry *nst_st_find(const nst_st_file *f, const char *name);
// The metadata value for key, or NULL.
const char *nst_st_meta_get(const nst_st_file *f, const char *key);

// Reads entry en into dst (any device; dst->numel must equal en->numel; dst's shape is
// not checked, so a caller may load into a view of another shape), converting to float32.
int nst_st_read_into(const nst_st_file *f, const nst_st_entry *en, nst_tensor *dst, nst_err *e);
// A new CPU tensor with en's shape and data.
nst_tensor *nst_st_read(const nst_st_file *f, const nst_st_entry *en, nst_err *e);

// Writes n named tensors (any device, float32) and nmeta key/value strings to path,
// stored as dtype. Atomic (io/atomic_file.h): on error nothing is left behind and path
// is untouched. Names must be non-empty, unique and not "__metadata__".
int nst_st_save(const char *path, size_t n, const char *const *names,
                const nst_tensor *const *tensors, size_t nmeta, const char *const *keys,
                const char *const *values, nst_st_dtype dtype, nst_err *e);

// Internal to io/safetensors_*.c: fills f's tensors and metadata from the header
// (json, len bytes) and checks them against f->file_size; orders entries by name.
int nst_st_parse_header(nst_st_file *f, const char *json, size_t len, nst_err *e);
int nst_st_cmp_entry(const void *a, const void *b);

#endif
