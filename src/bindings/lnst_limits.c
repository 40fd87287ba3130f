// nst.limits() and nst.set_limits{max_tensor_bytes =, max_image_pixels =}: the bounds
// on sizes that come from outside (core/limits.c), checked before anything is allocated.
#include "bindings/lnst.h"

static int l_limits(lua_State *L) {
    lua_createtable(L, 0, 2);
    nst_lua_field_int(L, "max_tensor_bytes", (lua_Integer)nst_max_tensor_bytes);
    nst_lua_field_int(L, "max_image_pixels", (lua_Integer)nst_max_image_pixels);
    return 1;
}

static int l_set_limits(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    if (lua_getfield(L, 1, "max_tensor_bytes") != LUA_TNIL)
        nst_max_tensor_bytes =
            (size_t)nst_lua_check_integer(L, -1, 1, "max_tensor_bytes", 4, INT64_MAX);
    if (lua_getfield(L, 1, "max_image_pixels") != LUA_TNIL)
        nst_max_image_pixels =
            (size_t)nst_lua_check_integer(L, -1, 1, "max_image_pixels", 1, INT64_MAX);
    lua_settop(L, 0);
    return l_limits(L);
}

const luaL_Reg nst_lua_limits_fns[] = {
    {"limits", l_limits}, {"set_limits", l_set_limits}, {NULL, NULL}};
