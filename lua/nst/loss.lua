-- Losses of the Gatys algorithm (the style losses beyond it: nst.loss_style, merged in
-- here). Each returns (loss, grad): the loss a device scalar (a
-- 1-element tensor on the input's device, never read back here) and the gradient
-- w.r.t. the first argument. The arithmetic is in the C core (nst.mse_loss, ...).
local core = require("nst.core")
local check = require("nst.check")

local M = {}

local function check_tensor(fn, what, t)
  if type(t) ~= "userdata" or not pcall(t.numel, t) then
    error(("nst.loss.%s: %s must be an nst tensor, got %s"):format(fn, what, type(t)), 3)
  end
end

-- Content loss: ½·Σ(F−P)² (Gatys), or with {mean = true} the mean squared error
-- Σ(F−P)²/n (torch's F.mse_loss), whose gradient is 2(F−P)/n.
function M.content(F, P, opts)
  check_tensor("content", "features", F)
  check_tensor("content", "target", P)
  local scale = 1
  if opts and opts.mean then scale = 2 / F:numel() end
  return core.mse_loss(F, P, scale)
end

-- Style loss of one layer: E = Σ(G−A)² / (4 C² M²), G = F·Fᵀ the Gram matrix of F
-- (1,C,H,W) or (C,H,W), M = H·W, A the target Gram (C,C) at the same M (see
-- style_target for targets from images of another size).
function M.style(F, A)
  check_tensor("style", "features", F)
  check_tensor("style", "target Gram matrix", A)
  return core.style_loss(F, A, 1)
end

-- neural-style's TVLoss form: Σ_{i<H−1, j<W−1} [(x_{i,j+1} − x_{i,j})² + (x_{i+1,j} − x_{i,j})²],
-- i.e. the squared form less the last row's horizontal and the last column's vertical
-- differences, which are taken off here by views of x and of the gradient.
local function tv_corner(x)
  local s = x:shape()
  local planes, h, w = s[1] * s[2], s[3], s[4]
  local loss, g = core.tv_loss(x, "squared", 1)
  local rows, grows = x:reshape(planes * h, w), g:reshape(planes * h, w)
  for p = 1, planes do -- the last row of each plane
    local r <close> = rows:narrow(1, p * h, 1):reshape(1, 1, 1, w)
    local lr, gr = core.tv_loss(r, "squared", 1)
    loss:sub_(lr)
    grows:narrow(1, p * h, 1):sub_(gr:reshape(1, w))
    lr:close()
    gr:close()
  end
  -- the last column of each plane, as rows x·e with e the last unit vector (W,1)
  local e <close> = core.zeros({w, 1}, {device = x:device()})
  e:narrow(1, w, 1):fill(1)
  local col <close> = core.matmul(rows, e)
  local lc, gc = core.tv_loss(col:reshape(planes, 1, 1, h), "squared", 1)
  loss:sub_(lc)
  local back <close> = core.matmul(gc:reshape(planes * h, 1), e:reshape(1, w))
  grows:sub_(back)
  lc:close()
  gc:close()
  return loss, g
end

-- Total variation of an image (N,C,H,W): Σ over forward differences, squared (default),
-- absolute ("l1"), or neural-style's "corner" form (squared, over the (H−1)×(W−1) corner).
function M.tv(x, kind)
  check_tensor("tv", "image", x)
  kind = kind or "squared"
  if kind == "corner" then return tv_corner(x) end
  if kind ~= "squared" and kind ~= "l1" then
    error(("nst.loss.tv: kind must be \"squared\", \"l1\" or \"corner\", got %s"):format(tostring(kind)), 2)
  end
  return core.tv_loss(x, kind, 1)
end

-- Temporal loss (Ruder et al., "Artistic style transfer for videos"): the image x
-- (N,C,H,W) against w, the previous stylized frame warped onto x's frame (nst.warp), with
-- per-pixel weights c (N,1,H,W) or (N,C,H,W), e.g. nst.flow_consistency's mask, or nil
-- for all ones. opts.reduction "mean" (default, Ruder's): weight · Σ c·(x−w)² / D with
-- D = N·C·H·W, masked pixels included in D; "sum": weight · Σ c·(x−w)². Gradient
-- 2·weight·c·(x−w) (/ D for "mean"). opts.weight defaults to 1.
function M.temporal(x, w, c, opts)
  check_tensor("temporal", "image", x)
  check_tensor("temporal", "warped previous frame", w)
  if c ~= nil then check_tensor("temporal", "mask", c) end
  opts = opts or {}
  check.keys("nst.loss.temporal", opts, {weight = true, reduction = true})
  local weight, reduction = opts.weight or 1, opts.reduction or "mean"
  check.number("nst.loss.temporal", "weight", weight, {})
  if reduction ~= "mean" and reduction ~= "sum" then
    error(("nst.loss.temporal: reduction must be \"mean\" or \"sum\", got %s"):format(tostring(reduction)), 2)
  end
  return core.temporal_loss(x, w, c, reduction == "mean" and weight / x:numel() or weight)
end

-- The style losses of nst.loss_style (gram, mean_cov, w2, their targets style_stats,
-- guides), and positions(F): the number of positions H·W and the channels C of features.
for k, v in pairs(require "nst.loss_style") do M[k] = v end
local positions = M.positions

-- Gram target blended over several style images: Σ w_i G_i / Σ w_i, a (C,C) tensor.
-- feats: a list of feature tensors (one per style image, same layer), or a list of
-- tables {layer = features} (one per image; then the result is {layer = Gram}).
-- weights: a list of blend weights (default all equal). m: the number of positions
-- (H·W) of the image the target will be compared with; each G_i is rescaled from its
-- own M_i to m so that style images of another size give a target on the same
-- footing (default: M of the first image, i.e. no rescaling for equal sizes).
function M.style_target(feats, weights, m)
  if type(feats) ~= "table" or #feats == 0 then
    error("nst.loss.style_target: expected a non-empty list of feature tensors (one per style image)", 2)
  end
  if type(feats[1]) == "table" then -- {layer = F} per image -> {layer = Gram}
    local out = {}
    for name in pairs(feats[1]) do
      local per = {}
      for i, t in ipairs(feats) do
        per[i] = t[name] or error(("nst.loss.style_target: image %d lacks layer %s"):format(i, name), 2)
      end
      out[name] = M.style_target(per, weights, type(m) == "table" and m[name] or m)
    end
    return out
  end
  local n = #feats
  weights = weights or {}
  local total = 0
  for i = 1, n do
    local w = weights[i] or (#weights == 0 and 1 or nil)
    total = total + check.number("nst.loss.style_target", "blend weight " .. i, w, {min = 0, level = 2})
  end
  if total <= 0 then error("nst.loss.style_target: blend weights sum to 0", 2) end
  m = m or positions(feats[1])
  local A, c1
  for i, F in ipairs(feats) do
    check_tensor("style_target", "features " .. i, F)
    local mi, c = positions(F)
    local w = weights[i] or 1
    -- G_i scaled to m positions, weighted: (w_i / Σw) · (m / M_i) · F_i F_iᵀ
    local G = core.gram(F, (w / total) * (m / mi)):reshape(c, c)
    if A then
      if G:numel() ~= A:numel() then
        error(("nst.loss.style_target: image %d has %d channels, image 1 has %d"):format(i, c, c1), 2)
      end
      A:add_(G)
    else
      A, c1 = G, c
    end
  end
  return A
end

return M
