// The Tensor type in Lua: constructors, shape and conversion methods, tostring. Its
// arithmetic is lnst_math.c's.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/lnst.h"
#include "core/ops.h"
#include "core/rng.h"

// ---- shapes and options -----------------------------------------------------

// Reads a shape given as integers (f(2, 3)) or as one table (f({2, 3})) starting at
// idx; returns ndim and sets *next to the first argument after the shape.
static int check_shape(lua_State *L, int idx, int64_t shape[NST_MAX_DIMS], int *next) {
    int n = 0;
    if (lua_istable(L, idx)) {
        lua_Integer len = luaL_len(L, idx);
        if (len < 1 || len > NST_MAX_DIMS)
            luaL_argerror(
                L, idx, lua_pushfstring(L, "a shape has 1 to %d sizes, got %I", NST_MAX_DIMS, len));
        for (lua_Integer i = 1; i <= len; i++) {
            lua_geti(L, idx, i);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok) luaL_argerror(L, idx, "shape sizes must be integers");
            shape[n++] = v;
            lua_pop(L, 1);
        }
        *next = idx + 1;
    } else {
        while (lua_type(L, idx + n) == LUA_TNUMBER) {
            if (n == NST_MAX_DIMS) luaL_argerror(L, idx + n, "too many dimensions (at most 4)");
            int ok;
            lua_Integer v = lua_tointegerx(L, idx + n, &ok);
            if (!ok) luaL_argerror(L, idx + n, "size must be an integer");
            shape[n] = v;
            n++;
        }
        if (n == 0)
            luaL_argerror(L, idx,
                          lua_pushfstring(L, "expected sizes (integers or a table), got %s",
                                          luaL_typename(L, idx)));
        *next = idx + n;
    }
    for (int i = 0; i < n; i++)
        if (shape[i] < 1)
            luaL_error(L, "bad shape: size of dimension %d must be a positive integer, got %I",
                       i + 1, (lua_Integer)shape[i]);
    return n;
}

// Device from an options table {device = "cuda"} at idx (may be absent).
static nst_device opts_device(lua_State *L, int idx) {
    if (lua_isnoneornil(L, idx)) return NST_CPU;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "device");
    nst_device d = nst_lua_opt_device(L, -1, NST_CPU);
    lua_pop(L, 1);
    return d;
}

// ---- constructors -----------------------------------------------------------

static int fill_ctor(lua_State *L, int kind) {
    int64_t shape[NST_MAX_DIMS];
    int next, nd = check_shape(L, 1, shape, &next);
    float value = 0;
    if (kind == 2) value = (float)luaL_checknumber(L, next++); // full(shape, v)
    nst_tensor *t = nst_lua_new_tensor(L, opts_device(L, next), nd, shape);
    nst_err e;
    int rc = kind == 3   ? nst_fill_rand(t, 0, 1, &e)
             : kind == 4 ? nst_fill_randn(t, 0, 1, &e)
                         : nst_fill(t, kind == 1 ? 1.0f : value, &e);
    nst_lua_check(L, rc, &e);
    return 1;
}
static int l_zeros(lua_State *L) { return fill_ctor(L, 0); }
static int l_ones(lua_State *L) { return fill_ctor(L, 1); }
static int l_full(lua_State *L) { return fill_ctor(L, 2); }
static int l_rand(lua_State *L) { return fill_ctor(L, 3); }
static int l_randn(lua_State *L) { return fill_ctor(L, 4); }

static int l_manual_seed(lua_State *L) {
    nst_rng_seed((uint64_t)luaL_checkinteger(L, 1));
    return 0;
}

// nst.rng_state() -> {4 hex strings}: the generator's state, for a saved run.
static int l_rng_state(lua_State *L) {
    uint64_t st[4];
    nst_rng_get_state(st);
    lua_createtable(L, 4, 0);
    for (int i = 0; i < 4; i++) {
        char buf[17];
        snprintf(buf, sizeof buf, "%016llx", (unsigned long long)st[i]);
        lua_pushstring(L, buf);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

// nst.set_rng_state(t): t as rng_state returns it.
static int l_set_rng_state(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    uint64_t st[4];
    for (int i = 0; i < 4; i++) {
        lua_rawgeti(L, 1, i + 1);
        const char *h = lua_tostring(L, -1);
        char *end = NULL;
        unsigned long long v = h ? strtoull(h, &end, 16) : 0;
        if (!h || strlen(h) != 16 || *end != '\0')
            return luaL_argerror(L, 1,
                                 "expected 4 strings of 16 hex digits (as rng_state returns)");
        st[i] = (uint64_t)v;
        lua_pop(L, 1);
    }
    if (!(st[0] | st[1] | st[2] | st[3]))
        return luaL_argerror(L, 1, "an all-zero state never changes");
    nst_rng_set_state(st);
    return 0;
}

// Walks a nested table: records the shape on the first path, checks every other path.
static void nested_shape(lua_State *L, int idx, int depth, int64_t shape[NST_MAX_DIMS], int *nd) {
    if (depth < 0 || depth >= NST_MAX_DIMS) {
        luaL_error(L, "nst.tensor: nesting deeper than 4 dimensions");
        return;
    }
    lua_Integer len = luaL_len(L, idx);
    if (len < 1) luaL_error(L, "nst.tensor: empty table at depth %d", depth + 1);
    if (depth >= *nd) {
        *nd = depth + 1;
        shape[depth] = len;
    } else if (shape[depth] != len) {
        luaL_error(L, "nst.tensor: ragged table (size %I at depth %d, expected %I)", len, depth + 1,
                   (lua_Integer)shape[depth]);
    }
    lua_geti(L, idx, 1);
    int sub = lua_istable(L, -1);
    lua_pop(L, 1);
    if (sub) {
        for (lua_Integer i = 1; i <= len; i++) {
            lua_geti(L, idx, i);
            if (!lua_istable(L, -1))
                luaL_error(L, "nst.tensor: mixed numbers and tables at depth %d", depth + 1);
            nested_shape(L, lua_gettop(L), depth + 1, shape, nd);
            lua_pop(L, 1);
        }
    } else if (depth + 1 != *nd) {
        luaL_error(L, "nst.tensor: ragged table (numbers at depth %d)", depth + 1);
    }
}

static void nested_fill(lua_State *L, int idx, int depth, int nd, float *out, size_t *pos) {
    lua_Integer len = luaL_len(L, idx);
    for (lua_Integer i = 1; i <= len; i++) {
        lua_geti(L, idx, i);
        if (depth + 1 < nd) {
            nested_fill(L, lua_gettop(L), depth + 1, nd, out, pos);
        } else {
            int ok;
            lua_Number v = lua_tonumberx(L, -1, &ok);
            if (!ok)
                luaL_error(L, "nst.tensor: element %I at depth %d is a %s, expected a number", i,
                           depth + 1, luaL_typename(L, -1));
            out[(*pos)++] = (float)v;
        }
        lua_pop(L, 1);
    }
}

static int l_tensor(lua_State *L) {
    if (lua_type(L, 1) == LUA_TNUMBER) { // nst.tensor(3.5): a one-element tensor
        int64_t one = 1;
        nst_tensor *t = nst_lua_new_tensor(L, opts_device(L, 2), 1, &one);
        float v = (float)lua_tonumber(L, 1);
        nst_err e;
        nst_lua_check(L, nst_upload(t, &v, &e), &e);
        return 1;
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    int64_t shape[NST_MAX_DIMS];
    int nd = 0;
    nested_shape(L, 1, 0, shape, &nd);
    nst_device dev = opts_device(L, 2);
    nst_tensor *t = nst_lua_new_tensor(L, NST_CPU, nd, shape);
    size_t pos = 0;
    nested_fill(L, 1, 0, nd, nst_data(t), &pos);
    if (dev != NST_CPU) {
        nst_tensor *d = nst_lua_new_tensor(L, dev, nd, shape);
        nst_err e;
        nst_lua_check(L, nst_copy(d, t, &e), &e);
    }
    return 1;
}

// nst.from_bytes(s, shape...): float32 little-endian bytes -> CPU tensor
static int l_from_bytes(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    int64_t shape[NST_MAX_DIMS];
    int next, nd = check_shape(L, 2, shape, &next);
    nst_tensor *t = nst_lua_new_tensor(L, NST_CPU, nd, shape);
    if (len != t->numel * sizeof(float))
        return luaL_error(L, "from_bytes: %d bytes for %d float32 elements (expected %d bytes)",
                          (int)len, (int)t->numel, (int)(t->numel * sizeof(float)));
    memcpy(nst_data(t), s, len);
    return 1;
}

// ---- methods ----------------------------------------------------------------

static int l_shape(lua_State *L) {
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) {
        lua_pushinteger(L, t->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_size(lua_State *L) {
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) return l_shape(L);
    lua_Integer d = nst_lua_check_integer(L, 2, 2, NULL, 1, t->ndim);
    lua_pushinteger(L, t->shape[d - 1]);
    return 1;
}

static int l_dim(lua_State *L) {
    lua_pushinteger(L, nst_lua_check_tensor(L, 1)->ndim);
    return 1;
}

static int l_numel(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)nst_lua_check_tensor(L, 1)->numel);
    return 1;
}

static int l_len(lua_State *L) { // #t: size of the first dimension, like len() in PyTorch
    lua_pushinteger(L, nst_lua_check_tensor(L, 1)->shape[0]);
    return 1;
}

static int l_device(lua_State *L) {
    lua_pushstring(L, nst_device_name(nst_dev(nst_lua_check_tensor(L, 1))));
    return 1;
}

// Copies t to a host buffer: the host waits for the device here (item, totable, bytes,
// tostring).
static float *host_copy(lua_State *L, nst_tensor *t) {
    float *buf = lua_newuserdatauv(L, t->numel * sizeof(float), 0); // collected with the stack
    nst_err e;
    nst_lua_check(L, nst_download(t, buf, &e), &e);
    return buf;
}

static int l_item(lua_State *L) {
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    if (t->numel != 1)
        return luaL_error(L, "item: tensor has %d elements, expected 1", (int)t->numel);
    lua_pushnumber(L, host_copy(L, t)[0]);
    return 1;
}

static void push_nested(lua_State *L, const nst_tensor *t, const float *v, int depth, size_t *pos) {
    if (depth < 0 || depth >= NST_MAX_DIMS) return;
    lua_createtable(L, (int)t->shape[depth], 0);
    for (int64_t i = 0; i < t->shape[depth]; i++) {
        if (depth + 1 < t->ndim) push_nested(L, t, v, depth + 1, pos);
        else lua_pushnumber(L, v[(*pos)++]);
        lua_rawseti(L, -2, i + 1);
    }
}

static int l_totable(lua_State *L) {
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    if (t->numel > ((size_t)1 << 26))
        return luaL_error(L, "totable: tensor too large for a Lua table");
    const float *v = host_copy(L, t);
    size_t pos = 0;
    luaL_checkstack(L, t->ndim + 4, "totable");
    push_nested(L, t, v, 0, &pos);
    return 1;
}

static int l_bytes(lua_State *L) {
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    const float *v = host_copy(L, t);
    lua_pushlstring(L, (const char *)v, t->numel * sizeof(float));
    return 1;
}

static int l_clone(lua_State *L) {
    return nst_lua_map_new(L, nst_lua_check_tensor(L, 1), nst_copy);
}

static int l_copy(lua_State *L) { // dst:copy(src): any devices, equal element counts
    nst_tensor *dst = nst_lua_check_tensor(L, 1), *src = nst_lua_check_tensor(L, 2);
    nst_err e;
    nst_lua_check(L, nst_copy(dst, src, &e), &e);
    lua_settop(L, 1);
    return 1;
}

static int l_fill(lua_State *L) {
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    nst_err e;
    nst_lua_check(L, nst_fill(t, (float)luaL_checknumber(L, 2), &e), &e);
    lua_settop(L, 1);
    return 1;
}

static int l_reshape(lua_State *L) { // one size may be -1 (inferred)
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    int64_t shape[NST_MAX_DIMS];
    int n = 0, infer = -1;
    int tbl = lua_istable(L, 2);
    int count = tbl ? (int)luaL_len(L, 2) : lua_gettop(L) - 1;
    if (count < 1 || count > NST_MAX_DIMS) return luaL_error(L, "reshape: expected 1 to 4 sizes");
    for (int i = 0; i < count; i++) {
        if (tbl) lua_geti(L, 2, i + 1);
        else lua_pushvalue(L, i + 2);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        lua_pop(L, 1);
        if (!ok) return luaL_error(L, "reshape: size %d is not an integer", i + 1);
        if (v == -1 && infer < 0) infer = i, v = 1;
        else if (v < 1)
            return luaL_error(L, "reshape: size %d must be positive (or one -1), got %I", i + 1, v);
        shape[n++] = v;
    }
    if (infer >= 0) {
        size_t rest = 1;
        for (int i = 0; i < n; i++)
            if (nst_mul_size(rest, (size_t)shape[i], &rest))
                return luaL_error(L, "reshape: too large");
        if (t->numel % rest)
            return luaL_error(L, "reshape: %d elements do not divide into the shape",
                              (int)t->numel);
        shape[infer] = (int64_t)(t->numel / rest);
    }
    nst_ltensor *box = nst_lua_push_box(L);
    nst_err e;
    box->t = nst_tensor_view(t, n, shape, &e);
    if (!box->t) return nst_lua_error(L, "reshape", &e);
    return 1;
}

static int l_narrow(lua_State *L) { // t:narrow(1, start, count), start 1-based, first dim only
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    nst_lua_check_integer(L, 2, 2, NULL, 1, 1);
    lua_Integer start = luaL_checkinteger(L, 3), count = luaL_checkinteger(L, 4);
    nst_ltensor *box = nst_lua_push_box(L);
    nst_err e;
    box->t = nst_tensor_narrow0(t, start - 1, count, &e);
    if (!box->t) return nst_lua_error(L, NULL, &e);
    return 1;
}

static int to_device(lua_State *L, nst_device d) {
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    if (nst_dev(t) == d) {
        lua_settop(L, 1);
        return 1;
    }
    nst_tensor *c = nst_lua_new_tensor(L, d, t->ndim, t->shape);
    nst_err e;
    nst_lua_check(L, nst_copy(c, t, &e), &e);
    return 1;
}
static int l_to(lua_State *L) {
    nst_lua_check_tensor(L, 1);
    nst_device d = nst_lua_opt_device(L, 2, NST_CPU);
    luaL_checkstring(L, 2);
    return to_device(L, d);
}
static int l_cpu(lua_State *L) { return to_device(L, NST_CPU); }
static int l_cuda(lua_State *L) { return to_device(L, NST_CUDA); }

static int l_tostring(lua_State *L) {
    nst_ltensor *lt = luaL_checkudata(L, 1, NST_TENSOR_MT);
    if (!lt->t) {
        lua_pushstring(L, "nst.Tensor(closed)");
        return 1;
    }
    nst_tensor *t = lt->t;
    const float *v = host_copy(L, t);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "tensor(");
    // Nested brackets over the last two dims; long dims show 3 head and 3 tail entries.
    int64_t idx[NST_MAX_DIMS] = {0};
    int nd = t->ndim;
    char num[64];
    for (int d = 0; d < nd; d++) luaL_addchar(&b, '[');
    for (size_t i = 0; i < t->numel;) {
        snprintf(num, sizeof num, "%.4g", v[i]);
        luaL_addstring(&b, num);
        // advance the multi-index, skipping the middle of long dimensions
        int d = nd - 1;
        for (; d >= 0; d--) {
            idx[d]++;
            if (t->shape[d] > 6 && idx[d] == 3) {
                idx[d] = t->shape[d] - 3;
                if (d == nd - 1) luaL_addstring(&b, ", ...");
                else {
                    luaL_addstring(&b, ",\n");
                    for (int k = 0; k < 8 + d; k++) luaL_addchar(&b, ' ');
                    luaL_addstring(&b, "...");
                }
            }
            if (idx[d] < t->shape[d]) break;
            idx[d] = 0;
            luaL_addchar(&b, ']');
        }
        if (d < 0) break;
        if (nd - 1 - d > 0) { // a new row: newline, indent under the opening brackets
            luaL_addstring(&b, nd - 2 - d > 0 ? ",\n\n" : ",\n");
            for (int k = 0; k < 8 + d; k++) luaL_addchar(&b, ' ');
        } else {
            luaL_addstring(&b, ", ");
        }
        for (int k = d + 1; k < nd; k++) luaL_addchar(&b, '[');
        i = 0;
        for (int k = 0; k < nd; k++) i = i * (size_t)t->shape[k] + (size_t)idx[k];
    }
    char shape[64];
    nst_shape_str(t, shape, sizeof shape);
    luaL_addstring(&b, ", shape=");
    luaL_addstring(&b, shape);
    if (nst_dev(t) != NST_CPU) {
        luaL_addstring(&b, ", device=");
        luaL_addstring(&b, nst_device_name(nst_dev(t)));
    }
    luaL_addchar(&b, ')');
    luaL_pushresult(&b);
    return 1;
}

static const luaL_Reg tensor_methods[] = {{"shape", l_shape},
                                          {"size", l_size},
                                          {"dim", l_dim},
                                          {"numel", l_numel},
                                          {"device", l_device},
                                          {"item", l_item},
                                          {"totable", l_totable},
                                          {"bytes", l_bytes},
                                          {"clone", l_clone},
                                          {"copy", l_copy},
                                          {"fill", l_fill},
                                          {"reshape", l_reshape},
                                          {"view", l_reshape},
                                          {"narrow", l_narrow},
                                          {"to", l_to},
                                          {"cpu", l_cpu},
                                          {"cuda", l_cuda},
                                          {"close", nst_lua_tensor_close},
                                          {NULL, NULL}};

static const luaL_Reg module_fns[] = {{"zeros", l_zeros},
                                      {"ones", l_ones},
                                      {"full", l_full},
                                      {"rand", l_rand},
                                      {"randn", l_randn},
                                      {"manual_seed", l_manual_seed},
                                      {"rng_state", l_rng_state},
                                      {"set_rng_state", l_set_rng_state},
                                      {"tensor", l_tensor},
                                      {"from_bytes", l_from_bytes},
                                      {NULL, NULL}};

static const luaL_Reg tensor_meta[] = {{"__tostring", l_tostring}, {"__len", l_len}, {NULL, NULL}};

void nst_lua_open_tensor(lua_State *L) {
    nst_lua_new_class(L, NST_TENSOR_MT, nst_lua_tensor_close, tensor_methods, tensor_meta);
    luaL_setfuncs(L, module_fns, 0);
}
