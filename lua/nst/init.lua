-- nst: neural style transfer. `local nst = require "nst"` returns the C core's functions
-- plus the Lua side: VGG constructors, losses, optimizers, the transfer loop, plots.
local core = require("nst.core")

local nst = {}
for k, v in pairs(core) do nst[k] = v end
nst.core = core
nst.version = "scm-1"

local vgg = require("nst.vgg")
function nst.vgg16(opts) return vgg.new("vgg16", opts) end
function nst.vgg19(opts) return vgg.new("vgg19", opts) end

nst.loss = require "nst.loss"
nst.optim = require "nst.optim"
nst.terms = require "nst.terms"
nst.objective = require "nst.objective"
nst.transfer = require "nst.transfer" -- callable: nst.transfer(opts)
nst.plot = require "nst.plot"
nst.video_io = require "nst.video_io" -- frame patterns and video files (FFmpeg)

return nst
