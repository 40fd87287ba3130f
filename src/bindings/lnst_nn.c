// Network operations and losses in Lua: matmul, gram, conv3x3 and its backward, ReLU,
// pooling, channel_affine, the fused Adam step, and the content, style and TV losses
// (each returning loss, grad). Shapes are checked here for the messages, again by the
// core for safety.
#include "bindings/lnst.h"
#include "core/ops.h"

static int l_matmul(lua_State *L) { // nst.matmul(a, b [, trans_a, trans_b])
    nst_tensor *a = nst_lua_check_tensor(L, 1), *b = nst_lua_check_tensor(L, 2);
    int ta = lua_toboolean(L, 3), tb = lua_toboolean(L, 4);
    if (a->ndim != 2 || b->ndim != 2) return luaL_error(L, "matmul: expected 2-D tensors");
    int64_t shape[2] = {ta ? a->shape[1] : a->shape[0], tb ? b->shape[0] : b->shape[1]};
    nst_tensor *out = nst_lua_new_tensor(L, nst_dev(a), 2, shape);
    nst_err e;
    nst_lua_check(L, nst_matmul(out, a, b, ta, tb, &e), &e);
    return 1;
}

static int l_gram(lua_State *L) { // nst.gram(f [, scale]) -> F F^T per batch item
    nst_tensor *f = nst_lua_check_tensor(L, 1);
    float scale = (float)luaL_optnumber(L, 2, 1.0);
    int nd, batch, c;
    int64_t shape[NST_MAX_DIMS], m;
    nst_err e;
    nst_lua_check(L, nst_gram_shape(f, &nd, shape, &batch, &c, &m, &e), &e);
    nst_tensor *out = nst_lua_new_tensor(L, nst_dev(f), nd, shape);
    nst_lua_check(L, nst_gram(out, f, scale, &e), &e);
    return 1;
}

static int l_conv3x3(lua_State *L) { // nst.conv3x3(x, w [, bias [, relu]])
    nst_tensor *x = nst_lua_check_tensor(L, 1), *w = nst_lua_check_tensor(L, 2);
    nst_tensor *b = nst_lua_opt_tensor(L, 3);
    int relu = lua_toboolean(L, 4);
    if (x->ndim != 4) return luaL_argerror(L, 1, "expected a 4-D tensor (N,C,H,W)");
    if (w->ndim != 4) return luaL_argerror(L, 2, "expected a 4-D weight (K,C,3,3)");
    int64_t shape[4] = {x->shape[0], w->shape[0], x->shape[2], x->shape[3]};
    nst_tensor *y = nst_lua_new_tensor(L, nst_dev(x), 4, shape);
    nst_err e;
    nst_lua_check(L, nst_conv3x3(y, x, w, b, relu, &e), &e);
    return 1;
}

// nst.conv3x3_backward(dy, w [, relu_y]) -> dx; with relu_y (the output of a ReLU after
// the conv) dy is the gradient at that ReLU's output.
static int l_conv3x3_backward(lua_State *L) {
    nst_tensor *dy = nst_lua_check_tensor(L, 1), *w = nst_lua_check_tensor(L, 2);
    nst_tensor *relu_y = nst_lua_opt_tensor(L, 3);
    if (dy->ndim != 4) return luaL_argerror(L, 1, "expected a 4-D gradient (N,K,H,W)");
    if (w->ndim != 4) return luaL_argerror(L, 2, "expected a 4-D weight (K,C,3,3)");
    if (w->shape[0] != dy->shape[1])
        return luaL_error(L, "conv3x3_backward: gradient has %d channels, weight produces %d",
                          (int)dy->shape[1], (int)w->shape[0]);
    int64_t shape[4] = {dy->shape[0], w->shape[1], dy->shape[2], dy->shape[3]};
    nst_tensor *dx = nst_lua_new_tensor(L, nst_dev(dy), 4, shape);
    nst_err e;
    nst_lua_check(L, nst_conv3x3_bwd_data(dx, dy, relu_y, w, &e), &e);
    return 1;
}

static int l_relu(lua_State *L) { return nst_lua_map_new(L, nst_lua_check_tensor(L, 1), nst_relu); }

static int l_relu_backward(lua_State *L) { // nst.relu_backward(dy, y)
    nst_tensor *dy = nst_lua_check_tensor(L, 1), *y = nst_lua_check_tensor(L, 2);
    nst_tensor *dx = nst_lua_new_like(L, dy);
    nst_err e;
    nst_lua_check(L, nst_relu_bwd(dx, dy, y, &e), &e);
    return 1;
}

static int l_pool(lua_State *L) { // nst.pool(x [, "max"|"avg"])
    nst_tensor *x = nst_lua_check_tensor(L, 1);
    nst_pool mode = nst_lua_opt_pool(L, 2);
    if (x->ndim != 4) return luaL_argerror(L, 1, "expected a 4-D tensor (N,C,H,W)");
    if (x->shape[2] < 2 || x->shape[3] < 2) return luaL_argerror(L, 1, "spatial size below 2x2");
    int64_t shape[4] = {x->shape[0], x->shape[1], x->shape[2] / 2, x->shape[3] / 2};
    nst_tensor *y = nst_lua_new_tensor(L, nst_dev(x), 4, shape);
    nst_err e;
    nst_lua_check(L, nst_pool2d(y, x, mode, &e), &e);
    return 1;
}

static int l_pool_backward(lua_State *L) { // nst.pool_backward(dy, x [, mode])
    nst_tensor *dy = nst_lua_check_tensor(L, 1), *x = nst_lua_check_tensor(L, 2);
    nst_pool mode = nst_lua_opt_pool(L, 3);
    nst_tensor *dx = nst_lua_new_like(L, x);
    nst_err e;
    nst_lua_check(L, nst_pool2d_bwd(dx, dy, x, mode, &e), &e);
    return 1;
}

static void read3(lua_State *L, int idx, const char *what, float out[3]) {
    luaL_checktype(L, idx, LUA_TTABLE);
    for (int i = 0; i < 3; i++) {
        lua_geti(L, idx, i + 1);
        int ok;
        out[i] = (float)lua_tonumberx(L, -1, &ok);
        if (!ok) luaL_argerror(L, idx, lua_pushfstring(L, "%s must be a table of 3 numbers", what));
        lua_pop(L, 1);
    }
}

// nst.channel_affine(x, perm, scale, shift): out[:,c] = scale[c] * x[:,perm[c]] + shift[c]
static int l_channel_affine(lua_State *L) {
    nst_tensor *x = nst_lua_check_tensor(L, 1);
    float p[3], scale[3], shift[3];
    read3(L, 2, "perm", p);
    read3(L, 3, "scale", scale);
    read3(L, 4, "shift", shift);
    int perm[3];
    for (int i = 0; i < 3; i++) {
        if (p[i] != 1 && p[i] != 2 && p[i] != 3)
            return luaL_argerror(L, 2, "perm entries are 1, 2 or 3");
        perm[i] = (int)p[i] - 1;
    }
    nst_tensor *out = nst_lua_new_like(L, x);
    nst_err e;
    nst_lua_check(L, nst_channel_affine(out, x, perm, scale, shift, &e), &e);
    return 1;
}

// nst.adam_step(x, g, m, v, lr, beta1, beta2, eps, t): in place on x, m, v. t is the
// 1-based step number, or a one-element tensor on x's device counting the steps taken,
// which the step increments there (no host value changes: graph-safe).
static int l_adam_step(lua_State *L) {
    nst_tensor *x = nst_lua_check_tensor(L, 1), *g = nst_lua_check_tensor(L, 2);
    nst_tensor *m = nst_lua_check_tensor(L, 3), *v = nst_lua_check_tensor(L, 4);
    float lr = (float)luaL_checknumber(L, 5), b1 = (float)luaL_checknumber(L, 6);
    float b2 = (float)luaL_checknumber(L, 7), eps = (float)luaL_checknumber(L, 8);
    nst_tensor *steps = nst_lua_is_tensor(L, 9) ? nst_lua_check_tensor(L, 9) : NULL;
    int t = steps ? 0 : (int)nst_lua_check_integer(L, 9, 9, NULL, 1, INT32_MAX);
    if (!(b1 >= 0 && b1 < 1)) return luaL_argerror(L, 6, "beta1 must be in [0, 1)");
    if (!(b2 >= 0 && b2 < 1)) return luaL_argerror(L, 7, "beta2 must be in [0, 1)");
    if (!(eps >= 0)) return luaL_argerror(L, 8, "eps must be >= 0");
    nst_err e;
    if (steps) nst_lua_check(L, nst_adam_counted(x, g, m, v, steps, lr, b1, b2, eps, &e), &e);
    else nst_lua_check(L, nst_adam(x, g, m, v, lr, b1, b2, eps, t, &e), &e);
    return 0;
}

// Losses return (loss, grad): loss a one-element tensor on the input's device.
// core.mse_loss(f, p [, scale]) and core.style_loss(f, A [, scale]) (style: upvalue 1).
static int l_target_loss(lua_State *L) {
    nst_tensor *f = nst_lua_check_tensor(L, 1), *target = nst_lua_check_tensor(L, 2);
    float scale = (float)luaL_optnumber(L, 3, 1.0);
    nst_tensor *loss = nst_lua_new_scalar(L, f);
    nst_tensor *grad = nst_lua_new_like(L, f);
    nst_err e;
    int rc = lua_toboolean(L, lua_upvalueindex(1))
                 ? nst_style_loss(loss, grad, f, target, scale, &e)
                 : nst_mse_loss(loss, grad, f, target, scale, &e);
    nst_lua_check(L, rc, &e);
    return 2;
}

static int l_tv_loss(lua_State *L) { // core.tv_loss(x [, "squared"|"l1" [, scale]])
    nst_tensor *x = nst_lua_check_tensor(L, 1);
    static const char *const kinds[] = {"squared", "l1", NULL};
    int l1 = luaL_checkoption(L, 2, "squared", kinds);
    float scale = (float)luaL_optnumber(L, 3, 1.0);
    nst_tensor *loss = nst_lua_new_scalar(L, x);
    nst_tensor *grad = nst_lua_new_like(L, x);
    nst_err e;
    nst_lua_check(L, nst_tv_loss(loss, grad, x, l1, scale, &e), &e);
    return 2;
}

static const luaL_Reg nn_fns[] = {{"matmul", l_matmul},
                                  {"gram", l_gram},
                                  {"conv3x3", l_conv3x3},
                                  {"conv3x3_backward", l_conv3x3_backward},
                                  {"relu", l_relu},
                                  {"relu_backward", l_relu_backward},
                                  {"pool", l_pool},
                                  {"pool_backward", l_pool_backward},
                                  {"channel_affine", l_channel_affine},
                                  {"adam_step", l_adam_step},
                                  {"tv_loss", l_tv_loss},
                                  {NULL, NULL}};

void nst_lua_open_nn(lua_State *L) {
    luaL_setfuncs(L, nn_fns, 0);
    lua_pushboolean(L, 0);
    lua_pushcclosure(L, l_target_loss, 1);
    lua_setfield(L, -2, "mse_loss");
    lua_pushboolean(L, 1);
    lua_pushcclosure(L, l_target_loss, 1);
    lua_setfield(L, -2, "style_loss");
}
