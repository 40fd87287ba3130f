// libFuzzer target for the safetensors reader (src/io/safetensors_read.c and
// safetensors_header.c): the input bytes are the file. The reader works on a path (open + pread), so each input is written to one
// file per process in /dev/shm (memory, not disk), then opened, every tensor read and
// freed, and the file closed; LeakSanitizer sees anything left behind. Each input runs
// again with its u64 header length set to where its JSON really ends, when that differs.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "io/safetensors.h"

static char path[64];

static void remove_file(void) {
    if (path[0]) unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    // 64 MB per tensor: a header that declares a bigger tensor must be refused before
    // the allocation, never take the fuzzer past -rss_limit_mb.
    nst_max_tensor_bytes = (size_t)64 << 20;
    snprintf(path, sizeof path, "/dev/shm/nst-fuzz-%ld.safetensors", (long)getpid());
    atexit(remove_file);
    return 0;
}

// Every failure must come with a message naming the file (the Lua error shows it).
static void names_file(const nst_err *e) {
    if (!e->msg[0] || !strstr(e->msg, path)) __builtin_trap();
}

static int write_input(const uint8_t *data, size_t size) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    return close(fd);
}

// Opens the file as it is now, reads every tensor, closes it.
static void run_one(const uint8_t *data, size_t size) {
    if (write_input(data, size)) return;
    nst_err e = {{0}};
    nst_st_file *f = nst_st_open(path, &e);
    if (!f) {
        names_file(&e);
        return;
    }
    for (size_t i = 0; i < f->ntensors; i++) {
        const nst_st_entry *en = &f->tensors[i];
        // The open validated every entry: its bytes lie inside the file.
        if (en->begin > en->end || f->data_start + en->end > f->file_size) __builtin_trap();
        if (nst_st_find(f, en->name) != en) __builtin_trap();
        e.msg[0] = '\0';
        nst_tensor *t = nst_st_read(f, en, &e);
        if (t) {
            if ((size_t)t->numel != en->numel) __builtin_trap();
            nst_tensor_free(t);
        } else {
            names_file(&e);
        }
    }
    for (size_t i = 0; i < f->nmeta; i++)
        if (nst_st_meta_get(f, f->meta[i].key) == NULL) __builtin_trap();
    nst_st_close(f);
}

// Where the JSON value starting at byte 8 ends, as a header length, or 0. Mutations that
// grow or shrink the header break the u64 length in front of it and the file is refused
// at once; the copy with the length made right lets the fuzzer reach the validation of
// the entries (shapes, offsets, overlaps) with them.
static uint64_t json_length(const uint8_t *data, size_t size) {
    if (size <= 8) return 0;
    const char *json = (const char *)data + 8, *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, size - 8, &end, 0);
    if (!root) return 0;
    cJSON_Delete(root);
    return (uint64_t)(end - json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    run_one(data, size);
    uint64_t n = json_length(data, size), had = 0;
    for (int i = 7; i >= 0 && size >= 8; i--) had = had << 8 | data[i];
    if (n == 0 || n == had) return 0;
    uint8_t *copy = malloc(size);
    if (!copy) return 0;
    memcpy(copy, data, size);
    for (int i = 0; i < 8; i++) copy[i] = (uint8_t)(n >> (8 * i)); // little-endian
    run_one(copy, size);
    free(copy);
    return 0;
}
