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
-- terms a run's options ask for, in one of two normalizations (M.normalizations).
local loss = require("nst.loss")
local core = require("nst.core")
local masked = require("nst.terms_masked")

local M = {}

-- content_weight · mean((F − P)²) summed over the content layers, divided by their count
-- (mean = false: ½Σ(F − P)²). P: {layer = target features}. mask: nil, or the content
-- mask at each layer (nst.masks.at_layers; then nst.terms_masked.content).
function M.content(P, layers, weight, mean, mask)
  local w, opts = {}, mean and {mean = true} or nil
  for _, l in ipairs(layers) do w[l] = weight / #layers end
  if mask then return masked.content(P, layers, w, mask, mean) end
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

-- neural-style's content term: weight · mean((F − P)²) at each content layer, the full
-- weight at every layer (nn.MSECriterion). P: {layer = target features}; mask as M.content's.
function M.content_ns(P, layers, weight, mask)
  local w = {}
  for _, l in ipairs(layers) do w[l] = weight end
  if mask then return masked.content(P, layers, w, mask, true) end
  return {name = "content", layers = layers, weight = w,
          loss = function(F, layer) return loss.content(F, P[layer], {mean = true}) end}
end

-- neural-style's style term: per layer weights[l] · mean((G − A)²) over the C×C entries,
-- G = F·Fᵀ / (C·H·W) and A the blended target on the same footing. With the core's
-- E = Σ(F·Fᵀ − A')² / (4C²M²) (A' = C·M·A) that is (4 / C²) · E; the factor is part of the
-- loss, not of the weight, so that normalize_gradients sees the weight alone as there.
function M.style_ns(A, layers, weights)
  return {name = "style", layers = layers, weight = weights, per_layer = true,
          loss = function(F, layer)
            local _, c = loss.positions(F)
            return core.style_loss(F, A[layer], 4 / (c * c))
          end}
end

-- neural-style's TVLoss: weight · ½ Σ_{i<H−1, j<W−1} [(x_{i,j+1} − x_{i,j})² + (x_{i+1,j} − x_{i,j})²]
-- on the network's input x = net:preprocess(image) (caffe weights: BGR, 0..255, mean
-- subtracted), the gradient taken back to the image.
function M.tv_ns(weight, net)
  return {name = "tv", weight = weight, loss = function(img)
    local x <close> = net:preprocess(img)
    local value, g = loss.tv(x, "corner")
    value:mul_(0.5)
    local dx <close> = g
    return value, net:input_grad(dx, 0.5)
  end}
end

-- Ruder et al.'s temporal term (video): weight · Σ c·(x' − w')² / D on the network's
-- input x' = net:preprocess(image) (caffe weights: 0..255, as artistic-videos' loss), w'
-- the same of w, the previous stylized frame warped onto this one (1,3,H,W), c the
-- consistency mask (1,1,H,W; nil: all ones), D = 3·H·W; the gradient taken back to the image.
function M.temporal(w, c, weight, net)
  local wp = net:preprocess(w:to(net.device))
  local cd = c and c:to(net.device)
  return {name = "temporal", weight = weight, loss = function(img)
    local x <close> = net:preprocess(img)
    local value, g = loss.temporal(x, wp, cd)
    local dx <close> = g
    return value, net:input_grad(dx)
  end}
end

local function add_temporal(o, list, net)
  if (o.temporal_weight or 0) > 0 then
    list[#list + 1] = M.temporal(o.temporal_image, o.temporal_mask, o.temporal_weight, net)
  end
  return list
end

-- A style term of kind "gram", "mean_cov" or "w2" (nst.loss's functions of that name) on
-- targets T {layer = nst.loss.style_stats}: Σ_l weights[l] · factor(C_l) · loss_l, factor
-- the normalization's (1: Gatys's; 4/C²: neural-style's, as style_ns). guides: nil, or
-- {layer = r} (nst.loss.guide) on the generated image; name: "style" by default.
function M.style_stats(kind, T, layers, weights, factor, guides, name)
  local fn = loss[kind]
  return {name = name or "style", layers = layers, weight = weights, per_layer = true,
          loss = function(F, layer)
            local _, c = loss.positions(F)
            return fn(F, T[layer], {scale = factor(c), guide = guides and guides[layer]})
          end}
end

-- The targets of style_loss o.style_loss (mean_cov or w2) at each style layer, blended over
-- the style images by style_blend_weights. Fs: one {layer = features} per style image.
function M.style_stats_targets(o, Fs)
  local T = {}
  for _, l in ipairs(o.style_layers) do
    local per = {}
    for i = 1, #Fs do per[i] = Fs[i][l] end
    T[l] = loss.style_stats(per, {weights = o.style_blend_weights, kind = o.style_loss})
  end
  return T
end

local function gatys_factor() return 1 end
local function ns_factor(c) return 4 / (c * c) end

-- The style term of the options: Gram matrices as before, or the statistics of o.style_loss;
-- with style masks or guides (g, nst.masks.at_size), nst.terms_masked's.
local function style_term(o, Fs, Fc, weights, ns, g)
  if g and (g.style or g.source) then
    return masked.style(o, Fs, g, weights, ns and ns_factor or gatys_factor)
  end
  if o.style_loss == "mean_cov" or o.style_loss == "w2" then
    return M.style_stats(o.style_loss, M.style_stats_targets(o, Fs), o.style_layers, weights,
                         ns and ns_factor or gatys_factor)
  end
  local A = M.style_targets(o, Fs, Fc)
  return ns and M.style_ns(A, o.style_layers, weights) or M.style(A, o.style_layers, weights)
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

-- neural-style's weights: style_weight at every style layer (times layer_weights[i]).
local function style_weights_ns(o)
  local w = {}
  for i, l in ipairs(o.style_layers) do w[l] = o.style_weight * (o.layer_weights and o.layer_weights[i] or 1) end
  return w
end

local function from_options_ns(o, Fc, Fs, net, g)
  local list = {}
  if o.content_weight > 0 then
    local P = {}
    for _, l in ipairs(o.content_layers) do P[l] = Fc[l] end
    list[#list + 1] = M.content_ns(P, o.content_layers, o.content_weight, g and g.content)
  end
  if o.style_weight > 0 then
    list[#list + 1] = style_term(o, Fs, Fc, style_weights_ns(o), true, g)
  end
  if o.tv_weight > 0 then list[#list + 1] = M.tv_ns(o.tv_weight, net) end
  return add_temporal(o, list, net)
end

-- The terms that the options ask for (those with a weight > 0), in the options'
-- normalization. Fc: the content image's features at the content and style layers; Fs:
-- the style images' features (nil when style_weight is 0); net: the network (its input
-- convention, for neural-style's TV); g: the run's masks at this size (nst.masks.at_size) or nil.
function M.from_options(o, Fc, Fs, net, g)
  if o.normalization == "neural_style" then return from_options_ns(o, Fc, Fs, net, g) end
  local list = {}
  if o.content_weight / #o.content_layers > 0 then
    local P = {}
    for _, l in ipairs(o.content_layers) do P[l] = Fc[l] end
    list[#list + 1] = M.content(P, o.content_layers, o.content_weight, o.content_mean ~= false, g and g.content)
  end
  if o.style_weight > 0 then
    list[#list + 1] = style_term(o, Fs, Fc, style_weights(o), false, g)
  end
  if o.tv_weight > 0 then list[#list + 1] = M.tv(o.tv_weight, o.tv_kind) end
  return add_temporal(o, list, net)
end

return M
