// The style losses' operations in Lua (core/ops_style.h): moments, moments_backward,
// sym_sqrt, w2_map, erode3x3. nst.loss composes the losses from them.
#include "bindings/lnst.h"
#include "core/ops.h"
#include "core/ops_style.h"

// The channels of features f, or an argument error.
static int channels_of(lua_State *L, const nst_tensor *f) {
    int nd, batch, c = 0;
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

static float check_floor(lua_State *L, int idx) {
    float floor = (float)luaL_optnumber(L, idx, 0.0);
    if (!(floor >= 0)) luaL_argerror(L, idx, "floor must be a number >= 0");
    return floor;
}

// core.sym_sqrt(x [, floor]) -> X^(1/2) of a symmetric x (n,n), eigenvalues raised to floor
static int l_sym_sqrt(lua_State *L) {
    nst_tensor *x = nst_lua_check_tensor(L, 1);
    float floor = check_floor(L, 2);
    if (x->ndim != 2 || x->shape[0] != x->shape[1])
        return luaL_argerror(L, 1, "expected a square matrix (n,n)");
    nst_tensor *root = nst_lua_new_like(L, x);
    nst_err e;
    nst_lua_check(L, nst_sym_sqrt(root, x, floor, &e), &e);
    return 1;
}

// core.w2_map(s, x, floor) -> s (s x s)^(-1/2) s, tr (s x s)^(1/2)
static int l_w2_map(lua_State *L) {
    nst_tensor *s = nst_lua_check_tensor(L, 1), *x = nst_lua_check_tensor(L, 2);
    float floor = (float)luaL_checknumber(L, 3);
    if (x->ndim != 2 || x->shape[0] != x->shape[1])
        return luaL_argerror(L, 2, "expected a square matrix (n,n)");
    nst_tensor *map = nst_lua_new_like(L, x), *tr = nst_lua_new_scalar(L, x);
    nst_err e;
    nst_lua_check(L, nst_w2_map(map, tr, s, x, floor, &e), &e);
    return 2;
}

static int l_erode3x3(lua_State *L) { // core.erode3x3(x (N,C,H,W)) -> each plane eroded
    nst_tensor *x = nst_lua_check_tensor(L, 1);
    if (x->ndim != 4) return luaL_argerror(L, 1, "expected a 4-D tensor (N,C,H,W)");
    return nst_lua_map_new(L, x, nst_erode3x3);
}

const luaL_Reg nst_lua_style_fns[] = {
    {"moments", l_moments},   {"moments_backward", l_moments_backward},
    {"sym_sqrt", l_sym_sqrt}, {"w2_map", l_w2_map},
    {"erode3x3", l_erode3x3}, {NULL, NULL}};
