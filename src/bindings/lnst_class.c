// Userdata types, the liolib way (see lnst.h): one metatable per type, named
// "nst.<Type>", with __index, __gc and __close; boxes made empty with their metatable
// set before anything they will own is allocated.
#include <string.h>

#include "bindings/lnst.h"

void nst_lua_new_class(lua_State *L, const char *name, lua_CFunction close, const luaL_Reg *methods,
                       const luaL_Reg *metamethods) {
    luaL_newmetatable(L, name); // also sets __name
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, close);
    lua_setfield(L, -2, "__close");
    lua_newtable(L);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    nst_lua_class_add(L, name, methods, metamethods);
}

void nst_lua_class_add(lua_State *L, const char *name, const luaL_Reg *methods,
                       const luaL_Reg *metamethods) {
    luaL_getmetatable(L, name);
    if (metamethods) luaL_setfuncs(L, metamethods, 0);
    lua_getfield(L, -1, "__index");
    if (methods) luaL_setfuncs(L, methods, 0);
    lua_pop(L, 2);
}

void *nst_lua_new_box(lua_State *L, size_t size, const char *name) {
    void *box = lua_newuserdatauv(L, size, 0);
    memset(box, 0, size);
    luaL_setmetatable(L, name);
    return box;
}
