-- Time per frame of the video ops at 540p (960x540) on the CPU: nst.flow with each DIS
-- preset (forward only, and forward + backward as a video run needs), nst.warp and
-- nst.flow_consistency. Frames: examples/images/leuven.jpg at 960x540 and the same
-- image moved by (3, -2) px.
--   nice lua5.4 examples/benchmark_flow.lua [iterations]
-- A benchmark, not a test: it prints, it asserts nothing.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("NST_BUILD") or "build") .. "/?.so;" .. package.cpath
local nst = require("nst")

local iters = tonumber(arg[1]) or 5
local H, W = 540, 960

-- Best of `iters` runs after one warm-up, in milliseconds.
local function best_ms(f)
  f()
  local t = math.huge
  for _ = 1, iters do
    local t0 = nst.clock()
    f()
    t = math.min(t, nst.clock() - t0)
  end
  return t * 1000
end

local a = nst.image.load("examples/images/leuven.jpg", {size = {H, W}})
local shift = nst.zeros(2, H, W)
shift:narrow(1, 1, 1):fill(-3)
shift:narrow(1, 2, 1):fill(2)
local b = nst.warp(a, shift:reshape(1, 2, H, W))

print(("video ops at %dx%d, CPU, best of %d (OMP_NUM_THREADS=%s OPENCV_FOR_THREADS_NUM=%s)"):format(
  W, H, iters, os.getenv("OMP_NUM_THREADS") or "all", os.getenv("OPENCV_FOR_THREADS_NUM") or "all"))
local fwd, bwd
for _, preset in ipairs{"ultrafast", "fast", "medium"} do
  local one = best_ms(function() fwd = nst.flow(a, b, {preset = preset}) end)
  local both = best_ms(function() fwd, bwd = nst.flow(a, b, {preset = preset, backward = true}) end)
  print(("  flow %-9s  forward %7.1f ms   forward + backward %7.1f ms"):format(preset, one, both))
end
print(("  warp (3 channels)      %7.1f ms"):format(best_ms(function() nst.warp(b, fwd) end)))
print(("  consistency mask       %7.1f ms"):format(best_ms(function() nst.flow_consistency(fwd, bwd) end)))
local mask = nst.flow_consistency(bwd, fwd)
print(("  temporal loss + grad   %7.1f ms"):format(best_ms(function() nst.loss.temporal(a, b, mask) end)))
