-- nst: neural style transfer. `local nst = require "nst"` returns the C core's functions
-- plus the Lua-side helpers (losses with weights, optimizers, transfer loop).
local core = require "nst.core"

local nst = {}
for k, v in pairs(core) do nst[k] = v end
nst.core = core
nst.version = "scm-1"

return nst
