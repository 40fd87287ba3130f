// The Lua module nst.core: luaopen_nst_core assembles the module table from the
// binding files (lnst.h lists what each adds).
#include "bindings/lnst.h"

int luaopen_nst_core(lua_State *L) {
    static const luaL_Reg *const lists[] = {nst_lua_device_fns,
                                            nst_lua_limits_fns,
                                            nst_lua_profile_fns,
                                            nst_lua_signals_fns,
                                            nst_lua_file_fns,
                                            nst_lua_style_fns,
                                            NULL};
    lua_newtable(L);
    nst_lua_open_tensor(L); // first: lnst_math.c adds to the Tensor type
    nst_lua_open_math(L);
    nst_lua_open_nn(L);
    nst_lua_open_cuda(L);
    nst_lua_open_image(L);
    nst_lua_open_safetensors(L);
    nst_lua_open_vgg(L);
    nst_lua_open_video(L);
    for (const luaL_Reg *const *l = lists; *l; l++) luaL_setfuncs(L, *l, 0);
    return 1;
}
