// core.write_atomic(path, string) (also nst.write_atomic): the atomic writer of
// io/atomic_file.h for Lua, so the Lua side writes its files (CSV, SVG, optimizer
// state) by the same rule as images and safetensors. Errors: "write_atomic: <path>:
// <reason>".
#include "bindings/lnst.h"
#include "io/atomic_file.h"

static int l_write_atomic(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    nst_err e;
    if (nst_write_atomic(path, data, len, &e)) return nst_lua_error(L, "write_atomic", &e);
    return 0;
}

const luaL_Reg nst_lua_file_fns[] = {{"write_atomic", l_write_atomic}, {NULL, NULL}};
