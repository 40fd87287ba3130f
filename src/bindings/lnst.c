// The Lua module nst.core: luaopen_nst_core assembles the module table from the
// binding files (lnst.h lists what each registers).
#include "bindings/lnst.h"

int luaopen_nst_core(lua_State *L) {
    lua_newtable(L);
    nst_lua_open_tensor(L); // first: the others add to the Tensor type
    nst_lua_open_math(L);
    nst_lua_open_nn(L);
    nst_lua_open_device(L);
    nst_lua_open_cuda(L);
    nst_lua_open_limits(L);
    nst_lua_open_profile(L);
    nst_lua_open_signals(L);
    nst_lua_open_file(L);
    nst_lua_open_image(L);
    nst_lua_open_safetensors(L);
    nst_lua_open_vgg(L);
    return 1;
}
