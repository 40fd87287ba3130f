// Lua bindings of the video ops (src/core/video.h): nst.flow, nst.warp,
// nst.flow_consistency, nst.temporal_loss. Arguments and options are checked here.
#include <string.h>

#include "io/flow.h"
#include "bindings/lnst.h"
#include "core/video.h"

// The options table at idx (none or nil: no options); returns 1 if there is one.
static int opt_table(lua_State *L, int idx, const char *const *allowed) {
    if (lua_isnoneornil(L, idx)) return 0;
    nst_lua_check_options(L, idx, allowed);
    return 1;
}

// opts[key] as one of names (index), or def when absent.
static int opt_enum(lua_State *L, int idx, int has, const char *key, const char *const *names,
                    int def) {
    if (!has) return def;
    lua_getfield(L, idx, key);
    int v = lua_isnil(L, -1) ? def : luaL_checkoption(L, -1, NULL, names);
    lua_pop(L, 1);
    return v;
}

static float opt_number(lua_State *L, int idx, int has, const char *key, float def) {
    if (!has) return def;
    lua_getfield(L, idx, key);
    float v = def;
    if (!lua_isnil(L, -1)) {
        int ok;
        v = (float)lua_tonumberx(L, -1, &ok);
        if (!ok || lua_type(L, -1) != LUA_TNUMBER)
            luaL_argerror(
                L, idx,
                lua_pushfstring(L, "%s must be a number, got %s", key, luaL_typename(L, -1)));
    }
    lua_pop(L, 1);
    return v;
}

static nst_tensor *new_flow(lua_State *L, const nst_tensor *frame) {
    int64_t shape[4] = {1, 2, frame->ndim == 4 ? frame->shape[2] : 1,
                        frame->ndim == 4 ? frame->shape[3] : 1};
    return nst_lua_new_tensor(L, nst_dev(frame), 4, shape);
}

// nst.flow(a, b [, {preset = "ultrafast"|"fast"|"medium", backward = false}]) -> flow a->b
// (1,2,H,W) [, flow b->a when backward]. Frames (1,3,H,W) or (1,1,H,W) in [0,1].
static int l_flow(lua_State *L) {
    static const char *const keys[] = {"preset", "backward", NULL};
    static const char *const presets[] = {"ultrafast", "fast", "medium", NULL};
    nst_tensor *a = nst_lua_check_tensor(L, 1), *b = nst_lua_check_tensor(L, 2);
    int has = opt_table(L, 3, keys);
    int preset = opt_enum(L, 3, has, "preset", presets, NST_FLOW_MEDIUM);
    int backward = 0;
    if (has) {
        lua_getfield(L, 3, "backward");
        if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
            luaL_argerror(L, 3, "backward must be a boolean");
        backward = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    nst_tensor *fwd = new_flow(L, a);
    nst_tensor *bwd = backward ? new_flow(L, a) : NULL;
    nst_err e;
    nst_lua_check(L, nst_flow(fwd, bwd, a, b, (nst_flow_preset)preset, &e), &e);
    return backward ? 2 : 1;
}

// nst.warp(img, flow [, {border = "replicate"|"zero"}]) -> img sampled at p + flow(p)
static int l_warp(lua_State *L) {
    static const char *const keys[] = {"border", NULL};
    static const char *const borders[] = {"replicate", "zero", NULL};
    nst_tensor *img = nst_lua_check_tensor(L, 1), *flow = nst_lua_check_tensor(L, 2);
    int has = opt_table(L, 3, keys);
    nst_border border = (nst_border)opt_enum(L, 3, has, "border", borders, NST_BORDER_REPLICATE);
    nst_tensor *out = nst_lua_new_tensor(L, nst_dev(img), img->ndim, img->shape);
    nst_err e;
    nst_lua_check(L, nst_warp(out, img, flow, border, &e), &e);
    return 1;
}

// nst.flow_consistency(fwd, bwd [, thresholds]) -> mask (N,1,H,W) of 0/1 on the frame
// where bwd is defined; thresholds: occlusion_rel, occlusion_abs, boundary_rel,
// boundary_abs (Ruder et al.'s 0.01, 0.5, 0.01, 0.002 by default).
static int l_flow_consistency(lua_State *L) {
    static const char *const keys[] = {"occlusion_rel", "occlusion_abs", "boundary_rel",
                                       "boundary_abs", NULL};
    nst_tensor *fwd = nst_lua_check_tensor(L, 1), *bwd = nst_lua_check_tensor(L, 2);
    int has = opt_table(L, 3, keys);
    nst_consistency p = nst_consistency_defaults;
    p.occ_rel = opt_number(L, 3, has, "occlusion_rel", p.occ_rel);
    p.occ_abs = opt_number(L, 3, has, "occlusion_abs", p.occ_abs);
    p.mb_rel = opt_number(L, 3, has, "boundary_rel", p.mb_rel);
    p.mb_abs = opt_number(L, 3, has, "boundary_abs", p.mb_abs);
    if (fwd->ndim != 4) return luaL_argerror(L, 1, "expected a flow (N,2,H,W)");
    int64_t shape[4] = {fwd->shape[0], 1, fwd->shape[2], fwd->shape[3]};
    nst_tensor *mask = nst_lua_new_tensor(L, nst_dev(fwd), 4, shape);
    nst_err e;
    nst_lua_check(L, nst_flow_consistency(mask, fwd, bwd, &p, &e), &e);
    return 1;
}

// core.temporal_loss(x, w, c|nil [, scale]) -> loss, grad: scale * sum c (x - w)^2 and
// 2 scale c (x - w); nst.loss.temporal picks the scale (normalization).
static int l_temporal_loss(lua_State *L) {
    nst_tensor *x = nst_lua_check_tensor(L, 1), *w = nst_lua_check_tensor(L, 2);
    nst_tensor *c = nst_lua_opt_tensor(L, 3);
    float scale = (float)luaL_optnumber(L, 4, 1.0);
    int64_t one = 1;
    nst_tensor *loss = nst_lua_new_tensor(L, nst_dev(x), 1, &one);
    nst_tensor *grad = nst_lua_new_tensor(L, nst_dev(x), x->ndim, x->shape);
    nst_err e;
    nst_lua_check(L, nst_temporal_loss(loss, grad, x, w, c, scale, &e), &e);
    return 2;
}

static int l_flow_available(lua_State *L) {
    lua_pushboolean(L, nst_flow_available());
    return 1;
}

static const luaL_Reg video_fns[] = {
    {"flow", l_flow},
    {"warp", l_warp},
    {"flow_consistency", l_flow_consistency},
    {"temporal_loss", l_temporal_loss},
    {"flow_available", l_flow_available},
    {NULL, NULL},
};

void nst_lua_open_video(lua_State *L) { luaL_setfuncs(L, video_fns, 0); }
