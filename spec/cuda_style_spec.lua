-- The style losses' slots and losses on CUDA against the CPU backend (ground truth), the
-- same inputs on both (see spec/cuda_spec.lua for the tolerance's form). Tagged #cuda.
local nst = require("nst")

local RTOL = 1e-4

-- |gpu - cpu| <= rtol |cpu| + rtol max|cpu| for every element.
local function assert_close(got, ref, what, rtol)
  rtol = rtol or RTOL
  local g = got:cpu()
  assert.are.same(ref:shape(), g:shape(), what)
  local scale = ref:abs():max():item()
  local over = g:sub(ref):abs():sub(ref:abs():mul(rtol)):max():item() - rtol * scale
  assert.is_true(over <= 0, ("%s: off by %.3g beyond rtol %g (max|ref| %.3g)"):format(what, over, rtol, scale))
end

describe("cuda style losses #cuda", function()
  setup(function() nst.cuda_set_precision("fp32") end)
  teardown(function() nst.cuda_set_precision("tf32") end)

  it("moments, moments_backward and erode3x3 match the CPU", function()
    nst.manual_seed(21)
    local F, r = nst.rand(1, 37, 9, 11), nst.rand(99) + 0.1
    r = r * (1 / math.sqrt(r:sumsq():item()))
    for _, g in ipairs{false, true} do
      local rg = g and r or nil
      for _, center in ipairs{false, true} do
        local cov, fc, mu = nst.moments(F, rg, center)
        local gcov, gfc, gmu = nst.moments(F:cuda(), rg and rg:cuda(), center)
        local tag = (g and "guided " or "") .. (center and "centred" or "plain")
        assert_close(gcov, cov, "cov " .. tag)
        assert_close(gfc, fc, "fc " .. tag)
        if center then assert_close(gmu, mu, "mu " .. tag) end
        local a, dmu = nst.randn(37, 40), center and nst.randn(37) or nil
        local dcov = nst.matmul(a, a, false, true) -- symmetric, as a loss's dL/dcov
        local grad = nst.moments_backward(fc, rg, dcov, dmu)
        local ggrad = nst.moments_backward(gfc, rg and rg:cuda(), dcov:cuda(), dmu and dmu:cuda())
        assert_close(ggrad, grad, "moments backward " .. tag)
      end
    end
    local m = nst.rand(2, 3, 17, 30)
    assert_close(nst.erode3x3(m:cuda()), nst.erode3x3(m), "erode3x3", 0)
  end)

  it("sym_sqrt and w2_map (double precision on both) match the CPU", function()
    nst.manual_seed(22)
    for _, n in ipairs{1, 7, 64, 300} do
      local a = nst.randn(n, n + 3)
      local x = nst.matmul(a, a, false, true) -- symmetric, positive semi-definite
      local b = nst.randn(n, n)
      local s = nst.sym_sqrt(nst.matmul(b, b, false, true), 0)
      assert_close(nst.sym_sqrt(x:cuda(), 0), nst.sym_sqrt(x, 0), "sym_sqrt " .. n)
      local map, tr = nst.w2_map(s, x, 1e-6)
      local gmap, gtr = nst.w2_map(s:cuda(), x:cuda(), 1e-6)
      assert_close(gmap, map, "w2_map " .. n, 1e-3)
      assert_close(gtr, tr, "w2_map trace " .. n)
    end
  end)

  it("gram, mean_cov and w2, guided and not, match the CPU (values and gradients)", function()
    nst.manual_seed(23)
    local F, S = nst.rand(1, 48, 12, 10), nst.rand(1, 48, 9, 13):square()
    local r = nst.rand(120) + 0.1
    r = r * (1 / math.sqrt(r:sumsq():item()))
    for _, kind in ipairs{"gram", "mean_cov", "w2"} do
      local T = nst.loss.style_stats({S}, {kind = kind})
      local Tg = nst.loss.style_stats({S:cuda()}, {kind = kind})
      for _, opts in ipairs{{}, {guide = r}} do
        local l, g = nst.loss[kind](F, T, opts)
        local gl, gg = nst.loss[kind](F:cuda(), Tg, {guide = opts.guide and opts.guide:cuda()})
        local tag = (opts.guide and "guided " or "") .. kind
        assert_close(gl, l, tag .. " loss", 1e-3)
        assert_close(gg, g, tag .. " gradient", 1e-3)
      end
    end
  end)
end)
