// The VGG feature extractor in Lua (the raw network; lua/nst/vgg.lua adds weight lookup
// and preprocessing). Every forward and backward is told the device's settings.
#include <string.h>

#include "bindings/lnst.h"
#include "core/settings.h"
#include "model/vgg.h"

#define NST_VGG_MT "nst.VGGCore"

typedef struct nst_lvgg {
    nst_vgg *v;
} nst_lvgg;

static nst_vgg *check_vgg(lua_State *L, int idx) {
    nst_lvgg *lv = luaL_checkudata(L, idx, NST_VGG_MT);
    if (!lv->v) luaL_argerror(L, idx, "network is closed");
    return lv->v;
}

// core.vgg_new(arch, weights_path, pooling, device)
static int l_vgg_new(lua_State *L) {
    const char *arch = luaL_checkstring(L, 1);
    const char *path = luaL_checkstring(L, 2);
    nst_pool pool = nst_lua_opt_pool(L, 3);
    nst_device dev = nst_lua_opt_device(L, 4, NST_CPU);
    nst_lvgg *lv = nst_lua_new_box(L, sizeof *lv, NST_VGG_MT);
    nst_err e;
    lv->v = nst_vgg_new(arch, pool, dev, &e);
    if (!lv->v || nst_vgg_load(lv->v, path, &e)) return nst_lua_error(L, NULL, &e);
    return 1;
}

static int layer_index(lua_State *L, nst_vgg *v, int idx) {
    const char *name = luaL_checkstring(L, idx);
    int i = nst_vgg_find(v, name);
    if (i < 0) luaL_error(L, "unknown layer '%s' for %s (see vgg:layers())", name, v->arch);
    return i;
}

// v:forward(x, {"relu1_1", ...}) -> {relu1_1 = tensor, ...}
static int l_forward(lua_State *L) {
    nst_vgg *v = check_vgg(L, 1);
    nst_tensor *x = nst_lua_check_tensor(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    int n = (int)luaL_len(L, 3);
    if (n < 1 || n > NST_VGG_MAX_LAYERS)
        return luaL_argerror(L, 3, "expected a list of layer names");
    int taps[NST_VGG_MAX_LAYERS];
    nst_tensor *outs[NST_VGG_MAX_LAYERS];
    for (int i = 0; i < n; i++) {
        lua_geti(L, 3, i + 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_argerror(L, 3, "layer names must be strings");
        taps[i] = layer_index(L, v, -1);
        lua_pop(L, 1);
    }
    // Boxes first, so the tensors have an owner before anything can raise.
    lua_createtable(L, 0, n);
    int res = lua_gettop(L);
    nst_ltensor *boxes[NST_VGG_MAX_LAYERS];
    for (int i = 0; i < n; i++) {
        boxes[i] = nst_lua_push_box(L);
        lua_setfield(L, res, v->layer[taps[i]].name);
    }
    nst_err e;
    if (nst_vgg_forward(v, nst_settings_get(v->device), x, n, taps, outs, &e))
        return nst_lua_error(L, "forward", &e);
    for (int i = 0; i < n; i++) {
        if (boxes[i]->t) nst_tensor_free(outs[i]); // a name listed twice
        else boxes[i]->t = outs[i];
    }
    lua_settop(L, res);
    return 1;
}

// v:backward({relu4_3 = grad, ...}) -> gradient w.r.t. the last forward's input
static int l_backward(lua_State *L) {
    nst_vgg *v = check_vgg(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int layers[NST_VGG_MAX_LAYERS], n = 0;
    const nst_tensor *grads[NST_VGG_MAX_LAYERS];
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        if (lua_type(L, -2) != LUA_TSTRING) return luaL_argerror(L, 2, "keys must be layer names");
        if (n == NST_VGG_MAX_LAYERS) return luaL_argerror(L, 2, "too many gradients");
        int i = layer_index(L, v, -2);
        if (!nst_lua_is_tensor(L, -1))
            return luaL_error(L, "backward: gradient for %s is a %s, expected nst.Tensor",
                              v->layer[i].name, luaL_typename(L, -1));
        grads[n] = nst_lua_check_tensor(L, -1); // anchored by the table
        layers[n++] = i;
        lua_pop(L, 1);
    }
    nst_ltensor *box = nst_lua_push_box(L);
    nst_err e;
    box->t = nst_vgg_backward(v, nst_settings_get(v->device), n, layers, grads, &e);
    if (!box->t) return nst_lua_error(L, NULL, &e);
    return 1;
}

static const char *kind_name(nst_vgg_kind k) {
    return k == NST_VGG_CONV ? "conv" : k == NST_VGG_RELU ? "relu" : "pool";
}

// v:layers() -> list of {name, kind, in_channels, out_channels, index, available, shape}
static int l_layers(lua_State *L) {
    nst_vgg *v = check_vgg(L, 1);
    lua_createtable(L, v->n, 0);
    for (int i = 0; i < v->n; i++) {
        const nst_vgg_layer *l = &v->layer[i];
        lua_createtable(L, 0, 7);
        nst_lua_field_str(L, "name", l->name);
        nst_lua_field_str(L, "kind", kind_name(l->kind));
        nst_lua_field_int(L, "in_channels", l->in_c);
        nst_lua_field_int(L, "out_channels", l->out_c);
        nst_lua_field_int(L, "index", l->index);
        lua_pushboolean(L, i < v->usable);
        lua_setfield(L, -2, "available");
        if (i < v->depth) { // output shape seen by the last forward
            lua_createtable(L, 4, 0);
            for (int d = 0; d < 4; d++) {
                lua_pushinteger(L, v->out_shape[i][d]);
                lua_rawseti(L, -2, d + 1);
            }
            lua_setfield(L, -2, "shape");
        }
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_info(lua_State *L) {
    nst_vgg *v = check_vgg(L, 1);
    lua_createtable(L, 0, 3);
    nst_lua_field_str(L, "arch", v->arch);
    nst_lua_field_str(L, "pooling", v->pool == NST_POOL_MAX ? "max" : "avg");
    nst_lua_field_str(L, "device", nst_device_name(v->device));
    return 1;
}

static int l_close(lua_State *L) {
    nst_lvgg *lv = luaL_checkudata(L, 1, NST_VGG_MT);
    nst_vgg_free(lv->v);
    lv->v = NULL;
    return 0;
}

static const luaL_Reg vgg_methods[] = {{"forward", l_forward}, {"backward", l_backward},
                                       {"layers", l_layers},   {"info", l_info},
                                       {"close", l_close},     {NULL, NULL}};

void nst_lua_open_vgg(lua_State *L) {
    nst_lua_new_class(L, NST_VGG_MT, l_close, vgg_methods, NULL);
    lua_pushcfunction(L, l_vgg_new);
    lua_setfield(L, -2, "vgg_new");
}
