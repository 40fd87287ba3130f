-- Iterate averaging (option ema = β, CLI -ema; 0: off): the output of a run is the
-- bias-corrected exponential moving average of its iterates,
--   a_0 = 0,  a_t = β a_{t−1} + (1 − β) x_t,  x̄_t = a_t / (1 − β^t),
-- t counting every iteration of the run (across scales). x̄_t is a weighted mean of
-- x_1..x_t with weights (1 − β) β^{t−i} / (1 − β^t), which sum to 1: without the
-- correction the early average would be pulled towards the zero a_0 (a dark image).
-- Across a change of scale the accumulator a is resized like the image (nst.transfer_scales)
-- and t continues. What the optimizer moves stays the plain iterate; the average is what
-- checkpoints, the state's image and the returned image show.
local core = require("nst.core")

local M = {}

-- After an iteration: a ← β a + (1 − β) x.
function M.update(run)
  local b = run.opts.ema
  if not b or b == 0 then return end
  local e = run.ema
  if not e then
    e = {avg = core.zeros(run.image:shape(), {device = run.image:device()}), t = 0}
    run.ema = e
  end
  e.avg:mul_(b):add_(run.image, 1 - b)
  e.t = e.t + 1
end

-- The image a run shows: x̄_t (a new tensor), or the iterate itself without averaging.
function M.image(run)
  local e, b = run.ema, run.opts.ema
  if not e or e.t == 0 or not b or b == 0 then return run.image end
  return e.avg / (1 - b ^ e.t)
end

return M
