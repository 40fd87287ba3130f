// Caching device allocator. Sizes are rounded up to a size class; a released block
// goes onto its class's free list and the next allocation of that class takes it
// back, so cudaMalloc runs only on a cache miss (the first iterations) and cudaFree
// only when memory runs out or the cache is emptied on request.
//
// Reuse without events is safe because all work is queued on the one stream: a
// kernel queued after the reuse runs after every kernel that used the block before.
//
// Graph pools (cuda_graph.cu): while a CUDA graph is captured, every block the capture
// allocates or frees joins that graph's pool. A freed pool block goes back to the pool,
// never to the general lists, until the graph is destroyed: replays keep writing
// memory the captured work used, so nothing outside the graph may receive it.
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "cuda_internal.h"

namespace {

typedef std::unordered_map<size_t, std::vector<void *>> FreeLists; // class bytes -> blocks

struct Arena {
    std::mutex mu;
    FreeLists free_lists; // the general pool
    std::unordered_map<void *, size_t> live; // block -> class bytes
    std::unordered_map<void *, int> owner; // block -> graph pool (absent: general)
    std::unordered_map<int, FreeLists> pool_free;
    int capturing = 0; // pool of the capture in progress, 0 when none
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
        if (a.capturing) { // the graph's own free blocks first
            std::vector<void *> &fl = a.pool_free[a.capturing][cls];
            if (!fl.empty()) {
                p = fl.back();
                fl.pop_back();
            }
        }
        auto it = a.free_lists.find(cls);
        if (!p && it != a.free_lists.end() && !it->second.empty()) {
            p = it->second.back();
            it->second.pop_back();
            if (a.capturing) a.owner[p] = a.capturing;
        }
        if (!p) {
            cudaError_t err = cudaMalloc(&p, cls);
            if (err == cudaErrorMemoryAllocation && !a.capturing) { // no waiting inside a capture
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
            if (a.capturing) a.owner[p] = a.capturing;
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
        auto o = a.owner.find(p);
        int pool = o != a.owner.end() ? o->second : 0;
        if (!pool && a.capturing) // its last use may be inside the graph being captured
            pool = a.owner[p] = a.capturing;
        if (pool) a.pool_free[pool][cls].push_back(p);
        else a.free_lists[cls].push_back(p);
    } catch (const std::bad_alloc &) {
        cudaStream_t s;
        if (nst_cu_stream(&s, NULL) == 0) cudaStreamSynchronize(s);
        cudaFree(p);
        a.reserved -= cls;
    }
}

void nst_cu_arena_capture(int pool) {
    Arena &a = arena();
    std::lock_guard<std::mutex> lock(a.mu);
    a.capturing = pool;
}

void nst_cu_arena_release_pool(int pool) {
    Arena &a = arena();
    std::lock_guard<std::mutex> lock(a.mu);
    for (auto it = a.owner.begin(); it != a.owner.end();) {
        if (it->second == pool) it = a.owner.erase(it); // live blocks: general when freed
        else ++it;
    }
    auto pf = a.pool_free.find(pool);
    if (pf == a.pool_free.end()) return;
    for (auto &kv : pf->second) {
        std::vector<void *> &dst = a.free_lists[kv.first];
        dst.insert(dst.end(), kv.second.begin(), kv.second.end());
    }
    a.pool_free.erase(pf);
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
    if (!nst_cu_available()) return 0; // nothing was ever allocated
    cudaStream_t s;
    if (nst_cu_stream(&s, e)) return -1;
    if (nst_cu_capturing()) return nst_fail(e, "empty_cache while a CUDA graph is being captured");
    if (nst_cu_check(cudaStreamSynchronize(s), "cudaStreamSynchronize", e)) return -1;
    Arena &a = arena();
    std::lock_guard<std::mutex> lock(a.mu);
    release_cached(a);
    return 0;
}
