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
-- dkjson (the run state's JSON) comes from Debian's lua-dkjson, like the C libraries
-- (README, "Install"), so that the rock builds offline from a clean tree; elsewhere
-- `luarocks install dkjson` first.
dependencies = {
  "lua >= 5.4",
}
build = {
  type = "make",
  build_variables = {
    LUA_INC = "$(LUA_INCDIR)",
    LUA_VERSION = "5.4",
    BUILD = "build-rock", -- not the source tree's own build/, whose flags may differ
  },
  install_variables = {
    PREFIX = "$(PREFIX)",
    LUA_LIBDIR = "$(LIBDIR)",
    LUA_SHAREDIR = "$(LUADIR)",
    BINDIR = "$(BINDIR)",
    LUA = "$(LUA)",
    BUILD = "build-rock",
  },
}
