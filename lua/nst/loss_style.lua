-- The style losses as functions of one layer's features: the Gram loss, the mean and
-- covariance loss and the Wasserstein-2 loss between Gaussian fits, each with an optional
-- guide (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer"),
-- their targets blended over several style images, and the guides at each layer. nst.loss
-- holds them (nst.loss.gram, .mean_cov, .w2, .style_stats, .guide); the formulas and their
-- normalizations: lua/README.md, "Style losses".
--
-- The statistics weigh each position i of a layer's features F (C,M) by w_i: 1/M without
-- a guide, r_i² with one, r the guide at that layer over the square root of its mass
-- (Σ r² = 1; M.guide). Ĝ = Σ w_i f_i f_iᵀ (the Gram matrix over M), μ = Σ w_i f_i,
-- Σ = Σ w_i (f_i − μ)(f_i − μ)ᵀ. The heavy parts are C/CUDA: core.moments (the weighted
-- moments), core.moments_backward (their gradient), core.sym_sqrt and core.w2_map (W2's matrix roots, in double),
-- core.erode3x3 and core.pool (the guides); the rest is (C,C) algebra here.
local core = require("nst.core")
local check = require("nst.check")

local M = {}

-- W2's regularization: ε = W2_EPS · tr(Σs)/C (relative to the style's mean variance)
-- is added to both covariances. ReLU features have dead and near-dead channels (VGG19
-- relu2_1 at 256 px: eigenvalues down to 1e-14 of the largest; relu5_1 has fewer
-- positions than channels), where (S Σ S)^(-1/2) would be unbounded.
M.W2_EPS = 1e-3

M.KINDS = {gram = true, mean_cov = true, w2 = true}

-- Errors name the function and carry no position (as nst.check's).
local function fail(fn, msg, ...) error(("nst.loss.%s: " .. msg):format(fn, ...), 0) end

-- Features (...,C,H,W) -> the number of positions H·W, the channels C.
function M.positions(F)
  local s = F:shape()
  return s[#s - 1] * s[#s], s[#s - 2]
end
local positions = M.positions

-- The identity (n,n) on a device.
local function eye(n, device)
  local t = {}
  for i = 1, n * n do t[i] = 0 end
  for i = 0, n - 1 do t[i * n + i + 1] = 1 end
  return core.tensor(t):reshape(n, n):to(device)
end

-- ---- guides -----------------------------------------------------------------------

local GUIDE_MODES = {simple = true, inside = true}

-- mask (1,1,H,W) in [0,1], at the size of the image the network sees -> {layer = r}: the
-- guide propagated through the network's layers up to each layer named, over the square
-- root of its mass there, flattened to the layer's H_l·W_l positions. Each pooling layer
-- averages it over the 2x2 window (the image area one position covers); mode "inside"
-- also erodes it (3x3 minimum) at every 3x3 convolution, so that a position counts only
-- as far as its whole receptive field lies in the region (crisper borders; small regions
-- may vanish at deep layers, which is an error naming the layer). opts.normalize = false
-- returns the mask at each layer as it is there, (1,1,H_l,W_l), e.g. to weigh a content term.
function M.guide(net, mask, layers, opts)
  check.tensor("nst.loss.guide", "mask", mask)
  opts = opts or {}
  check.keys("nst.loss.guide", opts, {mode = true, normalize = true})
  local mode = opts.mode or "simple"
  if not GUIDE_MODES[mode] then fail("guide", "mode must be \"simple\" or \"inside\", got %s", tostring(mode)) end
  local s = mask:shape()
  if #s ~= 4 or s[1] ~= 1 or s[2] ~= 1 then
    fail("guide", "mask must be (1,1,H,W), got %s", table.concat(s, "x"))
  end
  local lo, hi = mask:min():item(), mask:max():item()
  if not (lo >= 0 and hi <= 1) then fail("guide", "mask values must be in [0, 1], got %g to %g", lo, hi) end
  if type(layers) == "string" then layers = {layers} end
  local want, left = {}, 0
  for _, l in ipairs(layers) do
    if not want[l] then want[l], left = true, left + 1 end
  end
  local _, info = net:layers()
  local g, out = mask:to(net.device), {}
  for _, l in ipairs(info) do
    if left == 0 then break end
    if l.kind == "conv" and mode == "inside" then g = core.erode3x3(g)
    elseif l.kind == "pool" then g = core.pool(g, "avg") end
    if want[l.name] then
      local mass = g:sumsq():item()
      if not (mass > 0) then fail("guide", "the mask is empty at layer %s (mode %s)", l.name, mode) end
      out[l.name] = opts.normalize == false and g or (g * (1 / math.sqrt(mass))):reshape(-1)
      left, want[l.name] = left - 1, nil
    end
  end
  for l in pairs(want) do fail("guide", "the network has no layer %s", l) end
  return out
end

-- The guide of opts for features F: nil, or r with H·W elements.
local function guide_of(fn, F, opts)
  local r = opts and opts.guide
  if r == nil then return nil end
  check.tensor("nst.loss." .. fn, "guide", r)
  local m = positions(F)
  if r:numel() ~= m then
    local s = F:shape()
    fail(fn, "the guide has %d positions, the features %dx%d = %d", r:numel(), s[#s - 1], s[#s], m)
  end
  return r
end

-- ---- targets ----------------------------------------------------------------------

-- One image's statistics at one layer (guide r or nil): Ĝ, and μ, Σ unless kind is gram.
local function image_stats(F, r, kind)
  local G = core.moments(F, r)
  if kind == "gram" then return {gram = G} end
  local cov, _, mu = core.moments(F, r, true)
  return {gram = G, cov = cov, mean = mu}
end

-- The mixture of the images' statistics with blend weights b (Σb = 1), as
-- crowsonkb/style-transfer-pytorch blends its targets: the mean and the second moment are
-- averaged, so Σs is the covariance of the blended features (Σ_k b_k (Σ_k + (μ_k − μs)(μ_k
-- − μs)ᵀ), written so for float accuracy), and the Gram target stays Σ b_k Ĝ_k.
local function blend(stats, b, kind)
  local T = {kind = kind}
  for k, s in ipairs(stats) do
    T.gram = T.gram and T.gram:add_(s.gram, b[k]) or s.gram * b[k]
    if s.mean then T.mean = T.mean and T.mean:add_(s.mean, b[k]) or s.mean * b[k] end
  end
  if kind == "gram" then return T end
  local c = T.mean:numel()
  for k, s in ipairs(stats) do
    local d = (s.mean - T.mean):reshape(c, 1)
    local part = s.cov + core.matmul(d, d, false, true)
    T.cov = T.cov and T.cov:add_(part, b[k]) or part * b[k]
  end
  return T
end

-- What W2 needs of the target, once: S = (Σs + εI)^(1/2), tr(Σs + εI), ε, the floor of
-- the eigenvalues of S(Σ + εI)S (≥ ε² in exact arithmetic), and k (README).
local function w2_parts(T, rel)
  local c = T.mean:numel()
  local I = eye(c, T.cov:device())
  local tr = T.cov:dot(I):item()
  local eps = rel * tr / c
  if not (eps > 0) then eps = rel end -- all-zero features: an absolute ε
  T.eye, T.eps, T.floor, T.trace = I, eps, eps * eps, tr + c * eps
  T.eps_eye = I * eps
  T.root = core.sym_sqrt(T.cov + T.eps_eye)
  local trA = T.gram:dot(I):item()
  T.k = trA > 0 and T.gram:sumsq():item() / trA or 1
end

-- The style target of one layer (feats: one feature tensor per style image), or of
-- several ({layer = F} per image -> {layer = target}). opts: weights (blend weights,
-- default equal), guides (one per image: r, or {layer = r} for tables; nil = unguided),
-- kind ("gram", "mean_cov" or "w2": what to prepare; default "w2", which has all),
-- eps (W2's relative ε, default M.W2_EPS).
function M.style_stats(feats, opts)
  opts = opts or {}
  check.keys("nst.loss.style_stats", opts, {weights = true, guides = true, kind = true, eps = true})
  if type(feats) ~= "table" or #feats == 0 then
    fail("style_stats", "expected a non-empty list of feature tensors (one per style image)")
  end
  local kind = opts.kind or "w2"
  if not M.KINDS[kind] then fail("style_stats", "kind must be \"gram\", \"mean_cov\" or \"w2\", got %s", tostring(kind)) end
  local guides = opts.guides or {}
  if type(feats[1]) == "table" then -- {layer = F} per image
    local out = {}
    for name in pairs(feats[1]) do
      local per, g = {}, {}
      for i, t in ipairs(feats) do
        per[i] = t[name] or fail("style_stats", "image %d lacks layer %s", i, name)
        g[i] = guides[i] and guides[i][name]
      end
      out[name] = M.style_stats(per, {weights = opts.weights, guides = g, kind = kind, eps = opts.eps})
    end
    return out
  end
  local given, w, total = opts.weights or {}, {}, 0
  for i = 1, #feats do
    w[i] = given[i] or (#given == 0 and 1 or nil)
    total = total + check.number("nst.loss.style_stats", "blend weight " .. i, w[i], {min = 0})
  end
  if total <= 0 then fail("style_stats", "blend weights sum to 0") end
  local stats, b, c1 = {}, {}, nil
  for i, F in ipairs(feats) do
    check.tensor("nst.loss.style_stats", "features " .. i, F)
    local _, c = positions(F)
    c1 = c1 or c
    if c ~= c1 then fail("style_stats", "image %d has %d channels, image 1 has %d", i, c, c1) end
    if guides[i] ~= nil then guide_of("style_stats", F, {guide = guides[i]}) end
    stats[i], b[i] = image_stats(F, guides[i], kind), w[i] / total
  end
  local T = blend(stats, b, kind)
  T.c = c1
  if kind ~= "gram" then T.mean_weight = 2 * T.mean:sumsq():item() end
  if kind == "w2" then w2_parts(T, check.number("nst.loss.style_stats", "eps", opts.eps or M.W2_EPS, {above = 0})) end
  return T
end

-- ---- the losses -------------------------------------------------------------------

-- Checks F against the target T of kind (at least) need; returns C, M, the guide, and the
-- Gatys factor scale/(4C²).
local function setup(fn, F, T, opts, need)
  check.tensor("nst.loss." .. fn, "features", F)
  if type(T) ~= "table" or not T.gram then fail(fn, "target must be a table from nst.loss.style_stats") end
  if need == "mean_cov" and not T.cov or need == "w2" and not T.root then
    fail(fn, "target was made for kind %s; %s needs style_stats{kind = \"%s\"}", T.kind, fn, need)
  end
  if opts ~= nil then check.keys("nst.loss." .. fn, opts, {guide = true, scale = true}) end
  local m, c = positions(F)
  if c ~= T.c then fail(fn, "the target has %d channels, the features %d", T.c, c) end
  local scale = opts and opts.scale or 1
  return c, m, guide_of(fn, F, opts), scale / (4 * c * c)
end

-- Gram loss (Gatys): scale · |Ĝ − Âs|² / (4C²); unguided this is nst.loss.style on the
-- target at this size. opts: guide (r of M.guide at this layer), scale (default 1).
function M.gram(F, T, opts)
  local _, m, r, s = setup("gram", F, T, opts, "gram")
  if not r then -- the one fused op: |F Fᵀ − M Âs|² / (4C²M²)
    T.at = T.at or {}
    T.at[m] = T.at[m] or T.gram * m
    return core.style_loss(F, T.at[m], opts and opts.scale or 1)
  end
  local G, fw = core.moments(F, r)
  local D = G:sub_(T.gram)
  local loss = D:sumsq():mul_(s)
  return loss, core.moments_backward(fw, r, D:mul_(2 * s))
end

-- Mean and covariance loss: scale · (|Σ − Σs|² + 2|μs|²·|μ − μs|²) / (4C²).
function M.mean_cov(F, T, opts)
  local _, _, r, s = setup("mean_cov", F, T, opts, "mean_cov")
  local cov, fc, mu = core.moments(F, r, true)
  local dS, dm = cov:sub_(T.cov), mu:sub_(T.mean)
  local loss = (dS:sumsq() + dm:sumsq() * T.mean_weight):mul_(s)
  return loss, core.moments_backward(fc, r, dS:mul_(2 * s), dm:mul_(2 * s * T.mean_weight))
end

-- Wasserstein-2 loss: scale · k · W2² / (4C²), W2² = |μ − μs|² + tr(Σ' + Σs' − 2(S Σ' S)^(1/2)),
-- Σ' = Σ + εI, Σs' = Σs + εI, S = Σs'^(1/2), k = |Âs|² / tr(Âs). dW2²/dΣ = I − S (S Σ' S)^(-1/2) S.
function M.w2(F, T, opts)
  local _, _, r, s = setup("w2", F, T, opts, "w2")
  local cov, fc, mu = core.moments(F, r, true)
  local d = mu:sub_(T.mean)
  cov:add_(T.eps_eye)
  local map, trX = core.w2_map(T.root, cov, T.floor) -- S (S Σ' S)^(-1/2) S, tr (S Σ' S)^(1/2)
  local ks = T.k * s
  local loss = (d:sumsq() + cov:dot(T.eye) + trX:mul_(-2):add_(T.trace)):mul_(ks)
  local dcov = (T.eye - map):mul_(ks)
  return loss, core.moments_backward(fc, r, dcov, d:mul_(2 * ks))
end

return M
