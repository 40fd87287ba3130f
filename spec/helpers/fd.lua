-- Central differences for the loss specs: fd.check(f, x, grad [, n [, h]]) perturbs n
-- fixed coordinates of x (f(x) a device scalar) and returns the largest |numeric −
-- analytic| relative to max |analytic|.
local fd = {}

function fd.check(f, x, grad, n, h)
  n, h = n or 12, h or 1e-2
  local flat, gflat = x:reshape(-1), grad:reshape(-1)
  local g = gflat:totable()
  local gmax = grad:abs():max():item()
  local worst = 0
  for k = 1, n do
    local i = (k * 7919) % x:numel() + 1
    local base = flat:narrow(1, i, 1):item()
    flat:narrow(1, i, 1):fill(base + h)
    local fp = f(x):item()
    flat:narrow(1, i, 1):fill(base - h)
    local fm = f(x):item()
    flat:narrow(1, i, 1):fill(base)
    local num = (fp - fm) / (2 * h)
    worst = math.max(worst, math.abs(num - g[i]) / gmax)
  end
  return worst
end

return fd
