// Lua bindings of tensor arithmetic and of the network and loss operations.
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bindings/lnst.h"
#include "cpu/cpu.h"
#include "core/ops.h"
#include "core/profile.h"
#include "core/signals.h"

static void check(lua_State *L, int rc, const nst_err *e) {
    if (rc) nst_lua_error(L, NULL, e);
}

static nst_tensor *new_like(lua_State *L, const nst_tensor *t) {
    return nst_lua_new_tensor(L, nst_dev(t), t->ndim, t->shape);
}

static nst_tensor *new_scalar(lua_State *L, const nst_tensor *like) {
    int64_t one = 1;
    return nst_lua_new_tensor(L, nst_dev(like), 1, &one);
}

static void check_arg_type(lua_State *L, int idx) {
    if (!nst_lua_is_tensor(L, idx) && lua_type(L, idx) != LUA_TNUMBER)
        luaL_argerror(L, idx, lua_pushfstring(L, "expected nst.Tensor or number, got %s", luaL_typename(L, idx)));
}

// a op b where either side may be a number (metamethods may get the number first).
static int binop(lua_State *L, nst_binop op, int inplace) {
    check_arg_type(L, 1);
    check_arg_type(L, 2);
    nst_err e;
    int ta = nst_lua_is_tensor(L, 1), tb = nst_lua_is_tensor(L, 2);
    if (ta && tb) {
        nst_tensor *a = nst_lua_check_tensor(L, 1), *b = nst_lua_check_tensor(L, 2);
        if (inplace) {
            if (b->numel > a->numel) return luaL_error(L, "in-place op: operand larger than the tensor");
            check(L, nst_binary(a, a, b, op, &e), &e);
            lua_settop(L, 1);
        } else {
            nst_tensor *out = new_like(L, a->numel >= b->numel ? a : b);
            check(L, nst_binary(out, a, b, op, &e), &e);
        }
        return 1;
    }
    if (!ta && !tb) return luaL_error(L, "expected at least one nst.Tensor operand");
    int ti = ta ? 1 : 2;
    nst_tensor *t = nst_lua_check_tensor(L, ti);
    float s = (float)lua_tonumber(L, ta ? 2 : 1);
    nst_tensor *out = inplace ? t : new_like(L, t);
    check(L, nst_binary_scalar(out, t, s, !ta, op, &e), &e);
    if (inplace) lua_settop(L, 1);
    return 1;
}
static int l_add(lua_State *L) { return binop(L, NST_ADD, 0); }
static int l_sub(lua_State *L) { return binop(L, NST_SUB, 0); }
static int l_mul(lua_State *L) { return binop(L, NST_MUL, 0); }
static int l_div(lua_State *L) { return binop(L, NST_DIV, 0); }
static int l_maximum(lua_State *L) { return binop(L, NST_MAXIMUM, 0); }
static int l_minimum(lua_State *L) { return binop(L, NST_MINIMUM, 0); }
static int l_sub_(lua_State *L) { return binop(L, NST_SUB, 1); }
static int l_mul_(lua_State *L) { return binop(L, NST_MUL, 1); }
static int l_div_(lua_State *L) { return binop(L, NST_DIV, 1); }

// t:add_(x [, alpha]): t += alpha * x (x a tensor of t's shape or a number)
static int l_add_(lua_State *L) {
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    if (nst_lua_is_tensor(L, 2) && !lua_isnoneornil(L, 3)) {
        nst_tensor *x = nst_lua_check_tensor(L, 2);
        nst_err e;
        check(L, nst_axpy(t, x, (float)luaL_checknumber(L, 3), &e), &e);
        lua_settop(L, 1);
        return 1;
    }
    return binop(L, NST_ADD, 1);
}

static int unop(lua_State *L, nst_unop op) {
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    nst_tensor *out = new_like(L, t);
    nst_err e;
    check(L, nst_unary(out, t, op, &e), &e);
    return 1;
}
static int l_neg(lua_State *L) { return unop(L, NST_NEG); }
static int l_abs(lua_State *L) { return unop(L, NST_ABS); }
static int l_sqrt(lua_State *L) { return unop(L, NST_SQRT); }
static int l_exp(lua_State *L) { return unop(L, NST_EXP); }
static int l_log(lua_State *L) { return unop(L, NST_LOG); }
static int l_square(lua_State *L) { return unop(L, NST_SQUARE); }
static int l_sign(lua_State *L) { return unop(L, NST_SIGN); }

static int clamp(lua_State *L, int inplace) {
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    float lo = lua_isnoneornil(L, 2) ? -INFINITY : (float)luaL_checknumber(L, 2);
    float hi = lua_isnoneornil(L, 3) ? INFINITY : (float)luaL_checknumber(L, 3);
    nst_tensor *out = inplace ? t : new_like(L, t);
    nst_err e;
    check(L, nst_clamp(out, t, lo, hi, &e), &e);
    if (inplace) lua_settop(L, 1);
    return 1;
}
static int l_clamp(lua_State *L) { return clamp(L, 0); }
static int l_clamp_(lua_State *L) { return clamp(L, 1); }

// Reductions return one-element tensors on the tensor's device (no synchronization).
static int reduce(lua_State *L, nst_reduce op, int mean) {
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    nst_tensor *out = new_scalar(L, t);
    nst_err e;
    check(L, nst_reduction(out, t, op, &e), &e);
    if (mean) check(L, nst_binary_scalar(out, out, (float)(1.0 / (double)t->numel), 0, NST_MUL, &e), &e);
    return 1;
}
static int l_sum(lua_State *L) { return reduce(L, NST_SUM, 0); }
static int l_mean(lua_State *L) { return reduce(L, NST_SUM, 1); }
static int l_sumsq(lua_State *L) { return reduce(L, NST_SUMSQ, 0); }
static int l_min(lua_State *L) { return reduce(L, NST_MIN, 0); }
static int l_max(lua_State *L) { return reduce(L, NST_MAX, 0); }

static int l_norm(lua_State *L) {
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    nst_tensor *out = new_scalar(L, t);
    nst_err e;
    check(L, nst_reduction(out, t, NST_SUMSQ, &e), &e);
    check(L, nst_unary(out, out, NST_SQRT, &e), &e);
    return 1;
}

static int l_dot(lua_State *L) {
    nst_tensor *a = nst_lua_check_tensor(L, 1), *b = nst_lua_check_tensor(L, 2);
    nst_tensor *out = new_scalar(L, a);
    nst_err e;
    check(L, nst_dot(out, a, b, &e), &e);
    return 1;
}

// ---- network operations -----------------------------------------------------

static int l_matmul(lua_State *L) { // nst.matmul(a, b [, trans_a, trans_b])
    nst_tensor *a = nst_lua_check_tensor(L, 1), *b = nst_lua_check_tensor(L, 2);
    int ta = lua_toboolean(L, 3), tb = lua_toboolean(L, 4);
    if (a->ndim != 2 || b->ndim != 2) return luaL_error(L, "matmul: expected 2-D tensors");
    int64_t shape[2] = {ta ? a->shape[1] : a->shape[0], tb ? b->shape[0] : b->shape[1]};
    nst_tensor *out = nst_lua_new_tensor(L, nst_dev(a), 2, shape);
    nst_err e;
    check(L, nst_matmul(out, a, b, ta, tb, &e), &e);
    return 1;
}

static int l_gram(lua_State *L) { // nst.gram(f [, scale]) -> F F^T per batch item
    nst_tensor *f = nst_lua_check_tensor(L, 1);
    float scale = (float)luaL_optnumber(L, 2, 1.0);
    int nd, batch, c;
    int64_t shape[NST_MAX_DIMS], m;
    nst_err e;
    check(L, nst_gram_shape(f, &nd, shape, &batch, &c, &m, &e), &e);
    nst_tensor *out = nst_lua_new_tensor(L, nst_dev(f), nd, shape);
    check(L, nst_gram(out, f, scale, &e), &e);
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
    check(L, nst_conv3x3(y, x, w, b, relu, &e), &e);
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
    check(L, nst_conv3x3_bwd_data(dx, dy, relu_y, w, &e), &e);
    return 1;
}

static int l_relu(lua_State *L) {
    nst_tensor *x = nst_lua_check_tensor(L, 1);
    nst_tensor *y = new_like(L, x);
    nst_err e;
    check(L, nst_relu(y, x, &e), &e);
    return 1;
}

static int l_relu_backward(lua_State *L) { // nst.relu_backward(dy, y)
    nst_tensor *dy = nst_lua_check_tensor(L, 1), *y = nst_lua_check_tensor(L, 2);
    nst_tensor *dx = new_like(L, dy);
    nst_err e;
    check(L, nst_relu_bwd(dx, dy, y, &e), &e);
    return 1;
}

static nst_pool check_pool_mode(lua_State *L, int idx) {
    static const char *const modes[] = {"max", "avg", NULL};
    return luaL_checkoption(L, idx, "max", modes) == 0 ? NST_POOL_MAX : NST_POOL_AVG;
}

static int l_pool(lua_State *L) { // nst.pool(x [, "max"|"avg"])
    nst_tensor *x = nst_lua_check_tensor(L, 1);
    nst_pool mode = check_pool_mode(L, 2);
    if (x->ndim != 4) return luaL_argerror(L, 1, "expected a 4-D tensor (N,C,H,W)");
    if (x->shape[2] < 2 || x->shape[3] < 2) return luaL_argerror(L, 1, "spatial size below 2x2");
    int64_t shape[4] = {x->shape[0], x->shape[1], x->shape[2] / 2, x->shape[3] / 2};
    nst_tensor *y = nst_lua_new_tensor(L, nst_dev(x), 4, shape);
    nst_err e;
    check(L, nst_pool2d(y, x, mode, &e), &e);
    return 1;
}

static int l_pool_backward(lua_State *L) { // nst.pool_backward(dy, x [, mode])
    nst_tensor *dy = nst_lua_check_tensor(L, 1), *x = nst_lua_check_tensor(L, 2);
    nst_pool mode = check_pool_mode(L, 3);
    nst_tensor *dx = new_like(L, x);
    nst_err e;
    check(L, nst_pool2d_bwd(dx, dy, x, mode, &e), &e);
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
        if (p[i] != 1 && p[i] != 2 && p[i] != 3) return luaL_argerror(L, 2, "perm entries are 1, 2 or 3");
        perm[i] = (int)p[i] - 1;
    }
    nst_tensor *out = new_like(L, x);
    nst_err e;
    check(L, nst_channel_affine(out, x, perm, scale, shift, &e), &e);
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
    int t = steps ? 0 : (int)nst_lua_check_range(L, 9, 1, INT32_MAX);
    if (!(b1 >= 0 && b1 < 1)) return luaL_argerror(L, 6, "beta1 must be in [0, 1)");
    if (!(b2 >= 0 && b2 < 1)) return luaL_argerror(L, 7, "beta2 must be in [0, 1)");
    if (!(eps >= 0)) return luaL_argerror(L, 8, "eps must be >= 0");
    nst_err e;
    if (steps) check(L, nst_adam_counted(x, g, m, v, steps, lr, b1, b2, eps, &e), &e);
    else check(L, nst_adam(x, g, m, v, lr, b1, b2, eps, t, &e), &e);
    return 0;
}

// Losses return (loss, grad): loss a one-element tensor on the input's device.
static int l_mse_loss(lua_State *L) { // core.mse_loss(f, p [, scale])
    nst_tensor *f = nst_lua_check_tensor(L, 1), *p = nst_lua_check_tensor(L, 2);
    float scale = (float)luaL_optnumber(L, 3, 1.0);
    nst_tensor *loss = new_scalar(L, f);
    nst_tensor *grad = new_like(L, f);
    nst_err e;
    check(L, nst_mse_loss(loss, grad, f, p, scale, &e), &e);
    return 2;
}

static int l_style_loss(lua_State *L) { // core.style_loss(f, A [, scale])
    nst_tensor *f = nst_lua_check_tensor(L, 1), *a = nst_lua_check_tensor(L, 2);
    float scale = (float)luaL_optnumber(L, 3, 1.0);
    nst_tensor *loss = new_scalar(L, f);
    nst_tensor *grad = new_like(L, f);
    nst_err e;
    check(L, nst_style_loss(loss, grad, f, a, scale, &e), &e);
    return 2;
}

static int l_tv_loss(lua_State *L) { // core.tv_loss(x [, "squared"|"l1" [, scale]])
    nst_tensor *x = nst_lua_check_tensor(L, 1);
    static const char *const kinds[] = {"squared", "l1", NULL};
    int l1 = luaL_checkoption(L, 2, "squared", kinds);
    float scale = (float)luaL_optnumber(L, 3, 1.0);
    nst_tensor *loss = new_scalar(L, x);
    nst_tensor *grad = new_like(L, x);
    nst_err e;
    check(L, nst_tv_loss(loss, grad, x, l1, scale, &e), &e);
    return 2;
}

// nst.set_limits{max_tensor_bytes = , max_image_pixels = }; nst.limits()
static int l_limits(lua_State *L) {
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)nst_max_tensor_bytes);
    lua_setfield(L, -2, "max_tensor_bytes");
    lua_pushinteger(L, (lua_Integer)nst_max_image_pixels);
    lua_setfield(L, -2, "max_image_pixels");
    return 1;
}

static int l_set_limits(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "max_tensor_bytes");
    if (!lua_isnil(L, -1)) nst_max_tensor_bytes = (size_t)nst_lua_check_range(L, -1, 4, INT64_MAX);
    lua_getfield(L, 1, "max_image_pixels");
    if (!lua_isnil(L, -1)) nst_max_image_pixels = (size_t)nst_lua_check_range(L, -1, 1, INT64_MAX);
    lua_settop(L, 0);
    return l_limits(L);
}

// Monotonic wall-clock seconds (os.clock() counts CPU time of all threads).
static int l_clock(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

// nst.cpu_set_chain(on): a testing aid; the CPU VGG runs through the channels-last chain
// code path (src/cpu_chain.c) the CUDA backend uses, so that path is tested without a GPU.
static int l_cpu_set_chain(lua_State *L) {
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    nst_cpu_chain_enable(lua_toboolean(L, 1));
    return 0;
}

// Timing marks (profile.h): nst.profile_start([capacity]), nst.profile_mark(label
// [, device]), nst.profile_stop() -> {{label =, device =, ms =}, ...; dropped = n}.
static int l_profile_start(lua_State *L) {
    nst_err e;
    lua_Integer cap = luaL_optinteger(L, 1, 100000);
    luaL_argcheck(L, cap >= 1 && cap <= 1000000, 1, "capacity must be 1..1000000");
    if (nst_profile_start((size_t)cap, &e)) return nst_lua_error(L, NULL, &e);
    return 0;
}
static int l_profile_mark(lua_State *L) {
    nst_err e;
    const char *label = luaL_checkstring(L, 1);
    nst_device d = nst_lua_opt_device(L, 2, NST_CPU);
    if (nst_profile_mark(d, label, NULL, &e)) return nst_lua_error(L, NULL, &e);
    return 0;
}
static int l_profile_stop(lua_State *L) {
    nst_err e;
    nst_profile_entry *m;
    size_t n, dropped;
    if (nst_profile_stop(&m, &n, &dropped, &e)) return nst_lua_error(L, NULL, &e);
    lua_createtable(L, n > INT_MAX ? INT_MAX : (int)n, 1);
    for (size_t i = 0; i < n && i < INT_MAX; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, m[i].label);
        lua_setfield(L, -2, "label");
        lua_pushstring(L, nst_device_name(m[i].device));
        lua_setfield(L, -2, "device");
        lua_pushnumber(L, m[i].ms);
        lua_setfield(L, -2, "ms");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    free(m);
    lua_pushinteger(L, (lua_Integer)dropped);
    lua_setfield(L, -2, "dropped");
    return 1;
}

// Ctrl-C handling for long runs (see signals.h): install, poll, clear, restore.
static int l_signals_install(lua_State *L) {
    nst_err e;
    check(L, nst_signals_install(&e), &e);
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

static int l_sync(lua_State *L) {
    nst_err e;
    check(L, nst_sync(nst_lua_opt_device(L, 1, NST_CPU), &e), &e);
    return 0;
}

static const luaL_Reg methods[] = {
    {"add", l_add}, {"sub", l_sub}, {"mul", l_mul}, {"div", l_div}, {"maximum", l_maximum},
    {"minimum", l_minimum}, {"add_", l_add_}, {"sub_", l_sub_}, {"mul_", l_mul_}, {"div_", l_div_},
    {"neg", l_neg}, {"abs", l_abs}, {"sqrt", l_sqrt}, {"exp", l_exp}, {"log", l_log},
    {"square", l_square}, {"sign", l_sign}, {"clamp", l_clamp}, {"clamp_", l_clamp_}, {"sum", l_sum},
    {"mean", l_mean}, {"sumsq", l_sumsq}, {"min", l_min}, {"max", l_max}, {"norm", l_norm},
    {"dot", l_dot}, {NULL, NULL}};

static const luaL_Reg metamethods[] = {{"__add", l_add}, {"__sub", l_sub}, {"__mul", l_mul},
                                       {"__div", l_div}, {"__unm", l_neg}, {NULL, NULL}};

static const luaL_Reg module_fns[] = {
    {"matmul", l_matmul}, {"gram", l_gram}, {"conv3x3", l_conv3x3},
    {"conv3x3_backward", l_conv3x3_backward}, {"relu", l_relu}, {"relu_backward", l_relu_backward},
    {"pool", l_pool}, {"pool_backward", l_pool_backward}, {"channel_affine", l_channel_affine},
    {"adam_step", l_adam_step}, {"mse_loss", l_mse_loss}, {"style_loss", l_style_loss},
    {"tv_loss", l_tv_loss}, {"limits", l_limits}, {"set_limits", l_set_limits}, {"sync", l_sync}, {"clock", l_clock},
    {"profile_start", l_profile_start}, {"profile_mark", l_profile_mark},
    {"profile_stop", l_profile_stop}, {"cpu_set_chain", l_cpu_set_chain},
    {"signals_install", l_signals_install}, {"signals_restore", l_signals_restore},
    {"signals_pending", l_signals_pending}, {"signals_clear", l_signals_clear},
    {"dot", l_dot}, {"maximum", l_maximum}, {"minimum", l_minimum}, {NULL, NULL}};

// Called with the tensor metatable at -2 and its methods table at -1.
void nst_lua_register_tensor_ops(lua_State *L) {
    luaL_setfuncs(L, methods, 0);
    lua_pushvalue(L, -2);
    luaL_setfuncs(L, metamethods, 0);
    lua_pop(L, 1);
}

void nst_lua_open_ops(lua_State *L) { luaL_setfuncs(L, module_fns, 0); }
