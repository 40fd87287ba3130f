// Devices and their settings in Lua: nst.backends(), nst.cuda_available(), nst.sync(dev),
// nst.cuda_set_precision / cuda_get_precision, nst.cuda_set_conv_layout /
// cuda_get_conv_layout and nst.cpu_set_chain. The names are parsed here into the enums
// of core/settings.h, which the core hands to the backend.
#include "bindings/lnst.h"
#include "core/settings.h"

// In the order of nst_precision and nst_conv_layout.
const char *const nst_lua_precision_names[] = {"fp32", "tf32", "bf16", NULL};
static const char *const layout_names[] = {"auto", "nchw", "nhwc", "chain", NULL};

static int l_backends(lua_State *L) {
    lua_newtable(L);
    int n = 0;
    for (int d = 0; d < NST_NDEVICES; d++) {
        if (!nst_device_built((nst_device)d)) continue;
        lua_pushstring(L, nst_device_name((nst_device)d));
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

static int l_cuda_available(lua_State *L) {
    lua_pushboolean(L, nst_device_available(NST_CUDA));
    return 1;
}

// Waits for the device's queued work (nst.sync("cuda")).
static int l_sync(lua_State *L) {
    nst_err e;
    nst_lua_check(L, nst_sync(nst_lua_opt_device(L, 1, NST_CPU), &e), &e);
    return 0;
}

static void check_cuda_built(lua_State *L) {
    if (!nst_device_built(NST_CUDA))
        luaL_error(L, "nst was built without CUDA (nvcc not found at build time)");
}

static void set(lua_State *L, nst_device d, const nst_settings *s) {
    nst_err e;
    nst_lua_check(L, nst_settings_set(d, s, &e), &e);
}

// The two CUDA settings by their Lua names: nst.cuda_set_precision("fp32" | "tf32" |
// "bf16"), nst.cuda_set_conv_layout("auto" | "nchw" | "nhwc" | "chain") and their getters.
enum { PRECISION, LAYOUT };
static const struct {
    const char *what; // in messages
    const char *const *names;
} cuda_settings[] = {{"precision", nst_lua_precision_names}, {"conv layout", layout_names}};

static int cuda_set(lua_State *L, int which) {
    check_cuda_built(L);
    nst_settings s = *nst_settings_get(NST_CUDA);
    int v = nst_lua_check_enum(L, 1, cuda_settings[which].what, cuda_settings[which].names);
    if (which == PRECISION) s.precision = (nst_precision)v;
    else s.layout = (nst_conv_layout)v;
    set(L, NST_CUDA, &s);
    return 0;
}

static int cuda_get(lua_State *L, int which) {
    check_cuda_built(L);
    const nst_settings *s = nst_settings_get(NST_CUDA);
    lua_pushstring(
        L, cuda_settings[which].names[which == PRECISION ? (int)s->precision : (int)s->layout]);
    return 1;
}

static int l_cuda_set_precision(lua_State *L) { return cuda_set(L, PRECISION); }
static int l_cuda_get_precision(lua_State *L) { return cuda_get(L, PRECISION); }
static int l_cuda_set_conv_layout(lua_State *L) { return cuda_set(L, LAYOUT); }
static int l_cuda_get_conv_layout(lua_State *L) { return cuda_get(L, LAYOUT); }

// nst.cpu_set_chain(on): a testing aid; the CPU VGG runs through the channels-last chain
// code path (model/vgg_chain.c, src/cpu/cpu_chain.c) the CUDA backend uses, so that path
// is tested without a GPU.
static int l_cpu_set_chain(lua_State *L) {
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    nst_settings s = *nst_settings_get(NST_CPU);
    s.layout = lua_toboolean(L, 1) ? NST_LAYOUT_CHAIN : NST_LAYOUT_NCHW;
    set(L, NST_CPU, &s);
    return 0;
}

const luaL_Reg nst_lua_device_fns[] = {{"backends", l_backends},
                                       {"cuda_available", l_cuda_available},
                                       {"sync", l_sync},
                                       {"cuda_set_precision", l_cuda_set_precision},
                                       {"cuda_get_precision", l_cuda_get_precision},
                                       {"cuda_set_conv_layout", l_cuda_set_conv_layout},
                                       {"cuda_get_conv_layout", l_cuda_get_conv_layout},
                                       {"cpu_set_chain", l_cpu_set_chain},
                                       {NULL, NULL}};
