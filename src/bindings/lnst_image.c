// Image I/O in Lua: nst.image.load / save / resize / info / original_colors /
// rgb_to_yuv / yuv_to_rgb. Arguments are checked here; the work is in src/io/image*.c.
#include <stdio.h>
#include <string.h>

#include "io/image.h"
#include "bindings/lnst.h"

#define MAX_SIDE 0x7fffffff

static void check_cpu(lua_State *L, int idx, const nst_tensor *t) {
    if (nst_dev(t) != NST_CPU) luaL_argerror(L, idx, "expected a CPU tensor; call :cpu() first");
}

// The (h, w) asked for by a size at idx: a number (the longer side, aspect kept) or
// {h, w}. hin, win: the current size.
static void check_size_arg(lua_State *L, int idx, const char *name, int64_t hin, int64_t win,
                           int64_t *h, int64_t *w) {
    if (lua_type(L, idx) == LUA_TNUMBER) {
        int64_t n = nst_lua_check_integer(L, idx, idx, name, 1, MAX_SIDE);
        // Shorter side rounded, at least 1: 751x563 at 512 -> 512x384.
        if (hin >= win) {
            *h = n;
            *w = (int64_t)((double)win * (double)n / (double)hin + 0.5);
        } else {
            *w = n;
            *h = (int64_t)((double)hin * (double)n / (double)win + 0.5);
        }
        if (*h < 1) *h = 1;
        if (*w < 1) *w = 1;
        return;
    }
    if (lua_type(L, idx) != LUA_TTABLE)
        luaL_argerror(L, idx,
                      lua_pushfstring(L, "%s: expected a number (longer side) or {h, w}, got %s",
                                      name, luaL_typename(L, idx)));
    if (lua_rawlen(L, idx) != 2)
        luaL_argerror(L, idx, lua_pushfstring(L, "%s: expected {h, w}", name));
    char field[64];
    snprintf(field, sizeof field, "%s[1] (height)", name);
    lua_geti(L, idx, 1);
    *h = nst_lua_check_integer(L, -1, idx, field, 1, MAX_SIDE);
    snprintf(field, sizeof field, "%s[2] (width)", name);
    lua_geti(L, idx, 2);
    *w = nst_lua_check_integer(L, -1, idx, field, 1, MAX_SIDE);
    lua_pop(L, 2);
}

// nst.image.load(path [, {size = N | {h, w}}]) -> (1,3,H,W) CPU tensor
static int l_load(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    int has_size = 0;
    if (!lua_isnoneornil(L, 2)) {
        static const char *const allowed[] = {"size", NULL};
        nst_lua_check_options(L, 2, allowed);
        lua_settop(L, 2);
        lua_getfield(L, 2, "size"); // at index 3
        has_size = !lua_isnil(L, 3);
    }
    nst_err e;
    nst_tensor *t = nst_image_load(path, &e);
    if (!t) return nst_lua_error(L, "image.load", &e);
    if (has_size) {
        int64_t h, w;
        // Push first so a bad size (a Lua error) does not leak t.
        nst_lua_push_tensor(L, t);
        check_size_arg(L, 3, "size", t->shape[2], t->shape[3], &h, &w);
        nst_tensor *r = nst_image_resize(t, h, w, &e);
        if (!r) return nst_lua_error(L, "image.load", &e);
        nst_lua_push_tensor(L, r);
        return 1;
    }
    nst_lua_push_tensor(L, t);
    return 1;
}

// nst.image.save(tensor, path [, {quality = 1..100, bits = 8 | 16}])
static int l_save(lua_State *L) {
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    const char *path = luaL_checkstring(L, 2);
    check_cpu(L, 1, t);
    nst_image_save_opts opts = {0, 0};
    if (!lua_isnoneornil(L, 3)) {
        static const char *const allowed[] = {"quality", "bits", NULL};
        nst_lua_check_options(L, 3, allowed);
        lua_settop(L, 3);
        if (lua_getfield(L, 3, "quality") != LUA_TNIL)
            opts.quality = (int)nst_lua_check_integer(L, -1, 3, "quality", 1, 100);
        if (lua_getfield(L, 3, "bits") != LUA_TNIL) {
            opts.bits = (int)nst_lua_check_integer(L, -1, 3, "bits", 8, 16);
            if (opts.bits != 8 && opts.bits != 16) luaL_argerror(L, 3, "bits must be 8 or 16");
        }
    }
    nst_err e;
    if (nst_image_save(t, path, &opts, &e)) return nst_lua_error(L, "image.save", &e);
    return 0;
}

// nst.image.resize(t, size) with size the longer side or {h, w}; t is (..., H, W).
static int l_resize(lua_State *L) {
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    check_cpu(L, 1, t);
    luaL_argcheck(L, t->ndim >= 2, 1, "expected a tensor (..., H, W) with at least 2 dims");
    int64_t h, w;
    check_size_arg(L, 2, "size", t->shape[t->ndim - 2], t->shape[t->ndim - 1], &h, &w);
    nst_err e;
    nst_tensor *r = nst_image_resize(t, h, w, &e);
    if (!r) return nst_lua_error(L, "image.resize", &e);
    nst_lua_push_tensor(L, r);
    return 1;
}

// nst.image.info(path) -> {width, height, channels, bits, format = "png" | "jpeg"}
static int l_info(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    nst_image_info info;
    nst_err e;
    if (nst_image_info_read(path, &info, &e)) return nst_lua_error(L, "image.info", &e);
    lua_createtable(L, 0, 5);
    nst_lua_field_int(L, "width", info.width);
    nst_lua_field_int(L, "height", info.height);
    nst_lua_field_int(L, "channels", info.channels);
    nst_lua_field_int(L, "bits", info.bits);
    nst_lua_field_str(L, "format", info.format == NST_IMAGE_PNG ? "png" : "jpeg");
    return 1;
}

static nst_tensor *check_image(lua_State *L, int idx) {
    nst_tensor *t = nst_lua_check_tensor(L, idx);
    check_cpu(L, idx, t);
    int d = t->ndim - 3;
    if ((t->ndim != 3 && t->ndim != 4) || t->shape[d] != 3) {
        char shape[64];
        nst_shape_str(t, shape, sizeof shape);
        luaL_argerror(
            L, idx, lua_pushfstring(L, "expected an image tensor Nx3xHxW or 3xHxW, got %s", shape));
    }
    return t;
}

// nst.image.original_colors(content, generated): Y of generated, U and V of content.
static int l_original_colors(lua_State *L) {
    nst_tensor *c = check_image(L, 1), *g = check_image(L, 2);
    if (!nst_same_shape(c, g)) {
        char sc[64], sg[64];
        nst_shape_str(c, sc, sizeof sc);
        nst_shape_str(g, sg, sizeof sg);
        return luaL_error(L,
                          "image.original_colors: content %s and generated %s differ in shape "
                          "(resize the content first)",
                          sc, sg);
    }
    nst_tensor *out = nst_lua_new_tensor(L, NST_CPU, c->ndim, c->shape);
    nst_err e;
    if (nst_image_original_colors(out, c, g, &e))
        return nst_lua_error(L, "image.original_colors", &e);
    return 1;
}

static int convert(lua_State *L, int to_yuv) {
    nst_tensor *t = check_image(L, 1);
    nst_tensor *out = nst_lua_new_tensor(L, NST_CPU, t->ndim, t->shape);
    nst_err e;
    int rc = to_yuv ? nst_image_rgb_to_yuv(out, t, &e) : nst_image_yuv_to_rgb(out, t, &e);
    if (rc) return nst_lua_error(L, to_yuv ? "image.rgb_to_yuv" : "image.yuv_to_rgb", &e);
    return 1;
}

static int l_rgb_to_yuv(lua_State *L) { return convert(L, 1); }
static int l_yuv_to_rgb(lua_State *L) { return convert(L, 0); }

static const luaL_Reg image_fns[] = {
    {"load", l_load},
    {"save", l_save},
    {"resize", l_resize},
    {"info", l_info},
    {"original_colors", l_original_colors},
    {"rgb_to_yuv", l_rgb_to_yuv},
    {"yuv_to_rgb", l_yuv_to_rgb},
    {NULL, NULL},
};

void nst_lua_open_image(lua_State *L) {
    luaL_newlib(L, image_fns);
    lua_setfield(L, -2, "image");
}
