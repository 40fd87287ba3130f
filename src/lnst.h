// Shared by the Lua binding files (src/lnst*.c), the only files that know Lua.
#ifndef NST_LNST_H
#define NST_LNST_H

#include <lauxlib.h>
#include <lua.h>

#include "nst.h"

#define NST_TENSOR_MT "nst.Tensor"

// Tensor userdata: the box is created (with its metatable) before the tensor is
// allocated, so a failure halfway leaves something the collector can free. t == NULL
// after close.
typedef struct nst_ltensor {
    nst_tensor *t;
} nst_ltensor;

// Raises a Lua error with e's message (prefixed by what, if not NULL). Never returns.
int nst_lua_error(lua_State *L, const char *what, const nst_err *e);
// The open tensor at idx, or a Lua error naming the argument ("expected nst.Tensor,
// got string" / "tensor is closed").
nst_tensor *nst_lua_check_tensor(lua_State *L, int idx);
nst_tensor *nst_lua_opt_tensor(lua_State *L, int idx); // NULL if none/nil
int nst_lua_is_tensor(lua_State *L, int idx);
// Pushes an empty box (with its metatable); set box->t to give it a tensor.
nst_ltensor *nst_lua_push_box(lua_State *L);
// Pushes a new tensor (takes ownership; frees t if pushing fails).
void nst_lua_push_tensor(lua_State *L, nst_tensor *t);
// Allocates a tensor into a freshly pushed box, or raises the error.
nst_tensor *nst_lua_new_tensor(lua_State *L, nst_device dev, int ndim, const int64_t *shape);
// Reads a device option ("cpu", "cuda") at idx (string) with a default.
nst_device nst_lua_opt_device(lua_State *L, int idx, nst_device def);
// Checked integer in [lo, hi] at idx, error names the argument.
lua_Integer nst_lua_check_range(lua_State *L, int idx, lua_Integer lo, lua_Integer hi);

// Each binding file registers its functions into the module table at the top of stack.
void nst_lua_open_tensor(lua_State *L);
void nst_lua_open_ops(lua_State *L);
void nst_lua_open_image(lua_State *L);
void nst_lua_open_safetensors(lua_State *L);
void nst_lua_open_vgg(lua_State *L);
void nst_lua_open_video(lua_State *L); // src/bindings/lnst_video.c

#endif
