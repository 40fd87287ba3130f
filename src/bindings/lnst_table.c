// Result tables: one call sets one field of the table on the stack top (the tables that
// nst.limits, nst.image.info, vgg:layers, nst.cuda_conv_plans, ... return).
#include "bindings/lnst.h"

void nst_lua_field_int(lua_State *L, const char *key, lua_Integer v) {
    lua_pushinteger(L, v);
    lua_setfield(L, -2, key);
}

void nst_lua_field_num(lua_State *L, const char *key, lua_Number v) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, key);
}

void nst_lua_field_str(lua_State *L, const char *key, const char *v) {
    lua_pushstring(L, v);
    lua_setfield(L, -2, key);
}
