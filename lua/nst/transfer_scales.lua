-- A coarse-to-fine run moving from one scale to the next (nst.scales has the schedule):
-- the iterate is upsampled to the new scale's size, Adam's moments are carried over
-- (resized the same way, see carry_adam), the average of the iterates (nst.ema) too, and
-- L-BFGS's history is restarted (its directions are vectors of the old size). The
-- targets of the new scale are built by nst.transfer (at_scale).
local core = require("nst.core")

local M = {}

-- t (on any device) resized to h x w on the same device.
local function resized(t, h, w)
  local dev = t:device()
  local r = core.image.resize(t:cpu(), {h, w})
  return dev == "cpu" and r or r:to(dev)
end

-- Adam's moments at the new size. The losses are means over the feature maps, so the
-- gradient at a pixel scales as 1/(pixels): after a step to r times the pixels the new
-- gradients are about 1/r of the old ones. Moments resized alone would keep the old
-- magnitudes, and √v (which forgets slowly, β2 = 0.999) would shrink Adam's steps about
-- r-fold for hundreds of iterations; so m is also divided by r and v by r². The step
-- count (bias correction) continues.
local function carry_adam(a, h, w)
  if not a or not a.m then return end
  local s = a.m:shape()
  local r = (h * w) / (s[3] * s[4])
  a.m = resized(a.m, h, w) / r
  a.v = resized(a.v, h, w):clamp(0, math.huge) / (r * r)
end

-- The parts of run that have the image's size, moved to h x w.
function M.carry(run, h, w)
  local img = resized(run.image, h, w)
  if run.opts.clamp then img:clamp_(0, 1) end
  run.image = img
  carry_adam(run.adam, h, w)
  run.lbfgs = nil
  if run.ema then run.ema.avg = resized(run.ema.avg, h, w) end
end

return M
