// Tensors in Lua (see lnst.h): the box (userdata) that owns one tensor, how bindings
// get a tensor argument, and when to collect garbage.
#include "bindings/lnst.h"

int nst_lua_is_tensor(lua_State *L, int idx) {
    return luaL_testudata(L, idx, NST_TENSOR_MT) != NULL;
}

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
    return nst_lua_new_box(L, sizeof(nst_ltensor), NST_TENSOR_MT);
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

nst_tensor *nst_lua_new_like(lua_State *L, const nst_tensor *t) {
    return nst_lua_new_tensor(L, nst_dev(t), t->ndim, t->shape);
}

int nst_lua_map_new(lua_State *L, const nst_tensor *x, nst_map_fn *op) {
    nst_tensor *y = nst_lua_new_like(L, x);
    nst_err e;
    nst_lua_check(L, op(y, x, &e), &e);
    return 1;
}

nst_tensor *nst_lua_new_scalar(lua_State *L, const nst_tensor *like) {
    int64_t one = 1;
    return nst_lua_new_tensor(L, nst_dev(like), 1, &one);
}

int nst_lua_tensor_close(lua_State *L) {
    nst_ltensor *lt = luaL_checkudata(L, 1, NST_TENSOR_MT);
    nst_tensor_free(lt->t);
    lt->t = NULL; // a second close is harmless
    return 0;
}
