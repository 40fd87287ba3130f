// CUDA graphs: the work a Lua function queues on the one stream, captured once and
// replayed with one launch (nst.cuda_graph). The captured work's memory comes from a
// pool of its own (cuda_arena.cu) that nothing else uses until the graph is destroyed.
//
// What a captured function may do: queue kernels, cuDNN/cuBLAS calls (plans must exist:
// run the work once before capturing) and device-to-device copies. What it may not:
// anything that waits for the device or reads it from the host (:item(), downloads,
// nst.sync, a new cuDNN plan) or copies from the host; those fail with a message that
// says so, and the capture is abandoned.
#include <new>
#include <vector>

#include "cuda_internal.h"

struct nst_cuda_graph {
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    int pool;
};

static int g_capturing; // pool of the capture in progress, 0 when none
static int g_next_pool = 1;
static std::vector<nst_cuda_graph *> g_deferred; // freed during a capture

int nst_cu_capturing(void) { return g_capturing != 0; }

static void destroy(nst_cuda_graph *g) {
    cudaStream_t s;
    // Replays still queued must finish before the pool's memory goes back to the arena.
    if (nst_cu_stream(&s, NULL) == 0) cudaStreamSynchronize(s);
    if (g->exec) cudaGraphExecDestroy(g->exec);
    if (g->graph) cudaGraphDestroy(g->graph);
    (void)cudaGetLastError();
    nst_cu_arena_release_pool(g->pool);
    delete g;
}

extern "C" int nst_cuda_graph_begin(nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (g_capturing) return nst_fail(e, "cuda_graph: a capture is already in progress");
    int pool = g_next_pool++;
    nst_cu_arena_capture(pool);
    if (nst_cu_check(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed),
                     "cudaStreamBeginCapture", e)) {
        nst_cu_arena_capture(0);
        nst_cu_arena_release_pool(pool);
        return -1;
    }
    g_capturing = pool;
    return 0;
}

extern "C" int nst_cuda_graph_end(nst_cuda_graph **out, nst_err *e) {
    *out = NULL;
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (!g_capturing) return nst_fail(e, "cuda_graph: no capture in progress");
    int pool = g_capturing;
    g_capturing = 0;
    cudaGraph_t graph = NULL;
    cudaError_t err = cudaStreamEndCapture(s, &graph);
    nst_cu_arena_capture(0);
    int rc = 0;
    nst_cuda_graph *g = NULL;
    if (err != cudaSuccess || !graph) {
        (void)cudaGetLastError();
        rc = nst_fail(e,
                      "cuda_graph: the capture failed (%s): the function did something that "
                      "cannot be captured (waited for the device, read it, or copied from "
                      "the host)",
                      cudaGetErrorString(err));
    } else if (!(g = new (std::nothrow) nst_cuda_graph())) {
        rc = nst_fail(e, "cuda_graph: out of host memory");
    } else {
        g->graph = graph, g->pool = pool;
        graph = NULL;
        rc = nst_cu_check(cudaGraphInstantiate(&g->exec, g->graph, 0), "cudaGraphInstantiate", e);
    }
    if (graph) cudaGraphDestroy(graph);
    if (rc) {
        if (g) destroy(g);
        else nst_cu_arena_release_pool(pool);
    } else {
        *out = g;
    }
    for (nst_cuda_graph *d : g_deferred) destroy(d);
    g_deferred.clear();
    return rc;
}

extern "C" int nst_cuda_graph_launch(nst_cuda_graph *g, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (g_capturing) return nst_fail(e, "cuda_graph: cannot replay a graph while capturing one");
    return nst_cu_check(cudaGraphLaunch(g->exec, s), "cudaGraphLaunch", e);
}

extern "C" void nst_cuda_graph_free(nst_cuda_graph *g) {
    if (!g) return;
    if (g_capturing) { // destroying waits for the device: not now
        try {
            g_deferred.push_back(g);
        } catch (const std::bad_alloc &) {}
        return;
    }
    destroy(g);
}
