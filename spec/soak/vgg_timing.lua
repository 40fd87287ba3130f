-- CPU time of VGG forward+backward (issue figures): VGG16 with generated weights to
-- relu4_3 and the real VGG19 to relu5_1, 256x256, best of 3 after a warm-up.
-- usage: LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;;" LUA_CPATH="build/?.so;;" lua5.4 spec/soak/vgg_timing.lua
local nst = require("nst")
local weights = require("helpers.weights")
local function bench(vgg, tap, S)
  local img = nst.rand(1, 3, S, S)
  local best = math.huge
  for i = 1, 4 do
    local t0 = nst.clock()
    local F = vgg:forward(img, {tap})
    local g = vgg:backward({[tap] = F[tap]})
    local dt = nst.clock() - t0
    if i > 1 then best = math.min(best, dt) end
  end
  return best
end
local v16 = nst.vgg16{weights = weights.vgg("vgg16"), pooling = "avg"}
print(("VGG16 forward+backward to relu4_3 at 256x256: %.1f ms"):format(bench(v16, "relu4_3", 256) * 1e3))
local v19 = nst.vgg19{pooling = "avg"}
print(("VGG19 (real) forward+backward to relu5_1 at 256x256: %.1f ms"):format(bench(v19, "relu5_1", 256) * 1e3))
