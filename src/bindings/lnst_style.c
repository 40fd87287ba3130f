// The style losses' operations in Lua (core/ops_style.h): moments, moments_backward,
// sym_sqrt, erode3x3. nst.loss composes the losses from them.
#include "bindings/lnst.h"
#include "core/ops.h"
#include "core/ops_style.h"

// The channels of features f, or an argument error.
static int channels_of(lua_State *L, const nst_tensor *f) {
    int nd, batch, c;
    int64_t shape[NST_MAX_DIMS], m;
    nst_err e;
    if ((f->ndim == 4 && f->shape[0] != 1) || f->ndim < 2 ||
        nst_gram_shape(f, &nd, shape, &batch, &c, &m, &e))
        luaL_argerror(L, 1, "expected features (1,C,H,W), (C,H,W) or (C,M)");
    return c;
}

// core.moments(f [, r [, center]]) -> cov (C,C), fc (like f), mu (C) or nil: the
// normalized Gram matrix (center false) or the covariance and mean (center true) of f's
// positions weighted by r^2 (r nil: all 1/M).
static int l_moments(lua_State *L) {
    nst_tensor *f = nst_lua_check_tensor(L, 1), *r = nst_lua_opt_tensor(L, 2);
    int center = lua_toboolean(L, 3);
    int64_t c = channels_of(L, f), cc[2] = {c, c};
    nst_tensor *cov = nst_lua_new_tensor(L, nst_dev(f), 2, cc);
    nst_tensor *fc = nst_lua_new_like(L, f);
    nst_tensor *mu = center ? nst_lua_new_tensor(L, nst_dev(f), 1, &c) : NULL;
    if (!center) lua_pushnil(L);
    nst_err e;
    nst_lua_check(L, nst_moments(mu, cov, fc, f, r, &e), &e);
    return 3;
}

// core.moments_backward(fc, r, dcov [, dmu]) -> the gradient w.r.t. f (like fc)
static int l_moments_backward(lua_State *L) {
    nst_tensor *fc = nst_lua_check_tensor(L, 1), *r = nst_lua_opt_tensor(L, 2);
    nst_tensor *dcov = nst_lua_check_tensor(L, 3), *dmu = nst_lua_opt_tensor(L, 4);
    channels_of(L, fc);
    nst_tensor *grad = nst_lua_new_like(L, fc);
    nst_err e;
    nst_lua_check(L, nst_moments_backward(grad, fc, r, dcov, dmu, &e), &e);
    return 1;
}

// The boolean option key of the table at idx (absent: false).
static int opt_flag(lua_State *L, int idx, const char *key) {
    if (lua_isnoneornil(L, idx)) return 0;
    lua_getfield(L, idx, key);
    int v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

// core.sym_sqrt(x [, {root = true, inverse = false, trace = false, floor = 0}])
// -> root, inverse root, trace (nil for those not asked for)
static int l_sym_sqrt(lua_State *L) {
    static const char *const keys[] = {"root", "inverse", "trace", "floor", NULL};
    nst_tensor *x = nst_lua_check_tensor(L, 1);
    nst_lua_check_options(L, 2, keys);
    if (x->ndim != 2 || x->shape[0] != x->shape[1])
        return luaL_argerror(L, 1, "expected a square matrix (n,n)");
    int want_root = 1, want_inv = opt_flag(L, 2, "inverse"), want_tr = opt_flag(L, 2, "trace");
    float floor = 0;
    if (!lua_isnoneornil(L, 2)) {
        lua_getfield(L, 2, "root");
        if (!lua_isnil(L, -1)) want_root = lua_toboolean(L, -1);
        lua_getfield(L, 2, "floor");
        if (!lua_isnil(L, -1)) {
            if (!lua_isnumber(L, -1)) return luaL_argerror(L, 2, "floor must be a number");
            floor = (float)lua_tonumber(L, -1);
        }
        lua_pop(L, 2);
    }
    nst_tensor *root = NULL, *inv = NULL, *tr = NULL;
    if (want_root) root = nst_lua_new_like(L, x);
    else lua_pushnil(L);
    if (want_inv) inv = nst_lua_new_like(L, x);
    else lua_pushnil(L);
    if (want_tr) tr = nst_lua_new_scalar(L, x);
    else lua_pushnil(L);
    nst_err e;
    nst_lua_check(L, nst_sym_sqrt(root, inv, tr, x, floor, &e), &e);
    return 3;
}

static int l_erode3x3(lua_State *L) { // core.erode3x3(x (N,C,H,W)) -> each plane eroded
    nst_tensor *x = nst_lua_check_tensor(L, 1);
    if (x->ndim != 4) return luaL_argerror(L, 1, "expected a 4-D tensor (N,C,H,W)");
    nst_tensor *out = nst_lua_new_like(L, x);
    nst_err e;
    nst_lua_check(L, nst_erode3x3(out, x, &e), &e);
    return 1;
}

const luaL_Reg nst_lua_style_fns[] = {{"moments", l_moments},
                                      {"moments_backward", l_moments_backward},
                                      {"sym_sqrt", l_sym_sqrt},
                                      {"erode3x3", l_erode3x3},
                                      {NULL, NULL}};
