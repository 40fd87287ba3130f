-- The style losses (nst.loss.gram, mean_cov, w2), guided and not, their blended targets
-- and the guides: against PyTorch in float64 (relative error <= 1e-5), finite
-- differences, guided = unguided for an all-ones guide, and the errors, word for word.
local nst = require("nst")
local oracle = require("helpers.oracle")
local fd_check = require("helpers.fd").check

local loss = nst.loss
local TOL = 1e-5

local function close(name, got, want, tol)
  local err = oracle.rel_err(got, want)
  assert(err <= (tol or TOL), ("%s: relative error %.3g > %.3g"):format(name, err, tol or TOL))
end

-- The losses in PyTorch: f, s1, s2 (C,M) features; w, w1, w2 (M) position weights
-- (sum 1); b1, b2 the blend weights. Defines the target statistics as README's formulas.
local TORCH = [[
def moments(f, w):
    mu = f @ w
    fc = f - mu[:, None]
    return mu, (fc * w) @ fc.T, (f * w) @ f.T
def sqrtm(A):
    ev, V = torch.linalg.eigh(A)
    return (V * ev.clamp(min=0).sqrt()) @ V.T
def target(ss, ws, bs):
    st = [moments(s, w) for s, w in zip(ss, ws)]
    mu = sum(b * m for b, (m, _, _) in zip(bs, st))
    srm = sum(b * (c + torch.outer(m, m)) for b, (m, c, _) in zip(bs, st))
    G = sum(b * g for b, (_, _, g) in zip(bs, st))
    return mu, srm - torch.outer(mu, mu), G
def losses(f, w, ss, ws, bs):
    C = f.shape[0]
    mus, covs, Gs = target(ss, ws, bs)
    f = f.clone().requires_grad_()
    mu, cov, G = moments(f, w)
    I = torch.eye(C)
    eps = 1e-3 * covs.trace() / C
    S = sqrtm(covs + eps * I)
    k = (Gs ** 2).sum() / Gs.trace()
    res = {
        "gram": ((G - Gs) ** 2).sum() / (4 * C * C),
        "mean_cov": (((cov - covs) ** 2).sum() + 2 * (mus ** 2).sum() * ((mu - mus) ** 2).sum()) / (4 * C * C),
        "w2": k * (((mu - mus) ** 2).sum() + (cov + eps * I).trace() + (covs + eps * I).trace()
                   - 2 * sqrtm(S @ (cov + eps * I) @ S).trace()) / (4 * C * C),
    }
    for name, l in res.items():
        out[name] = l
        (out["d" + name],) = torch.autograd.grad(l, f, retain_graph=True)
]]

-- A guide r (M) with Σr² = 1 from positive random values.
local function random_guide(m)
  local g = nst.rand(m) + 0.2
  return g * (1 / math.sqrt(g:sumsq():item()))
end

local KINDS = {"gram", "mean_cov", "w2"}

describe("style losses", function()
  local F, S1, S2
  setup(function()
    nst.manual_seed(7)
    -- ReLU-like features: non-negative, means of the order of the spread
    F, S1, S2 = nst.rand(1, 6, 5, 7), nst.rand(1, 6, 4, 6):mul(1.5), nst.rand(1, 6, 5, 5):square()
  end)

  it("match PyTorch (float64), unguided, two blended styles", function()
    local T = loss.style_stats({S1, S2}, {weights = {1, 3}})
    local ref = oracle.torch(TORCH .. [[
m = lambda t: t.reshape(6, -1)
u = lambda t: torch.full((t.shape[1],), 1.0 / t.shape[1])
losses(m(F), u(m(F)), [m(S1), m(S2)], [u(m(S1)), u(m(S2))], [0.25, 0.75])
]], {F = F, S1 = S1, S2 = S2})
    for _, kind in ipairs(KINDS) do
      local l, g = loss[kind](F, T)
      assert.are.same({1}, l:shape())
      assert.are.same(F:shape(), g:shape())
      close(kind .. " loss", l, ref[kind])
      close(kind .. " gradient", g, ref["d" .. kind])
    end
  end)

  it("match PyTorch (float64) with guides on both sides", function()
    local r, r1, r2 = random_guide(35), random_guide(24), random_guide(25)
    local T = loss.style_stats({S1, S2}, {weights = {2, 1}, guides = {r1, r2}})
    local ref = oracle.torch(TORCH .. [[
m = lambda t: t.reshape(6, -1)
losses(m(F), r ** 2, [m(S1), m(S2)], [r1 ** 2, r2 ** 2], [2 / 3, 1 / 3])
]], {F = F, S1 = S1, S2 = S2, r = r, r1 = r1, r2 = r2})
    for _, kind in ipairs(KINDS) do
      local l, g = loss[kind](F, T, {guide = r})
      close("guided " .. kind .. " loss", l, ref[kind])
      close("guided " .. kind .. " gradient", g, ref["d" .. kind])
    end
  end)

  it("guided with an all-ones guide equals unguided", function()
    local net = {device = "cpu", layers = function() return {}, {{name = "relu1_1", kind = "relu"}} end}
    local ones = loss.guide(net, nst.ones(1, 1, 5, 7), {"relu1_1"}).relu1_1
    local sones = loss.guide(net, nst.ones(1, 1, 4, 6), {"relu1_1"}).relu1_1
    local T = loss.style_stats({S1}, {guides = {sones}})
    local Tu = loss.style_stats({S1})
    close("guided target mean", T.mean, Tu.mean, 0)
    close("guided target cov", T.cov, Tu.cov, 0)
    for _, kind in ipairs(KINDS) do
      local l, g = loss[kind](F, Tu)
      local lg, gg = loss[kind](F, T, {guide = ones, scale = 1})
      -- equal up to float rounding: r_i² is 1/M rounded twice, and the unguided Gram
      -- loss is the fused nst.style_loss
      close("all-ones " .. kind .. " loss", lg, l, 1e-6)
      close("all-ones " .. kind .. " gradient", gg, g, 1e-6)
    end
  end)

  it("scale multiplies, and the unguided Gram loss is nst.loss.style on the target at M", function()
    local T = loss.style_stats({S1, S2}, {kind = "gram"})
    local A = loss.style_target({S1, S2}, nil, 35)
    local l0, g0 = loss.style(F, A)
    local l, g = loss.gram(F, T)
    close("gram = style loss", l, l0, 1e-6)
    close("gram = style gradient", g, g0, 1e-6)
    for _, kind in ipairs(KINDS) do
      local T2 = loss.style_stats({S1, S2}, {kind = kind})
      local a, ga = loss[kind](F, T2)
      local b, gb = loss[kind](F, T2, {scale = 0.25})
      close(kind .. " scale", b * 4, a, 1e-6)
      close(kind .. " scale gradient", gb * 4, ga, 1e-6)
    end
  end)

  it("vanish at the target, and are positive elsewhere", function()
    for _, kind in ipairs(KINDS) do
      local T = loss.style_stats({F}, {kind = kind})
      local l, g = loss[kind](F, T)
      assert.is_true(math.abs(l:item()) < 1e-6 * loss[kind](S1, T):item(), kind)
      assert.is_true(g:abs():max():item() < 1e-4 * select(2, loss[kind](S1, T)):abs():max():item(), kind)
      assert.is_true(loss[kind](S2, T):item() > 0, kind)
    end
  end)

  it("gradients agree with finite differences, guided and not", function()
    nst.manual_seed(3)
    local f = nst.rand(1, 4, 3, 5) + 0.5
    local s = nst.rand(1, 4, 4, 4):mul(2)
    local r = random_guide(15)
    for _, kind in ipairs(KINDS) do
      local T = loss.style_stats({s}, {kind = kind})
      for _, opts in ipairs{{}, {guide = r}} do
        local _, g = loss[kind](f, T, opts)
        local err = fd_check(function(t) return (loss[kind](t, T, opts)) end, f, g)
        assert(err < 1e-2, ("%s%s: finite-difference error %.3g"):format(opts.guide and "guided " or "", kind, err))
      end
    end
  end)

  it("W2 matches PyTorch on VGG19's real, near-singular relu features", function()
    local net = nst.vgg19{weights = require("helpers.weights").vgg19_real(), pooling = "avg"}
    local img = nst.image.load("examples/images/starry_night.jpg", {size = 64})
    local photo = nst.image.load("examples/images/leuven.jpg", {size = 64})
    local layers = {"relu2_1", "relu4_1"} -- 128 channels on 512 positions; 512 on 32
    local Fs, Fc = net:forward(img, layers), net:forward(photo, layers)
    for _, l in ipairs(layers) do
      local T = loss.style_stats({Fs[l]})
      local lw, gw = loss.w2(Fc[l], T)
      local c = Fc[l]:shape()[2]
      local ref = oracle.torch(TORCH .. ([[
m = lambda t: t.reshape(%d, -1)
u = lambda t: torch.full((t.shape[1],), 1.0 / t.shape[1])
losses(m(F), u(m(F)), [m(S)], [u(m(S))], [1.0])
]]):format(c), {F = Fc[l], S = Fs[l]})
      -- measured: loss 1.9e-7 / 3.8e-7, gradient 1.7e-5 / 3.9e-6 (relu2_1 / relu4_1); the
      -- gradient's excess over 1e-5 is the float32 covariance's rounding in the
      -- near-singular directions, which W2's map amplifies (ε bounds it)
      close("w2 " .. l, lw, ref.w2)
      close("w2 gradient " .. l, gw, ref.dw2, 5e-5)
      close("mean_cov " .. l, loss.mean_cov(Fc[l], T), ref.mean_cov)
    end
  end)

  it("propagates guides through the layers: pooled, and eroded at convolutions (inside)", function()
    local info = {{name = "conv1_1", kind = "conv"}, {name = "relu1_1", kind = "relu"},
                  {name = "pool1", kind = "pool"}, {name = "conv2_1", kind = "conv"},
                  {name = "relu2_1", kind = "relu"}}
    local net = {device = "cpu", layers = function() return {}, info end}
    local mask = nst.rand(1, 1, 9, 12)
    local ref = oracle.torch([[
ero = lambda g: -F.max_pool2d(-g, 3, stride=1, padding=1)
norm = lambda g: (g / g.pow(2).sum().sqrt()).reshape(-1)
out["s1"], out["s2"] = norm(mask), norm(F.avg_pool2d(mask, 2))
out["i1"], out["i2"] = norm(ero(mask)), norm(ero(F.avg_pool2d(ero(mask), 2)))
]], {mask = mask})
    local s = loss.guide(net, mask, {"relu1_1", "relu2_1"})
    local i = loss.guide(net, mask, {"relu1_1", "relu2_1"}, {mode = "inside"})
    close("simple relu1_1", s.relu1_1, ref.s1)
    close("simple relu2_1", s.relu2_1, ref.s2)
    close("inside relu1_1", i.relu1_1, ref.i1)
    close("inside relu2_1", i.relu2_1, ref.i2)
    assert.are.same({24}, s.relu2_1:shape())
    assert.is_true(math.abs(s.relu2_1:sumsq():item() - 1) < 1e-6)
  end)

  it("rejects bad guides and targets with clear messages", function()
    local info = {{name = "conv1_1", kind = "conv"}, {name = "relu1_1", kind = "relu"},
                  {name = "pool1", kind = "pool"}, {name = "relu2_1", kind = "relu"}}
    local net = {device = "cpu", layers = function() return {}, info end}
    assert.has_error(function() loss.guide(net, nst.ones(1, 3, 8, 8), {"relu1_1"}) end,
      "nst.loss.guide: mask must be (1,1,H,W), got 1x3x8x8")
    assert.has_error(function() loss.guide(net, nst.ones(8, 8), {"relu1_1"}) end,
      "nst.loss.guide: mask must be (1,1,H,W), got 8x8")
    assert.has_error(function() loss.guide(net, nst.ones(1, 1, 8, 8) * 2 - 3, {"relu1_1"}) end,
      "nst.loss.guide: mask values must be in [0, 1], got -1 to -1")
    assert.has_error(function() loss.guide(net, "mask.png", {"relu1_1"}) end,
      "nst.loss.guide: mask must be an nst tensor, got string")
    assert.has_error(function() loss.guide(net, nst.zeros(1, 1, 8, 8), {"relu2_1"}) end,
      "nst.loss.guide: the mask is empty at layer relu2_1 (mode simple)")
    local corner = nst.zeros(64)
    corner:narrow(1, 1, 1):fill(1)
    corner = corner:reshape(1, 1, 8, 8)
    assert.has_error(function() loss.guide(net, corner, {"relu2_1"}, {mode = "inside"}) end,
      "nst.loss.guide: the mask is empty at layer relu2_1 (mode inside)")
    assert.has_error(function() loss.guide(net, nst.ones(1, 1, 8, 8), {"relu9_1"}) end,
      "nst.loss.guide: the network has no layer relu9_1")
    assert.has_error(function() loss.guide(net, nst.ones(1, 1, 8, 8), {"relu1_1"}, {mode = "outside"}) end,
      'nst.loss.guide: mode must be "simple" or "inside", got outside')
    local T = loss.style_stats({S1}, {kind = "gram"})
    assert.has_error(function() loss.w2(F, T) end,
      'nst.loss.w2: target was made for kind gram; w2 needs style_stats{kind = "w2"}')
    local T2 = loss.style_stats({S1})
    assert.has_error(function() loss.mean_cov(F, T2, {guide = nst.ones(30)}) end,
      "nst.loss.mean_cov: the guide has 30 positions, the features 5x7 = 35")
    assert.has_error(function() loss.w2(nst.rand(1, 4, 5, 7), T2) end,
      "nst.loss.w2: the target has 6 channels, the features 4")
    assert.has_error(function() loss.gram(F, T2, {guid = 1}) end, "nst.loss.gram: unknown option 'guid'")
    assert.has_error(function() loss.gram(F, A) end,
      "nst.loss.gram: target must be a table from nst.loss.style_stats")
    assert.has_error(function() loss.style_stats({S1}, {kind = "bures"}) end,
      'nst.loss.style_stats: kind must be "gram", "mean_cov" or "w2", got bures')
    assert.has_error(function() loss.style_stats({S1, nst.rand(1, 5, 4, 4)}) end,
      "nst.loss.style_stats: image 2 has 5 channels, image 1 has 6")
    assert.has_error(function() loss.style_stats({S1, S2}, {weights = {1, -1}}) end,
      "nst.loss.style_stats: blend weight 2 must be a number >= 0, got -1")
    assert.has_error(function() loss.style_stats({S1}, {guides = {nst.ones(5)}}) end,
      "nst.loss.style_stats: the guide has 5 positions, the features 4x6 = 24")
  end)
end)
