// Tensor arithmetic in Lua: + - * / and unary -, the named elementwise methods, clamp,
// reductions and dot. Each family is one C function; the op it applies is its upvalue
// (the tables at the end say which name gets which op).
#include <math.h>

#include "bindings/lnst.h"
#include "core/ops.h"

#define OP(L) ((int)lua_tointeger(L, lua_upvalueindex(1)))

static void check_arg_type(lua_State *L, int idx) {
    if (!nst_lua_is_tensor(L, idx) && lua_type(L, idx) != LUA_TNUMBER)
        luaL_argerror(
            L, idx,
            lua_pushfstring(L, "expected nst.Tensor or number, got %s", luaL_typename(L, idx)));
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
            if (b->numel > a->numel)
                return luaL_error(L, "in-place op: operand larger than the tensor");
            nst_lua_check(L, nst_binary(a, a, b, op, &e), &e);
            lua_settop(L, 1);
        } else {
            nst_tensor *out = nst_lua_new_like(L, a->numel >= b->numel ? a : b);
            nst_lua_check(L, nst_binary(out, a, b, op, &e), &e);
        }
        return 1;
    }
    if (!ta && !tb) return luaL_error(L, "expected at least one nst.Tensor operand");
    int ti = ta ? 1 : 2;
    nst_tensor *t = nst_lua_check_tensor(L, ti);
    float s = (float)lua_tonumber(L, ta ? 2 : 1);
    nst_tensor *out = inplace ? t : nst_lua_new_like(L, t);
    nst_lua_check(L, nst_binary_scalar(out, t, s, !ta, op, &e), &e);
    if (inplace) lua_settop(L, 1);
    return 1;
}
static int l_binop(lua_State *L) { return binop(L, (nst_binop)OP(L), 0); }
static int l_binop_(lua_State *L) { return binop(L, (nst_binop)OP(L), 1); }

// t:add_(x [, alpha]): t += alpha * x (x a tensor of t's shape or a number)
static int l_add_(lua_State *L) {
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    if (nst_lua_is_tensor(L, 2) && !lua_isnoneornil(L, 3)) {
        nst_tensor *x = nst_lua_check_tensor(L, 2);
        nst_err e;
        nst_lua_check(L, nst_axpy(t, x, (float)luaL_checknumber(L, 3), &e), &e);
        lua_settop(L, 1);
        return 1;
    }
    return binop(L, NST_ADD, 1);
}

static int l_unop(lua_State *L) {
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    nst_tensor *out = nst_lua_new_like(L, t);
    nst_err e;
    nst_lua_check(L, nst_unary(out, t, (nst_unop)OP(L), &e), &e);
    return 1;
}

// t:clamp([lo [, hi]]), t:clamp_(...) (upvalue: in place)
static int l_clamp(lua_State *L) {
    int inplace = OP(L);
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    float lo = lua_isnoneornil(L, 2) ? -INFINITY : (float)luaL_checknumber(L, 2);
    float hi = lua_isnoneornil(L, 3) ? INFINITY : (float)luaL_checknumber(L, 3);
    nst_tensor *out = inplace ? t : nst_lua_new_like(L, t);
    nst_err e;
    nst_lua_check(L, nst_clamp(out, t, lo, hi, &e), &e);
    if (inplace) lua_settop(L, 1);
    return 1;
}

// Reductions return one-element tensors on the tensor's device (no synchronization).
// Upvalue: an nst_reduce, or MEAN (a sum, then / n) or NORM (a sum of squares, then sqrt).
enum { MEAN = NST_MAX + 1, NORM };

static int l_reduce(lua_State *L) {
    int op = OP(L);
    nst_tensor *t = nst_lua_check_tensor(L, 1);
    nst_tensor *out = nst_lua_new_scalar(L, t);
    nst_reduce r = op == MEAN ? NST_SUM : op == NORM ? NST_SUMSQ : (nst_reduce)op;
    nst_err e;
    int rc = nst_reduction(out, t, r, &e);
    if (!rc && op == MEAN)
        rc = nst_binary_scalar(out, out, (float)(1.0 / (double)t->numel), 0, NST_MUL, &e);
    if (!rc && op == NORM) rc = nst_unary(out, out, NST_SQRT, &e);
    nst_lua_check(L, rc, &e);
    return 1;
}

static int l_dot(lua_State *L) {
    nst_tensor *a = nst_lua_check_tensor(L, 1), *b = nst_lua_check_tensor(L, 2);
    nst_tensor *out = nst_lua_new_scalar(L, a);
    nst_err e;
    nst_lua_check(L, nst_dot(out, a, b, &e), &e);
    return 1;
}

typedef struct op_fn {
    const char *name;
    lua_CFunction fn;
    int op; // the upvalue
} op_fn;

static const op_fn methods[] = {{"add", l_binop, NST_ADD},
                                {"sub", l_binop, NST_SUB},
                                {"mul", l_binop, NST_MUL},
                                {"div", l_binop, NST_DIV},
                                {"maximum", l_binop, NST_MAXIMUM},
                                {"minimum", l_binop, NST_MINIMUM},
                                {"sub_", l_binop_, NST_SUB},
                                {"mul_", l_binop_, NST_MUL},
                                {"div_", l_binop_, NST_DIV},
                                {"neg", l_unop, NST_NEG},
                                {"abs", l_unop, NST_ABS},
                                {"sqrt", l_unop, NST_SQRT},
                                {"exp", l_unop, NST_EXP},
                                {"log", l_unop, NST_LOG},
                                {"square", l_unop, NST_SQUARE},
                                {"sign", l_unop, NST_SIGN},
                                {"clamp", l_clamp, 0},
                                {"clamp_", l_clamp, 1},
                                {"sum", l_reduce, NST_SUM},
                                {"sumsq", l_reduce, NST_SUMSQ},
                                {"min", l_reduce, NST_MIN},
                                {"max", l_reduce, NST_MAX},
                                {"mean", l_reduce, MEAN},
                                {"norm", l_reduce, NORM},
                                {NULL, NULL, 0}};

static const op_fn metamethods[] = {{"__add", l_binop, NST_ADD}, {"__sub", l_binop, NST_SUB},
                                    {"__mul", l_binop, NST_MUL}, {"__div", l_binop, NST_DIV},
                                    {"__unm", l_unop, NST_NEG},  {NULL, NULL, 0}};

static const op_fn module_fns[] = {
    {"maximum", l_binop, NST_MAXIMUM}, {"minimum", l_binop, NST_MINIMUM}, {NULL, NULL, 0}};

static const luaL_Reg plain_methods[] = {{"add_", l_add_}, {"dot", l_dot}, {NULL, NULL}};

// Sets each fn, with its op as upvalue, into the table at idx.
static void set_op_fns(lua_State *L, int idx, const op_fn *fns) {
    idx = lua_absindex(L, idx);
    for (; fns->name; fns++) {
        lua_pushinteger(L, fns->op);
        lua_pushcclosure(L, fns->fn, 1);
        lua_setfield(L, idx, fns->name);
    }
}

// Called with the module table on top.
void nst_lua_open_math(lua_State *L) {
    nst_lua_class_add(L, NST_TENSOR_MT, plain_methods, NULL);
    luaL_getmetatable(L, NST_TENSOR_MT);
    set_op_fns(L, -1, metamethods);
    lua_getfield(L, -1, "__index");
    set_op_fns(L, -1, methods);
    lua_pop(L, 2);
    set_op_fns(L, -1, module_fns);
    lua_pushcfunction(L, l_dot);
    lua_setfield(L, -2, "dot");
}
