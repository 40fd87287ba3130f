-- Finite-difference checks of the differentiable CPU ops through the Lua API. Each op is
-- reduced to a scalar f(x) = sum(op(x) * R) with a fixed random R; its analytic
-- gradient (the op's backward applied to R) must match central differences
-- (f(x + h e_i) - f(x - h e_i)) / 2h for every element i. In float32, h = 1e-2 on
-- inputs of order 1 keeps rounding well below the 1e-2 relative tolerance; inputs
-- stay away from kinks (ReLU at 0, max-pool ties) by more than h.
local nst = require("nst")

local H, TOL = 1e-2, 1e-2

local function flat(t) return t:reshape(t:numel()):totable() end

-- Max over i of |numeric_i - analytic_i|, relative to max |analytic|.
local function fd_error(f, x, analytic)
  local shape, xs, an = x:shape(), flat(x), flat(analytic)
  local err, scale = 0, 0
  for i = 1, #xs do
    local v = xs[i]
    xs[i] = v + H
    local fp = f(nst.tensor(xs):reshape(shape))
    xs[i] = v - H
    local fm = f(nst.tensor(xs):reshape(shape))
    xs[i] = v
    err = math.max(err, math.abs((fp - fm) / (2 * H) - an[i]))
    scale = math.max(scale, math.abs(an[i]))
  end
  return err / scale
end

-- A tensor of the given shape whose values are distinct, at least `gap` apart, in
-- random order, centred on 0 (which none of them is).
local function spaced(gap, ...)
  local t = nst.rand(...)
  local v = flat(t)
  local order = {}
  for i = 1, #v do order[i] = i end
  table.sort(order, function(a, b) return v[a] < v[b] end)
  local out = {}
  for rank, i in ipairs(order) do out[i] = (rank - #v / 2 - 0.5) * gap end
  return nst.tensor(out):reshape(t:shape())
end

local function check(name, err)
  assert(err <= TOL, string.format("%s: finite-difference error %.3g > %.3g", name, err, TOL))
end

describe("gradients vs finite differences", function()
  before_each(function() nst.manual_seed(42) end)

  it("conv3x3 input gradient (im2col and Winograd paths)", function()
    for _, s in ipairs{{1, 3, 5, 6, 4}, {2, 16, 5, 3, 16}} do
      local n, c, h, w, k = table.unpack(s)
      local wt, b = nst.randn(k, c, 3, 3) * 0.3, nst.randn(k)
      local r = nst.randn(n, k, h, w)
      local f = function(x) return (nst.conv3x3(x, wt, b) * r):sum():item() end
      local x = nst.randn(n, c, h, w)
      check("conv " .. table.concat(s, "x"), fd_error(f, x, nst.conv3x3_backward(r, wt)))
    end
  end)

  it("conv3x3 with fused ReLU, through relu_backward", function()
    -- One perturbation moves a pre-activation by at most H * max|w| < 0.01; draw until
    -- every pre-activation is farther than 0.03 from the kink.
    local wt, b, r, x
    for _ = 1, 50 do
      wt, b, r, x = nst.randn(4, 3, 3, 3) * 0.3, nst.randn(4), nst.randn(1, 4, 3, 4), nst.randn(1, 3, 3, 4)
      if wt:abs():max():item() < 1 and nst.conv3x3(x, wt, b):abs():min():item() > 0.03 then break end
      x = nil
    end
    assert.is_not_nil(x, "no draw kept the pre-activations away from 0")
    local y = nst.conv3x3(x, wt, b, true)
    local f = function(z) return (nst.conv3x3(z, wt, b, true) * r):sum():item() end
    check("conv+relu", fd_error(f, x, nst.conv3x3_backward(nst.relu_backward(r, y), wt)))
    -- the fused form: conv3x3_backward(dy at the ReLU's output, w, the ReLU's output)
    check("conv+relu fused", fd_error(f, x, nst.conv3x3_backward(r, wt, y)))
    local ok, err = pcall(nst.conv3x3_backward, r, wt, nst.zeros(1, 4, 3, 5))
    assert.is_false(ok)
    assert.matches("ReLU output", err)
  end)

  it("ReLU", function()
    local x, r = spaced(0.05, 3, 4, 5), nst.randn(3, 4, 5)
    local f = function(z) return (nst.relu(z) * r):sum():item() end
    check("relu", fd_error(f, x, nst.relu_backward(r, nst.relu(x))))
  end)

  it("max and avg pooling, even and odd sizes", function()
    for _, s in ipairs{{1, 2, 4, 6}, {1, 2, 5, 7}, {2, 1, 3, 3}} do
      local x = spaced(0.05, table.unpack(s))
      local r = nst.randn(s[1], s[2], s[3] // 2, s[4] // 2)
      for _, mode in ipairs{"max", "avg"} do
        local f = function(z) return (nst.pool(z, mode) * r):sum():item() end
        check(mode .. " pool " .. table.concat(s, "x"), fd_error(f, x, nst.pool_backward(r, x, mode)))
      end
    end
  end)

  it("Gram matrix through sum(G * R)", function()
    local fm, r = nst.randn(1, 5, 3, 4), nst.randn(1, 5, 5)
    local f = function(z) return (nst.gram(z) * r):sum():item() end
    -- d/dF sum(G R) = (R + R^T) F, with F (5, 12)
    local F = fm:reshape(5, 12)
    local r2 = r:reshape(5, 5)
    local analytic = nst.matmul(r2, F) + nst.matmul(r2, F, true, false)
    check("gram", fd_error(f, fm, analytic:reshape(1, 5, 3, 4)))
  end)

  it("total variation, squared and l1", function()
    local x = spaced(0.05, 1, 2, 4, 5)
    for _, kind in ipairs{"squared", "l1"} do
      local f = function(z) return (nst.tv_loss(z, kind, 0.5)):item() end
      local _, g = nst.tv_loss(x, kind, 0.5)
      check("tv " .. kind, fd_error(f, x, g))
    end
  end)

  it("content (mse) loss", function()
    local x, p = nst.randn(1, 3, 4, 4), nst.randn(1, 3, 4, 4)
    local f = function(z) return (nst.mse_loss(z, p, 0.5)):item() end
    local _, g = nst.mse_loss(x, p, 0.5)
    check("mse", fd_error(f, x, g))
  end)
end)
