-- The temporal loss of video style transfer (nst.loss.temporal, core.temporal_loss):
-- value against a direct computation, gradient against finite differences, the mask's
-- two shapes, the normalization, bad arguments, and the CUDA kernel against its CPU twin.
local nst = require("nst")
local errmsg = require("helpers.expect").error

-- Σ c·(x−w)² over one row of numbers; c nil (all ones) or a row like x.
local function row_sum(x, w, c)
  local s = 0
  for i = 1, #x do
    local d = x[i] - w[i]
    s = s + (c and c[i] or 1) * d * d
  end
  return s
end

-- Σ c·(x−w)² computed from tables in double; c nil, (N,1,H,W) or like x.
local function direct(x, w, c)
  local X, Wt, C = x:totable(), w:totable(), c and c:totable()
  local s = 0
  for n = 1, #X do
    for k = 1, #X[n] do
      local Ck = C and C[n][#C[n] == 1 and 1 or k]
      for y = 1, #X[n][k] do s = s + row_sum(X[n][k][y], Wt[n][k][y], Ck and Ck[y]) end
    end
  end
  return s
end

describe("nst.loss.temporal", function()
  before_each(function() nst.manual_seed(3) end)

  it("is weight · Σ c (x − w)² / D by default (Ruder's 1/D), Σ with reduction = sum", function()
    local x, w = nst.rand(2, 3, 5, 6), nst.rand(2, 3, 5, 6)
    for _, c in ipairs{false, nst.rand(2, 1, 5, 6), nst.rand(2, 3, 5, 6)} do
      c = c or nil
      local want = direct(x, w, c)
      local mean = nst.loss.temporal(x, w, c, {weight = 2}):item()
      local sum = nst.loss.temporal(x, w, c, {reduction = "sum"}):item()
      assert.is_true(math.abs(sum - want) <= 1e-5 * want, ("sum %.9g, direct %.9g"):format(sum, want))
      assert.is_true(math.abs(mean - 2 * want / x:numel()) <= 1e-5 * mean, "mean " .. mean)
    end
  end)

  it("has the gradient of finite differences, and none where the mask is 0", function()
    local x, w = nst.rand(1, 3, 4, 5), nst.rand(1, 3, 4, 5)
    -- a 0/1 mask with some of both
    local c = (nst.rand(1, 1, 4, 5) - 0.4):sign():clamp(0, 1)
    local f = function(z) return nst.loss.temporal(z, w, c, {weight = 3, reduction = "sum"}):item() end
    local _, g = nst.loss.temporal(x, w, c, {weight = 3, reduction = "sum"})
    -- The loss is quadratic, so central differences along any direction v are exact up to
    -- float rounding: (f(x + h v) − f(x − h v)) / 2h = <g, v>.
    local h = 1e-2
    for _ = 1, 6 do
      local v = nst.randn(1, 3, 4, 5)
      local numeric = (f(x + v * h) - f(x - v * h)) / (2 * h)
      local analytic = nst.dot(g, v):item()
      assert.is_true(math.abs(numeric - analytic) <= 2e-3 * (math.abs(analytic) + 1),
                     ("numeric %.6g, analytic %.6g"):format(numeric, analytic))
    end
    -- where c = 0 the gradient is exactly 0, elsewhere 6 (x − w)
    local G, X, Wt, C = g:totable()[1], x:totable()[1], w:totable()[1], c:totable()[1][1]
    for k = 1, 3 do
      for y = 1, 4 do
        for i = 1, 5 do
          local want = C[y][i] * 6 * (X[k][y][i] - Wt[k][y][i])
          assert.is_true(math.abs(G[k][y][i] - want) <= 1e-5, "gradient at " .. k .. "," .. y .. "," .. i)
        end
      end
    end
    -- the mean's gradient is the sum's over D
    local _, gm = nst.loss.temporal(x, w, c, {weight = 3})
    assert.is_true((gm * x:numel() - g):abs():max():item() < 1e-5)
  end)

  it("refuses bad arguments with clear errors", function()
    local x = nst.rand(1, 3, 4, 5)
    assert.matches("warped previous frame must be 1x3x4x5, got 1x3x4x6",
                   errmsg(nst.loss.temporal, x, nst.rand(1, 3, 4, 6)))
    assert.matches("mask must be 1x1x4x5 or 1x3x4x5, got 1x2x4x5",
                   errmsg(nst.loss.temporal, x, x, nst.rand(1, 2, 4, 5)))
    assert.matches("image must be 4%-D", errmsg(nst.loss.temporal, nst.rand(3, 4, 5), nst.rand(3, 4, 5)))
    assert.matches("unknown option 'normalize'", errmsg(nst.loss.temporal, x, x, nil, {normalize = "sum"}))
    assert.matches("reduction must be \"mean\" or \"sum\"", errmsg(nst.loss.temporal, x, x, nil, {reduction = "avg"}))
    assert.matches("weight must be a number", errmsg(nst.loss.temporal, x, x, nil, {weight = "1"}))
    assert.matches("mask must be an nst tensor", errmsg(nst.loss.temporal, x, x, 1))
  end)
end)

describe("video ops on CUDA against the CPU #cuda", function()
  local frames = require("helpers.frames")

  local function close(got, ref, tol, what)
    local d = (got:cpu() - ref):abs():max():item()
    assert.is_true(d <= tol, ("%s: cuda off by %g"):format(what, d))
  end

  it("warp, consistency mask and temporal loss", function()
    nst.manual_seed(11)
    local h, w = 37, 53
    local img = nst.rand(2, 3, h, w)
    local flow = (nst.rand(2, 2, h, w) - 0.5) * 12
    for _, border in ipairs{"replicate", "zero"} do
      close(nst.warp(img:cuda(), flow:cuda(), {border = border}), nst.warp(img, flow, {border = border}),
            1e-5, "warp " .. border)
    end
    -- a moving square: decisions far from the thresholds, so both must agree exactly
    local inside = function(x, y, x0) return y >= 8 and y < 20 and x >= x0 and x < x0 + 12 end
    local fwd = frames.flow(h, w, function(x, y) return inside(x, y, 8) and 5 or 0, inside(x, y, 8) and 1 or 0 end)
    local bwd = frames.flow(h, w, function(x, y) return inside(x, y, 13) and -5 or 0, inside(x, y, 13) and -1 or 0 end)
    close(nst.flow_consistency(fwd:cuda(), bwd:cuda()), nst.flow_consistency(fwd, bwd), 0, "consistency")
    local x, wp, c = nst.rand(2, 3, h, w), nst.rand(2, 3, h, w), nst.rand(2, 1, h, w)
    for _, cm in ipairs{false, c, nst.rand(2, 3, h, w)} do
      cm = cm or nil
      local l, g = nst.loss.temporal(x, wp, cm, {weight = 5})
      local lc, gc = nst.loss.temporal(x:cuda(), wp:cuda(), cm and cm:cuda(), {weight = 5})
      assert.are.equal("cuda", lc:device())
      assert.is_true(math.abs(lc:item() - l:item()) <= 1e-5 * l:item(), "temporal loss value")
      close(gc, g, 1e-6, "temporal loss gradient")
    end
    -- DIS runs on the host: a CUDA frame gets a CUDA flow equal to the CPU one
    local a, b = frames.shifted(32, 48, 0, 0), frames.shifted(32, 48, 2, 1)
    local fc = nst.flow(a:cuda(), b:cuda())
    assert.are.equal("cuda", fc:device())
    close(fc, nst.flow(a, b), 0, "flow")
  end)
end)
