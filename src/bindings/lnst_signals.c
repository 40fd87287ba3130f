// Ctrl-C handling for long runs in Lua (see core/signals.h): core.signals_install(),
// core.signals_pending() -> "SIGINT" | "SIGTERM" | nil, core.signals_clear(),
// core.signals_restore(). lua/nst/transfer.lua polls them between iterations.
#include <signal.h>

#include "bindings/lnst.h"
#include "core/signals.h"

static int l_signals_install(lua_State *L) {
    nst_err e;
    nst_lua_check(L, nst_signals_install(&e), &e);
    return 0;
}

static int l_signals_restore(lua_State *L) {
    nst_signals_restore();
    return 0;
}

static int l_signals_pending(lua_State *L) {
    int sig = nst_signals_pending();
    if (!sig) lua_pushnil(L);
    else lua_pushstring(L, sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal");
    return 1;
}

static int l_signals_clear(lua_State *L) {
    nst_signals_clear();
    return 0;
}

const luaL_Reg nst_lua_signals_fns[] = {{"signals_install", l_signals_install},
                                        {"signals_restore", l_signals_restore},
                                        {"signals_pending", l_signals_pending},
                                        {"signals_clear", l_signals_clear},
                                        {NULL, NULL}};
