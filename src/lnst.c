// The Lua module nst.core: shared binding helpers and luaopen_nst_core.
#include <string.h>

#include "lnst.h"
#include "backend.h"

int nst_lua_error(lua_State *L, const char *what, const nst_err *e) {
    if (what) return luaL_error(L, "%s: %s", what, e->msg);
    return luaL_error(L, "%s", e->msg);
}

int nst_lua_is_tensor(lua_State *L, int idx) { return luaL_testudata(L, idx, NST_TENSOR_MT) != NULL; }

nst_tensor *nst_lua_check_tensor(lua_State *L, int idx) {
    nst_ltensor *lt = luaL_testudata(L, idx, NST_TENSOR_MT);
    if (!lt) {
        const char *got = luaL_typename(L, idx);
        luaL_argerror(L, idx, lua_pushfstring(L, "expected nst.Tensor, got %s", got));
        return NULL;
    }
    if (!lt->t) luaL_argerror(L, idx, "tensor is closed");
    return lt->t;
}

nst_tensor *nst_lua_opt_tensor(lua_State *L, int idx) {
    return lua_isnoneornil(L, idx) ? NULL : nst_lua_check_tensor(L, idx);
}

// The collector sees a tensor as a few bytes of userdata, so a loop that drops large
// tensors would pile them up (9 GB of garbage at 512 px on the GPU). Collect when the
// memory held by tensors has doubled (and grown by 64 MiB) since the last collection.
static size_t gc_next = (size_t)256 << 20;

static void gc_pressure(lua_State *L) {
    if (nst_live_bytes <= gc_next) return;
    lua_gc(L, LUA_GCCOLLECT);
    size_t live = nst_live_bytes, floor = live + ((size_t)64 << 20);
    gc_next = 2 * live > floor ? 2 * live : floor;
}

nst_ltensor *nst_lua_push_box(lua_State *L) {
    gc_pressure(L);
    nst_ltensor *lt = lua_newuserdatauv(L, sizeof *lt, 0);
    lt->t = NULL;
    luaL_setmetatable(L, NST_TENSOR_MT);
    return lt;
}

void nst_lua_push_tensor(lua_State *L, nst_tensor *t) {
    // t leaks only if Lua itself runs out of memory creating the box.
    if (!lua_checkstack(L, 2)) {
        nst_tensor_free(t);
        luaL_error(L, "Lua stack overflow");
    }
    nst_ltensor *lt = nst_lua_push_box(L);
    lt->t = t;
}

nst_tensor *nst_lua_new_tensor(lua_State *L, nst_device dev, int ndim, const int64_t *shape) {
    nst_ltensor *lt = nst_lua_push_box(L);
    nst_err e;
    lt->t = nst_tensor_new(dev, ndim, shape, &e);
    if (!lt->t) nst_lua_error(L, NULL, &e);
    return lt->t;
}

nst_device nst_lua_opt_device(lua_State *L, int idx, nst_device def) {
    if (lua_isnoneornil(L, idx)) return def;
    const char *s = luaL_checkstring(L, idx);
    nst_device d;
    nst_err e;
    if (nst_device_parse(s, &d, &e)) luaL_argerror(L, idx, e.msg);
    return d;
}

lua_Integer nst_lua_check_range(lua_State *L, int idx, lua_Integer lo, lua_Integer hi) {
    int isnum;
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (!isnum) {
        if (lua_type(L, idx) == LUA_TNUMBER)
            luaL_argerror(L, idx, lua_pushfstring(L, "expected an integer, got %f", lua_tonumber(L, idx)));
        luaL_argerror(L, idx, lua_pushfstring(L, "expected an integer, got %s", luaL_typename(L, idx)));
    }
    if (v < lo || v > hi)
        luaL_argerror(L, idx, lua_pushfstring(L, "expected a value in [%I, %I], got %I", lo, hi, v));
    return v;
}

// Files written in parallel may not be there yet; weak references let the module load
// without them.
void nst_lua_open_image(lua_State *L) __attribute__((weak));
void nst_lua_open_safetensors(lua_State *L) __attribute__((weak));
void nst_lua_open_vgg(lua_State *L) __attribute__((weak));
void nst_lua_open_cuda(lua_State *L);

static int l_backends(lua_State *L) {
    lua_newtable(L);
    lua_pushstring(L, "cpu");
    lua_rawseti(L, -2, 1);
#ifdef NST_WITH_CUDA
    lua_pushstring(L, "cuda");
    lua_rawseti(L, -2, 2);
#endif
    return 1;
}

int luaopen_nst_core(lua_State *L) {
    lua_newtable(L);
    nst_lua_open_tensor(L);
    nst_lua_open_ops(L);
    if (nst_lua_open_image) nst_lua_open_image(L);
    if (nst_lua_open_safetensors) nst_lua_open_safetensors(L);
    if (nst_lua_open_vgg) nst_lua_open_vgg(L);
    nst_lua_open_cuda(L);
    nst_lua_open_video(L);
    lua_pushcfunction(L, l_backends);
    lua_setfield(L, -2, "backends");
    return 1;
}
