-- The loss terms of the transfer objective (see nst.objective for how they are summed).
-- A term is a table
--   name       its key in the history and in an evaluation's parts ("content", "style", ...)
--   layers     the feature layers it reads; nil for a term on the image itself
--   weight     its weight: a number, or {layer = number} for a term with layers
--   per_layer  true: the history keeps one value per layer ({layer = v}), else their sum
--   loss       function(input, layer) -> loss (a device scalar), gradient w.r.t. input,
--              both unweighted; input is the features at `layer`, or the image (N,3,H,W)
--              for a term without layers
-- A constructor here builds a term from its targets and weights; from_options lists the
-- terms a run's options ask for.
local loss = require "nst.loss"

local M = {}

-- content_weight · mean((F − P)²) summed over the content layers, divided by their count
-- (mean = false: ½Σ(F − P)²). P: {layer = target features}.
function M.content(P, layers, weight, mean)
  local w, opts = {}, mean and {mean = true} or nil
  for _, l in ipairs(layers) do w[l] = weight / #layers end
  return {name = "content", layers = layers, weight = w,
          loss = function(F, layer) return loss.content(F, P[layer], opts) end}
end

-- Σ_l w_l · |G_l − A_l|² / (4 C_l² M_l²). A: {layer = target Gram}; weights: {layer = w_l}.
function M.style(A, layers, weights)
  return {name = "style", layers = layers, weight = weights, per_layer = true,
          loss = function(F, layer) return loss.style(F, A[layer]) end}
end

-- weight · TV(image), kind "squared" or "l1" (see nst.loss.tv).
function M.tv(weight, kind)
  return {name = "tv", weight = weight, loss = function(x) return loss.tv(x, kind) end}
end

-- Blended style Grams at each style layer, at the generated image's size (its features
-- Fc give the number of positions). Fs: one {layer = features} per style image.
function M.style_targets(o, Fs, Fc)
  local A = {}
  for _, l in ipairs(o.style_layers) do
    local per = {}
    for i = 1, #Fs do per[i] = Fs[i][l] end
    A[l] = loss.style_target(per, o.style_blend_weights, (loss.positions(Fc[l])))
  end
  return A
end

-- style_weight split over the style layers: by layer_weights, else equally.
local function style_weights(o)
  local w = {}
  for i, l in ipairs(o.style_layers) do
    w[l] = o.style_weight * (o.layer_weights and o.layer_weights[i] or 1 / #o.style_layers)
  end
  return w
end

-- The terms of Gatys et al. that the options ask for (those with a weight > 0).
-- Fc: the content image's features at the content and style layers; Fs: the style
-- images' features (nil when style_weight is 0).
function M.from_options(o, Fc, Fs)
  local list = {}
  if o.content_weight / #o.content_layers > 0 then
    local P = {}
    for _, l in ipairs(o.content_layers) do P[l] = Fc[l] end
    list[#list + 1] = M.content(P, o.content_layers, o.content_weight, o.content_mean ~= false)
  end
  if o.style_weight > 0 then
    list[#list + 1] = M.style(M.style_targets(o, Fs, Fc), o.style_layers, style_weights(o))
  end
  if o.tv_weight > 0 then list[#list + 1] = M.tv(o.tv_weight, o.tv_kind) end
  return list
end

return M
