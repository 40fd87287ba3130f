// Shared by the Lua binding files (src/bindings/lnst*.c), the only files that know Lua.
// They check what Lua passes, call the core (or the CUDA control header
// kernels/nst_cuda.h) and turn an nst_err into a Lua error; they never call a backend's
// slots themselves.
#ifndef NST_LNST_H
#define NST_LNST_H

#include <lauxlib.h>
#include <lua.h>

#include "core/backend.h"
#include "core/nst.h"

// ---- lnst_check.c: errors and argument checks ----

// Raises a Lua error with e's message (prefixed by "what: " if what is not NULL).
// Never returns.
int nst_lua_error(lua_State *L, const char *what, const nst_err *e);
// Raises e's message when rc != 0 (a core call failed).
void nst_lua_check(lua_State *L, int rc, const nst_err *e);
// The integer at stack index idx, in [lo, hi], else an argument error for argument arg.
// field NULL (a plain argument): "expected an integer, got 1.5" / "expected a value in
// [lo, hi], got v"; a number-like string counts, as with luaL_checkinteger. field set
// (an entry of an options table): "<field> must be an integer in [lo, hi], got <v>"; a
// number is required.
lua_Integer nst_lua_check_integer(lua_State *L, int idx, int arg, const char *field, lua_Integer lo,
                                  lua_Integer hi);
// An options table at idx: nil/none, or a table whose keys are all in allowed (a NULL
// terminated list); catches typos such as {qualty = 90}: "unknown option 'qualty'
// (expected quality, bits)". Any other value: "expected a table of options, got ...".
void nst_lua_check_options(lua_State *L, int idx, const char *const *allowed);
// The index in names (NULL terminated) of the string at idx, else the error
// `<what>: expected "a", "b" or "c", got "x"`. Parses a setting's name into its enum.
int nst_lua_check_enum(lua_State *L, int idx, const char *what, const char *const *names);
// A device ("cpu", "cuda") at idx, or def when none/nil.
nst_device nst_lua_opt_device(lua_State *L, int idx, nst_device def);
// A pooling mode ("max" default, "avg") at idx.
nst_pool nst_lua_opt_pool(lua_State *L, int idx);

// ---- lnst_class.c: userdata types, the liolib way ----

// Creates the metatable of a userdata type named "nst.<Type>" (the name is also its
// __name, shown in argument errors): __index = a table of methods, __gc = __close =
// close (which must make a second call harmless), and the extra metamethods (may be
// NULL). Leaves the stack as it was.
void nst_lua_new_class(lua_State *L, const char *name, lua_CFunction close, const luaL_Reg *methods,
                       const luaL_Reg *metamethods);
// Adds methods and metamethods (either may be NULL) to a class made by nst_lua_new_class.
void nst_lua_class_add(lua_State *L, const char *name, const luaL_Reg *methods,
                       const luaL_Reg *metamethods);
// Pushes a new zeroed userdata of size bytes with the class's metatable, before the
// caller allocates what it will own: a failure halfway leaves an empty box the
// collector frees (close must accept one).
void *nst_lua_new_box(lua_State *L, size_t size, const char *name);

// ---- lnst_table.c: result tables ----

// t[key] = v for the table on the stack top.
void nst_lua_field_int(lua_State *L, const char *key, lua_Integer v);
void nst_lua_field_num(lua_State *L, const char *key, lua_Number v);
void nst_lua_field_str(lua_State *L, const char *key, const char *v);

// ---- lnst_box.c: tensors in Lua ----

#define NST_TENSOR_MT "nst.Tensor"

// Tensor userdata; t == NULL before it gets a tensor and after close.
typedef struct nst_ltensor {
    nst_tensor *t;
} nst_ltensor;

// The open tensor at idx, or a Lua error naming the argument ("expected nst.Tensor,
// got string" / "tensor is closed").
nst_tensor *nst_lua_check_tensor(lua_State *L, int idx);
nst_tensor *nst_lua_opt_tensor(lua_State *L, int idx); // NULL if none/nil
int nst_lua_is_tensor(lua_State *L, int idx);
// Pushes an empty tensor box; set box->t to give it a tensor.
nst_ltensor *nst_lua_push_box(lua_State *L);
// Pushes t in a new box (takes ownership; frees t if pushing fails).
void nst_lua_push_tensor(lua_State *L, nst_tensor *t);
// Allocates a tensor into a freshly pushed box, or raises the error.
nst_tensor *nst_lua_new_tensor(lua_State *L, nst_device dev, int ndim, const int64_t *shape);
// nst_lua_new_tensor with t's device and shape, or one element on like's device.
nst_tensor *nst_lua_new_like(lua_State *L, const nst_tensor *t);
nst_tensor *nst_lua_new_scalar(lua_State *L, const nst_tensor *like);
// The body of a one-tensor-in, one-out binding: pushes op(y, x) into a new y like x
// (raising op's error) and returns 1, the count of results.
typedef int nst_map_fn(nst_tensor *y, const nst_tensor *x, nst_err *e);
int nst_lua_map_new(lua_State *L, const nst_tensor *x, nst_map_fn *op);
// __gc / __close of tensors (a second close is harmless).
int nst_lua_tensor_close(lua_State *L);

// lnst_device.c: the names of nst_precision's values, in order ("fp32", "tf32", "bf16").
extern const char *const nst_lua_precision_names[];

// ---- what each binding file adds to the module table (lnst.c) ----
// Files that create userdata types or closures register themselves with the module
// table at the top of the stack:
void nst_lua_open_tensor(lua_State *L); // lnst_tensor.c: the Tensor type, constructors
void nst_lua_open_math(lua_State *L); // lnst_math.c: tensor arithmetic, reductions
void nst_lua_open_nn(lua_State *L); // lnst_nn.c: network ops, losses, Adam
void nst_lua_open_cuda(lua_State *L); // lnst_cuda.c: CUDA memory, plans, graphs
void nst_lua_open_image(lua_State *L); // lnst_image.c: nst.image
void nst_lua_open_safetensors(lua_State *L); // lnst_safetensors.c: nst.safetensors
void nst_lua_open_vgg(lua_State *L); // lnst_vgg.c: vgg_new
void nst_lua_open_video(lua_State *L); // lnst_video.c: flow, warp, consistency, temporal loss
// The others are plain lists of functions:
extern const luaL_Reg nst_lua_device_fns[]; // lnst_device.c: devices, settings, sync
extern const luaL_Reg nst_lua_limits_fns[]; // lnst_limits.c: nst.limits, nst.set_limits
extern const luaL_Reg nst_lua_profile_fns[]; // lnst_profile.c: clock, profile marks
extern const luaL_Reg nst_lua_signals_fns[]; // lnst_signals.c: Ctrl-C handling
extern const luaL_Reg nst_lua_file_fns[]; // lnst_file.c: write_atomic
extern const luaL_Reg nst_lua_style_fns[]; // lnst_style.c: the style losses' moments, roots, guides

#endif
