// safetensors files in Lua: nst.safetensors.load / header / save (see io/safetensors.h).
#include <stdlib.h>
#include <string.h>

#include "bindings/lnst.h"
#include "io/safetensors.h"

#define FILE_MT "nst.SafetensorsFile"

// An open nst_st_file owned by a userdata, so that a Lua error halfway through a load
// still closes the file (at collection, or at once when done).
typedef struct lfile {
    nst_st_file *f;
} lfile;

static int file_gc(lua_State *L) {
    lfile *b = luaL_checkudata(L, 1, FILE_MT);
    nst_st_close(b->f);
    b->f = NULL;
    return 0;
}

// Pushes the box and opens path into it, or raises the error.
static lfile *open_boxed(lua_State *L, const char *path) {
    lfile *b = nst_lua_new_box(L, sizeof *b, FILE_MT);
    nst_err e;
    b->f = nst_st_open(path, &e);
    if (!b->f) nst_lua_error(L, NULL, &e);
    return b;
}

// The string value of option field (on the stack top) of fn, else an error naming it.
static const char *opt_string(lua_State *L, const char *fn, const char *field) {
    if (lua_type(L, -1) != LUA_TSTRING)
        luaL_error(L, "%s: opts.%s must be a string, got %s", fn, field, luaL_typename(L, -1));
    return lua_tostring(L, -1);
}

// Pushes a Lua table {d1, d2, ...}.
static void push_shape(lua_State *L, const nst_st_entry *en) {
    lua_createtable(L, en->ndim, 0);
    for (int i = 0; i < en->ndim; i++) {
        lua_pushinteger(L, (lua_Integer)en->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

static void push_metadata(lua_State *L, const nst_st_file *f) {
    lua_createtable(L, 0, (int)f->nmeta);
    for (size_t i = 0; i < f->nmeta; i++) {
        lua_pushstring(L, f->meta[i].value);
        lua_setfield(L, -2, f->meta[i].key);
    }
}

// Pushes a new tensor on dev holding en's data.
static void push_loaded(lua_State *L, const nst_st_file *f, const nst_st_entry *en,
                        nst_device dev) {
    nst_err e;
    if (dev == NST_CPU) {
        nst_tensor *t = nst_st_read(f, en, &e);
        if (!t) nst_lua_error(L, NULL, &e);
        nst_lua_push_tensor(L, t);
        return;
    }
    nst_ltensor *lt = nst_lua_push_box(L);
    lt->t = nst_tensor_new(dev, en->ndim, en->shape, &e);
    if (!lt->t) luaL_error(L, "%s: tensor '%s': %s", f->path, en->name, e.msg);
    if (nst_st_read_into(f, en, lt->t, &e)) nst_lua_error(L, NULL, &e);
}

// load(path [, {names = {...}, device = "cpu"}]) -> tensors, metadata
static int l_load(lua_State *L) {
    static const char *const allowed[] = {"names", "device", NULL};
    const char *path = luaL_checkstring(L, 1);
    nst_lua_check_options(L, 2, allowed);
    nst_device dev = NST_CPU;
    int names = 0; // stack index of opts.names, or 0
    if (lua_istable(L, 2)) {
        lua_settop(L, 2);
        if (lua_getfield(L, 2, "device") != LUA_TNIL) {
            nst_err e;
            if (nst_device_parse(opt_string(L, "safetensors.load", "device"), &dev, &e))
                luaL_error(L, "safetensors.load: opts.device: %s", e.msg);
        }
        if (lua_getfield(L, 2, "names") != LUA_TNIL) {
            if (!lua_istable(L, -1))
                luaL_error(L,
                           "safetensors.load: opts.names must be a list of tensor names, "
                           "got %s",
                           luaL_typename(L, -1));
            names = lua_gettop(L);
        }
    }
    lfile *b = open_boxed(L, path);
    const nst_st_file *f = b->f;
    lua_newtable(L);
    int out = lua_gettop(L);
    if (names) {
        lua_Integer n = luaL_len(L, names);
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_geti(L, names, i) != LUA_TSTRING)
                luaL_error(L, "safetensors.load: opts.names[%I] must be a string, got %s", i,
                           luaL_typename(L, -1));
            const char *name = lua_tostring(L, -1);
            const nst_st_entry *en = nst_st_find(f, name);
            if (!en) luaL_error(L, "no tensor '%s' in file %s", name, f->path);
            push_loaded(L, f, en, dev);
            lua_setfield(L, out, en->name);
            lua_pop(L, 1);
        }
    } else {
        for (size_t i = 0; i < f->ntensors; i++) {
            push_loaded(L, f, &f->tensors[i], dev);
            lua_setfield(L, out, f->tensors[i].name);
        }
    }
    push_metadata(L, f);
    nst_st_close(b->f); // now rather than at collection
    b->f = NULL;
    return 2;
}

// header(path) -> {tensors = {name = {dtype=, shape=, offsets=}}, metadata = {...}}
static int l_header(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lfile *b = open_boxed(L, path);
    const nst_st_file *f = b->f;
    lua_createtable(L, 0, 2);
    lua_createtable(L, 0, (int)f->ntensors);
    for (size_t i = 0; i < f->ntensors; i++) {
        const nst_st_entry *en = &f->tensors[i];
        lua_createtable(L, 0, 3);
        nst_lua_field_str(L, "dtype", nst_st_dtype_name(en->dtype));
        push_shape(L, en);
        lua_setfield(L, -2, "shape");
        lua_createtable(L, 2, 0);
        lua_pushinteger(L, (lua_Integer)en->begin);
        lua_rawseti(L, -2, 1);
        lua_pushinteger(L, (lua_Integer)en->end);
        lua_rawseti(L, -2, 2);
        lua_setfield(L, -2, "offsets");
        lua_setfield(L, -2, en->name);
    }
    lua_setfield(L, -2, "tensors");
    push_metadata(L, f);
    lua_setfield(L, -2, "metadata");
    nst_st_close(b->f);
    b->f = NULL;
    return 1;
}

typedef struct named {
    const char *name;
    const void *ptr; // nst_tensor * or the metadata value string
} named;

static int cmp_named(const void *a, const void *b) {
    return strcmp(((const named *)a)->name, ((const named *)b)->name);
}

// Collects the string-keyed table at idx into a scratch userdata (pushed), sorted by
// key so the file does not depend on table order. Values: tensors (want_tensor) or
// strings. The pointers stay valid while the table is on the stack.
static named *collect(lua_State *L, int idx, int want_tensor, size_t *count) {
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        n++;
        lua_pop(L, 1);
    }
    named *items = lua_newuserdatauv(L, (n ? n : 1) * sizeof *items, 0);
    const char *what = want_tensor ? "tensors" : "metadata";
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "safetensors.save: %s keys must be strings, got %s", what,
                       luaL_typename(L, -2));
        const char *key = lua_tostring(L, -2);
        items[i].name = key;
        if (want_tensor) {
            nst_ltensor *lt = luaL_testudata(L, -1, NST_TENSOR_MT);
            if (!lt)
                luaL_error(L, "safetensors.save: tensors['%s'] must be an nst.Tensor, got %s", key,
                           luaL_typename(L, -1));
            if (!lt->t) luaL_error(L, "safetensors.save: tensors['%s'] is closed", key);
            items[i].ptr = lt->t;
        } else {
            if (lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "safetensors.save: metadata['%s'] must be a string, got %s", key,
                           luaL_typename(L, -1));
            items[i].ptr = lua_tostring(L, -1);
        }
        i++;
        lua_pop(L, 1);
    }
    qsort(items, n, sizeof *items, cmp_named);
    *count = n;
    return items;
}

// save(path, tensors [, metadata] [, {dtype = "F32" | "F16" | "BF16"}])
static int l_save(lua_State *L) {
    static const char *const allowed[] = {"dtype", NULL};
    const char *path = luaL_checkstring(L, 1);
    if (!lua_istable(L, 2))
        luaL_argerror(L, 2,
                      lua_pushfstring(L, "expected a table of name -> nst.Tensor, got %s",
                                      luaL_typename(L, 2)));
    if (!lua_isnoneornil(L, 3) && !lua_istable(L, 3))
        luaL_argerror(L, 3,
                      lua_pushfstring(L,
                                      "expected a metadata table (string -> string), "
                                      "got %s",
                                      luaL_typename(L, 3)));
    nst_lua_check_options(L, 4, allowed);
    lua_settop(L, 4);
    nst_st_dtype dtype = NST_ST_F32;
    if (lua_istable(L, 4) && lua_getfield(L, 4, "dtype") != LUA_TNIL) {
        nst_err e;
        if (nst_st_dtype_parse(opt_string(L, "safetensors.save", "dtype"), &dtype, &e))
            luaL_error(L, "safetensors.save: opts.dtype: %s", e.msg);
    }
    size_t n, nmeta = 0;
    named *ts = collect(L, 2, 1, &n);
    named *ms = lua_istable(L, 3) ? collect(L, 3, 0, &nmeta) : NULL;
    // parallel arrays for the core, in scratch userdata freed by the collector
    const char **names = lua_newuserdatauv(L, (n ? n : 1) * sizeof *names, 0);
    const nst_tensor **tensors = lua_newuserdatauv(L, (n ? n : 1) * sizeof *tensors, 0);
    const char **keys = lua_newuserdatauv(L, (nmeta ? nmeta : 1) * sizeof *keys, 0);
    const char **values = lua_newuserdatauv(L, (nmeta ? nmeta : 1) * sizeof *values, 0);
    for (size_t i = 0; i < n; i++) {
        names[i] = ts[i].name;
        tensors[i] = ts[i].ptr;
    }
    for (size_t i = 0; i < nmeta; i++) {
        keys[i] = ms[i].name;
        values[i] = ms[i].ptr;
    }
    nst_err e;
    if (nst_st_save(path, n, names, tensors, nmeta, keys, values, dtype, &e))
        nst_lua_error(L, "safetensors.save", &e);
    return 0;
}

static const luaL_Reg funcs[] = {
    {"load", l_load}, {"header", l_header}, {"save", l_save}, {NULL, NULL}};

void nst_lua_open_safetensors(lua_State *L) {
    nst_lua_new_class(L, FILE_MT, file_gc, NULL, NULL);
    luaL_newlib(L, funcs);
    lua_setfield(L, -2, "safetensors");
}
