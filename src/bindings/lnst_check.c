// Errors and argument checks shared by every binding file (see lnst.h).
#include <string.h>

#include "bindings/lnst.h"

int nst_lua_error(lua_State *L, const char *what, const nst_err *e) {
    if (what) return luaL_error(L, "%s: %s", what, e->msg);
    return luaL_error(L, "%s", e->msg);
}

void nst_lua_check(lua_State *L, int rc, const nst_err *e) {
    if (rc) nst_lua_error(L, NULL, e);
}

// What the value at idx is, for a message: the number, or its type name.
static const char *describe(lua_State *L, int idx, int isint, lua_Integer v) {
    if (isint) return lua_pushfstring(L, "%I", v);
    if (lua_type(L, idx) == LUA_TNUMBER) return lua_pushfstring(L, "%f", lua_tonumber(L, idx));
    return luaL_typename(L, idx);
}

lua_Integer nst_lua_check_integer(lua_State *L, int idx, int arg, const char *field, lua_Integer lo,
                                  lua_Integer hi) {
    idx = lua_absindex(L, idx);
    int isint = 0;
    lua_Integer v;
    if (field) { // an option field: numbers only (lua_tointegerx would take "8")
        v = lua_type(L, idx) == LUA_TNUMBER ? lua_tointegerx(L, idx, &isint) : 0;
        if (!isint || v < lo || v > hi)
            luaL_argerror(L, arg,
                          lua_pushfstring(L, "%s must be an integer in [%I, %I], got %s", field, lo,
                                          hi, describe(L, idx, isint, v)));
        return v;
    }
    v = lua_tointegerx(L, idx, &isint);
    if (!isint)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "expected an integer, got %s", describe(L, idx, 0, 0)));
    if (v < lo || v > hi)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "expected a value in [%I, %I], got %I", lo, hi, v));
    return v;
}

void nst_lua_check_options(lua_State *L, int idx, const char *const *allowed) {
    if (lua_isnoneornil(L, idx)) return;
    if (!lua_istable(L, idx))
        luaL_argerror(
            L, idx,
            lua_pushfstring(L, "expected a table of options, got %s", luaL_typename(L, idx)));
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int ok = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (const char *const *a = allowed; *a && !ok; a++)
                ok = !strcmp(lua_tostring(L, -1), *a);
        if (ok) continue;
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (const char *const *a = allowed; *a; a++) {
            if (a != allowed) luaL_addstring(&b, ", ");
            luaL_addstring(&b, *a);
        }
        luaL_pushresult(&b);
        lua_pushvalue(L, -2); // the key
        const char *key = luaL_tolstring(L, -1, NULL);
        luaL_argerror(
            L, idx,
            lua_pushfstring(L, "unknown option '%s' (expected %s)", key, lua_tostring(L, -3)));
    }
}

int nst_lua_check_enum(lua_State *L, int idx, const char *what, const char *const *names) {
    const char *s = luaL_checkstring(L, idx);
    int n = 0;
    for (; names[n]; n++)
        if (!strcmp(names[n], s)) return n;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; i < n; i++) {
        luaL_addstring(&b, i == 0 ? "" : i == n - 1 ? " or " : ", ");
        luaL_addchar(&b, '"');
        luaL_addstring(&b, names[i]);
        luaL_addchar(&b, '"');
    }
    luaL_pushresult(&b);
    return luaL_error(L, "%s: expected %s, got \"%s\"", what, lua_tostring(L, -1), s);
}

nst_device nst_lua_opt_device(lua_State *L, int idx, nst_device def) {
    if (lua_isnoneornil(L, idx)) return def;
    const char *s = luaL_checkstring(L, idx);
    nst_device d;
    nst_err e;
    if (nst_device_parse(s, &d, &e)) luaL_argerror(L, idx, e.msg);
    return d;
}

nst_pool nst_lua_opt_pool(lua_State *L, int idx) {
    static const char *const modes[] = {"max", "avg", NULL};
    return luaL_checkoption(L, idx, "max", modes) == 0 ? NST_POOL_MAX : NST_POOL_AVG;
}
