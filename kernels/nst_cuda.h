// Public C interface of the CUDA backend (kernels/*.cu), for the C core and the Lua
// bindings. No CUDA types here: this header compiles with a plain C compiler. The
// backend table itself is declared in src/backend.h (nst_cuda_backend).
//
// Nothing touches the CUDA driver until the first call that needs it, so a library
// built with CUDA loads and runs on CPU-only machines; there nst_cuda_available()
// returns 0 and every CUDA slot fails with "CUDA not available: ...".
#ifndef NST_CUDA_H
#define NST_CUDA_H

#include <stddef.h>

#include "core/nst.h"

// 1 when at least one CUDA device is usable, 0 otherwise (no driver, no device).
// The answer is computed once and cached.
int nst_cuda_available(void);

// Math used by convolutions and GEMMs (process-wide, takes effect on the next call):
//   "fp32"  full float32: cuDNN FMA kernels only, cuBLAS without TF32.
//   "tf32"  (default) float32 storage, TF32 tensor cores for convolutions and GEMMs.
//   "bf16"  convolutions run on bf16 copies of activations and weights with float
//           accumulation; outputs are converted back to float. GEMMs use TF32.
// -1 with a message for any other string.
int nst_cuda_set_precision(const char *mode, nst_err *e);
// The current mode's name ("fp32", "tf32" or "bf16").
const char *nst_cuda_get_precision(void);

// Memory layout of convolutions (process-wide, takes effect on the next call):
//   "nchw"  cuDNN called on nst's NCHW tensors directly.
//   "nhwc"  channels-last: input and output converted (and channels padded to a
//           multiple of 8) around cuDNN's NHWC kernels, the tensor-core native layout.
//   "chain" as nhwc, and the VGG keeps its activations and gradients channels-last
//           (bf16 in bf16 mode) between layers: only its input, tapped outputs and
//           the gradients arriving at taps are converted.
//   "auto"  (default) the layout measured best so far: nchw (see kernels/README.md).
// -1 with a message for any other string.
int nst_cuda_set_conv_layout(const char *layout, nst_err *e);
const char *nst_cuda_get_conv_layout(void);

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

// Profiling events (src/profile.c): records event i on the stream; elapsed milliseconds
// between two recorded events (waits for the later one).
int nst_cuda_event_record(size_t i, nst_err *e);
int nst_cuda_event_elapsed(size_t a, size_t b, float *ms, nst_err *e);

// The convolution plans made so far (for reports): direction, shape, precision,
// layout, cuDNN's algorithm number, workspace bytes and Find's time. Fills up to max
// entries, returns how many.
typedef struct nst_cuda_conv_plan {
    int backward, n, c, h, w, k, nhwc, algo;
    const char *precision;
    size_t workspace;
    float ms;
} nst_cuda_conv_plan;
int nst_cuda_conv_plans(nst_cuda_conv_plan *out, int max);

// Name of device 0 ("NVIDIA H200"); returns 0, or -1 with "" in buf when no device.
int nst_cuda_device_name(char *buf, size_t len);

#endif
