// Caching device allocator. Sizes are rounded up to a size class; a released block
// goes onto its class's free list and the next allocation of that class takes it
// back, so cudaMalloc runs only on a cache miss (the first iterations) and cudaFree
// only when memory runs out or the cache is emptied on request.
//
// Reuse without events is safe because all work is queued on the one stream: a
// kernel queued after the reuse runs after every kernel that used the block before.
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "cuda_internal.h"

namespace {

struct Arena {
    std::mutex mu;
    std::unordered_map<size_t, std::vector<void *>> free_lists; // class bytes -> blocks
    std::unordered_map<void *, size_t> live;                    // block -> class bytes
    size_t in_use = 0, peak = 0, reserved = 0;
};

Arena &arena() {
    static Arena a;
    return a;
}

// Classes: 512 B minimum, then 4 per power of two (at most 25% waste), steps capped
// at 64 MiB for very large blocks.
size_t size_class(size_t bytes) {
    const size_t min_class = 512;
    if (bytes <= min_class) return min_class;
    size_t p = 1;
    while (p <= (bytes - 1) / 2) p <<= 1; // largest power of two < bytes
    size_t step = p / 4;
    if (step > ((size_t)64 << 20)) step = (size_t)64 << 20;
    size_t rounded = (bytes + step - 1) / step * step;
    return rounded < bytes ? bytes : rounded; // no wrap for absurd sizes
}

// Returns every cached free block to the driver. Caller holds the lock and has
// synchronized the stream (a cached block may still be read by queued work).
void release_cached(Arena &a) {
    for (auto &kv : a.free_lists) {
        for (void *p : kv.second) {
            cudaFree(p);
            a.reserved -= kv.first;
        }
        kv.second.clear();
    }
    a.free_lists.clear();
    (void)cudaGetLastError();
}

double mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

} // namespace

void *nst_cu_alloc(size_t bytes, nst_err *e) {
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return NULL;
    size_t cls = size_class(bytes);
    Arena &a = arena();
    std::lock_guard<std::mutex> lock(a.mu);
    void *p = NULL;
    try {
        auto it = a.free_lists.find(cls);
        if (it != a.free_lists.end() && !it->second.empty()) {
            p = it->second.back();
            it->second.pop_back();
        } else {
            cudaError_t err = cudaMalloc(&p, cls);
            if (err == cudaErrorMemoryAllocation) {
                // Out of memory: give the cache back and try once more.
                (void)cudaGetLastError();
                cudaStreamSynchronize(s);
                release_cached(a);
                err = cudaMalloc(&p, cls);
            }
            if (err == cudaErrorMemoryAllocation) {
                (void)cudaGetLastError();
                nst_fail(e, "CUDA out of memory allocating %.1f MiB (%.1f MiB in use)", mib(cls),
                         mib(a.in_use));
                return NULL;
            }
            if (nst_cu_check(err, "cudaMalloc", e)) return NULL;
            a.reserved += cls;
        }
        a.live.emplace(p, cls);
    } catch (const std::bad_alloc &) {
        if (p) {
            // The block cannot be tracked: hand it back rather than leak it.
            cudaStreamSynchronize(s);
            cudaFree(p);
            a.reserved -= cls;
        }
        nst_fail(e, "CUDA allocator: out of host memory");
        return NULL;
    }
    a.in_use += cls;
    if (a.in_use > a.peak) a.peak = a.in_use;
    return p;
}

void nst_cu_free(void *p) {
    if (!p) return;
    Arena &a = arena();
    std::lock_guard<std::mutex> lock(a.mu);
    auto it = a.live.find(p);
    if (it == a.live.end()) return; // not ours: ignore rather than corrupt the cache
    size_t cls = it->second;
    a.live.erase(it);
    a.in_use -= cls;
    try {
        a.free_lists[cls].push_back(p);
    } catch (const std::bad_alloc &) {
        cudaStream_t s;
        if (nst_cu_stream(&s, NULL) == 0) cudaStreamSynchronize(s);
        cudaFree(p);
        a.reserved -= cls;
    }
}

extern "C" void nst_cuda_memory_stats(size_t *in_use, size_t *peak, size_t *reserved) {
    Arena &a = arena();
    std::lock_guard<std::mutex> lock(a.mu);
    if (in_use) *in_use = a.in_use;
    if (peak) *peak = a.peak;
    if (reserved) *reserved = a.reserved;
}

extern "C" void nst_cuda_reset_peak(void) {
    Arena &a = arena();
    std::lock_guard<std::mutex> lock(a.mu);
    a.peak = a.in_use;
}

extern "C" int nst_cuda_empty_cache(nst_err *e) {
    if (!nst_cuda_available()) return 0; // nothing was ever allocated
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (nst_cu_check(cudaStreamSynchronize(s), "cudaStreamSynchronize", e)) return -1;
    Arena &a = arena();
    std::lock_guard<std::mutex> lock(a.mu);
    release_cached(a);
    return 0;
}
