rockspec_format = "3.0"
package = "nst"
version = "scm-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "Neural style transfer (Gatys et al.) for Lua 5.4, in C with CPU and CUDA backends",
  detailed = [[
nst exposes tensors, a VGG16/VGG19 feature extractor with named layers, Gram and loss
functions and Adam/L-BFGS to Lua scripts; the heavy math stays in C (OpenBLAS, OpenMP)
and CUDA (cuDNN, cuBLAS) when nvcc is present at build time.
]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4",
  "dkjson >= 2.5", -- the run state's JSON (Debian: lua-dkjson)
}
build = {
  type = "make",
  build_variables = {
    LUA_INC = "$(LUA_INCDIR)",
    LUA_VERSION = "5.4",
  },
  install_variables = {
    PREFIX = "$(PREFIX)",
    LUA_LIBDIR = "$(LIBDIR)",
    LUA_SHAREDIR = "$(LUADIR)",
    BINDIR = "$(BINDIR)",
  },
}
