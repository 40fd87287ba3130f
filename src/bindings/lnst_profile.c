// Time in Lua: nst.clock() (monotonic seconds) and the timing marks of core/profile.h:
// nst.profile_start([capacity]), nst.profile_mark(label [, device]),
// nst.profile_stop() -> {{label =, device =, ms =}, ...; dropped = n}.
#include <limits.h>
#include <stdlib.h>
#include <time.h>

#include "bindings/lnst.h"
#include "core/profile.h"

// Monotonic wall-clock seconds (os.clock() counts CPU time of all threads).
static int l_clock(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

static int l_profile_start(lua_State *L) {
    nst_err e;
    lua_Integer cap = luaL_optinteger(L, 1, 100000);
    luaL_argcheck(L, cap >= 1 && cap <= 1000000, 1, "capacity must be 1..1000000");
    nst_lua_check(L, nst_profile_start((size_t)cap, &e), &e);
    return 0;
}

static int l_profile_mark(lua_State *L) {
    nst_err e;
    const char *label = luaL_checkstring(L, 1);
    nst_device d = nst_lua_opt_device(L, 2, NST_CPU);
    nst_lua_check(L, nst_profile_mark(d, label, NULL, &e), &e);
    return 0;
}

// Waits for the devices (the events' times are read).
static int l_profile_stop(lua_State *L) {
    nst_err e;
    nst_profile_entry *m;
    size_t n, dropped;
    nst_lua_check(L, nst_profile_stop(&m, &n, &dropped, &e), &e);
    lua_createtable(L, n > INT_MAX ? INT_MAX : (int)n, 1);
    for (size_t i = 0; i < n && i < INT_MAX; i++) {
        lua_createtable(L, 0, 3);
        nst_lua_field_str(L, "label", m[i].label);
        nst_lua_field_str(L, "device", nst_device_name(m[i].device));
        nst_lua_field_num(L, "ms", m[i].ms);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    free(m);
    nst_lua_field_int(L, "dropped", (lua_Integer)dropped);
    return 1;
}

const luaL_Reg nst_lua_profile_fns[] = {{"clock", l_clock},
                                        {"profile_start", l_profile_start},
                                        {"profile_mark", l_profile_mark},
                                        {"profile_stop", l_profile_stop},
                                        {NULL, NULL}};
