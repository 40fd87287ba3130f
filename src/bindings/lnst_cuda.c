// The CUDA backend's own controls in Lua, through its control header kernels/nst_cuda.h:
// memory statistics and cache, cuDNN's plans, the device name, CUDA graphs. Built in
// every configuration; without CUDA the functions say so. (Availability and the
// precision / layout settings go through the core: lnst_device.c.)
#include "bindings/lnst.h"

#ifdef NST_WITH_CUDA
#include "nst_cuda.h"

// nst.cuda_conv_plans() -> {{direction =, n =, c =, h =, w =, k =, precision =,
// layout =, algo =, workspace =, ms =}, ...}: what cuDNN's Find chose per shape.
static int l_cuda_conv_plans(lua_State *L) {
    nst_cuda_conv_plan plans[256];
    int n = nst_cuda_conv_plans(plans, 256);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        const nst_cuda_conv_plan *p = &plans[i];
        lua_createtable(L, 0, 11);
        nst_lua_field_str(L, "direction", p->backward ? "backward-data" : "forward");
        const int v[6] = {p->n, p->c, p->h, p->w, p->k, p->algo};
        static const char *const names[6] = {"n", "c", "h", "w", "k", "algo"};
        for (int j = 0; j < 6; j++) {
            lua_pushinteger(L, v[j]);
            lua_setfield(L, -2, names[j]);
        }
        nst_lua_field_str(L, "precision", nst_lua_precision_names[p->precision]);
        nst_lua_field_str(L, "layout", p->nhwc ? "nhwc" : "nchw");
        nst_lua_field_int(L, "workspace", (lua_Integer)p->workspace);
        nst_lua_field_num(L, "ms", p->ms);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}
// ---- CUDA graphs: g, results... = nst.cuda_graph(fn); g:replay(); g:close() ----
#define GRAPH_MT "nst.CudaGraph"

typedef struct graph_box {
    nst_cuda_graph *g;
} graph_box;

static graph_box *check_graph(lua_State *L) {
    graph_box *b = luaL_checkudata(L, 1, GRAPH_MT);
    if (!b->g) luaL_error(L, "cuda graph is closed");
    return b;
}

// Captures the CUDA work fn queues (fn runs once, with nothing executed on the device)
// and returns the graph followed by fn's results: tensors fn made are rewritten by
// every replay.
static int l_cuda_graph(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_settop(L, 1);
    graph_box *box = nst_lua_new_box(L, sizeof *box, GRAPH_MT);
    nst_err e;
    if (nst_cuda_graph_begin(&e)) return nst_lua_error(L, NULL, &e);
    lua_pushvalue(L, 1);
    int ok = lua_pcall(L, 0, LUA_MULTRET, 0) == LUA_OK; // stack: fn, box, results | error
    nst_cuda_graph *g = NULL;
    int rc = nst_cuda_graph_end(&g, &e);
    if (!ok) {
        nst_cuda_graph_free(g);
        return lua_error(L); // the function's own error comes first
    }
    if (rc) return nst_lua_error(L, NULL, &e);
    box->g = g;
    return lua_gettop(L) - 1;
}

static int l_graph_replay(lua_State *L) {
    graph_box *b = check_graph(L);
    nst_err e;
    if (nst_cuda_graph_launch(b->g, &e)) return nst_lua_error(L, NULL, &e);
    return 0;
}

static int l_graph_close(lua_State *L) { // also __gc and __close; a second close is harmless
    graph_box *b = luaL_checkudata(L, 1, GRAPH_MT);
    nst_cuda_graph_free(b->g);
    b->g = NULL;
    return 0;
}

static int l_cuda_memory_stats(lua_State *L) { // {in_use =, peak =, reserved =} in bytes
    size_t in_use, peak, reserved;
    nst_cuda_memory_stats(&in_use, &peak, &reserved);
    lua_createtable(L, 0, 3);
    nst_lua_field_int(L, "in_use", (lua_Integer)in_use);
    nst_lua_field_int(L, "peak", (lua_Integer)peak);
    nst_lua_field_int(L, "reserved", (lua_Integer)reserved);
    return 1;
}
static int l_cuda_reset_peak(lua_State *L) {
    nst_cuda_reset_peak();
    return 0;
}
static int l_cuda_empty_cache(lua_State *L) {
    nst_err e;
    if (nst_cuda_empty_cache(&e)) return nst_lua_error(L, NULL, &e);
    return 0;
}
static int l_cuda_device_name(lua_State *L) { // name, or nil when there is no device
    char buf[256];
    if (nst_cuda_device_name(buf, sizeof buf)) lua_pushnil(L);
    else lua_pushstring(L, buf);
    return 1;
}
#else
static int l_no_cuda(lua_State *L) {
    return luaL_error(L, "nst was built without CUDA (nvcc not found at build time)");
}
#define l_cuda_memory_stats l_no_cuda
#define l_cuda_conv_plans l_no_cuda
#define l_cuda_graph l_no_cuda
#define l_cuda_reset_peak l_no_cuda
#define l_cuda_empty_cache l_no_cuda
#define l_cuda_device_name l_no_cuda
#endif

static const luaL_Reg funcs[] = {{"cuda_memory_stats", l_cuda_memory_stats},
                                 {"cuda_reset_peak", l_cuda_reset_peak},
                                 {"cuda_empty_cache", l_cuda_empty_cache},
                                 {"cuda_device_name", l_cuda_device_name},
                                 {"cuda_conv_plans", l_cuda_conv_plans},
                                 {"cuda_graph", l_cuda_graph},
                                 {NULL, NULL}};

void nst_lua_open_cuda(lua_State *L) {
#ifdef NST_WITH_CUDA
    static const luaL_Reg graph_methods[] = {
        {"replay", l_graph_replay}, {"close", l_graph_close}, {NULL, NULL}};
    nst_lua_new_class(L, GRAPH_MT, l_graph_close, graph_methods, NULL);
#endif
    luaL_setfuncs(L, funcs, 0);
}
