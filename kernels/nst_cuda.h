// The CUDA control header: what the Lua bindings (src/bindings/lnst_cuda.c) may ask of
// the CUDA backend beyond the core's API. No CUDA types here: it compiles with a plain C
// compiler. The backend table itself is declared in src/core/backend.h
// (nst_cuda_backend); availability and the precision / conv layout settings go through
// the core (nst_device_available, core/settings.h), not through this header.
//
// Nothing touches the CUDA driver until the first call that needs it, so a library
// built with CUDA loads and runs on CPU-only machines; there every CUDA slot fails with
// "CUDA not available: ...".
#ifndef NST_CUDA_H
#define NST_CUDA_H

#include <stddef.h>

#include "core/nst.h"
#include "core/settings.h"

// Caching allocator statistics in bytes: held by live tensors and scratch (in_use),
// the largest in_use since start or the last reset (peak), obtained from cudaMalloc
// and not yet returned (reserved = in_use + cached free blocks).
void nst_cuda_memory_stats(size_t *in_use, size_t *peak, size_t *reserved);
void nst_cuda_reset_peak(void);
// Waits for queued work, then returns every cached free block to the driver.
int nst_cuda_empty_cache(nst_err *e);

// CUDA graphs (cuda_graph.cu): begin captures what is queued on the stream from now
// on; end stops and instantiates it (-1 if the captured work did something a capture
// forbids). launch replays it; free waits for queued replays, then releases its memory
// pool (deferred to the end of a capture in progress).
typedef struct nst_cuda_graph nst_cuda_graph;
int nst_cuda_graph_begin(nst_err *e);
int nst_cuda_graph_end(nst_cuda_graph **out, nst_err *e);
int nst_cuda_graph_launch(nst_cuda_graph *g, nst_err *e);
void nst_cuda_graph_free(nst_cuda_graph *g);

// The convolution plans made so far (for reports): direction, shape, precision,
// layout, cuDNN's algorithm number, workspace bytes and Find's time. Fills up to max
// entries, returns how many.
typedef struct nst_cuda_conv_plan {
    int backward, n, c, h, w, k, nhwc, algo;
    nst_precision precision;
    size_t workspace;
    float ms;
} nst_cuda_conv_plan;
int nst_cuda_conv_plans(nst_cuda_conv_plan *out, int max);

// Name of device 0 ("NVIDIA H200"); returns 0, or -1 with "" in buf when no device.
int nst_cuda_device_name(char *buf, size_t len);

#endif
