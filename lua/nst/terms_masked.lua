-- The transfer's terms under masks (nst.masks, at one size): the style term with one
-- region per style image, and the content term under the content mask. nst.terms calls
-- these when a run has masks; the terms have the same names, layers and weights as the
-- unmasked ones, so the history, the plots and normalize_gradients see no difference.
local loss = require("nst.loss")

local M = {}

-- Each style k's weight in the sum: β_k · s_k, β_k = K · b_k / Σb (the blend weights,
-- 1 each by default) and s_k the mean of mask k² over the image (g.share). A guided loss
-- averages over its region (Σ w_i = 1, w_i ∝ m_i²), so weighing it by s_k gives each
-- position the pull of an unmasked run of one style: regions that cover the image once
-- (two halves) keep the unmasked balance of style and content, and a mask of all ones
-- is the unmasked term. Without masks (style_guides alone) there is one region, β = 1.
local function region_weights(o, g, n)
  local b, total = {}, 0
  for k = 1, n do
    b[k] = o.style_blend_weights and o.style_blend_weights[k] or 1
    total = total + b[k]
  end
  for k = 1, n do b[k] = n * b[k] / total * (g.share and g.share[k] or 1) end
  return b
end

-- The targets of style image k at every style layer, under its source guide if any.
local function targets(o, Fs, g, k)
  local T = {}
  for _, l in ipairs(o.style_layers) do
    local src = g.source and g.source[k] and g.source[k][l]
    T[l] = loss.style_stats({Fs[k][l]}, {kind = o.style_loss, guides = {src}})
  end
  return T
end

-- Style masks: Σ_k β_k s_k · E_kind(F under guide k; style k's statistics) per layer,
-- times factor(C) (the normalization's; see nst.terms.style_stats) and weights[l].
-- Without style masks but with style guides: the one blended target, each style image's
-- statistics taken under its guide, and the generated image unguided.
function M.style(o, Fs, g, weights, factor)
  local fn = loss[o.style_loss]
  if not g.style then
    local T = {}
    for _, l in ipairs(o.style_layers) do
      local per, src = {}, {}
      for k = 1, #Fs do per[k], src[k] = Fs[k][l], g.source[k][l] end
      T[l] = loss.style_stats(per, {weights = o.style_blend_weights, kind = o.style_loss, guides = src})
    end
    return {name = "style", layers = o.style_layers, weight = weights, per_layer = true,
            loss = function(F, layer)
              local _, c = loss.positions(F)
              return fn(F, T[layer], {scale = factor(c)})
            end}
  end
  local T, b = {}, region_weights(o, g, #Fs)
  for k = 1, #Fs do T[k] = targets(o, Fs, g, k) end
  return {name = "style", layers = o.style_layers, weight = weights, per_layer = true,
          loss = function(F, layer)
            local _, c = loss.positions(F)
            local total, grad
            for k = 1, #Fs do
              if b[k] > 0 then
                local l, d = fn(F, T[k][layer], {scale = factor(c) * b[k], guide = g.style[k][layer]})
                if total then
                  total:add_(l)
                  grad:add_(d)
                  l:close()
                  d:close()
                else
                  total, grad = l, d
                end
              end
            end
            return total, grad
          end}
end

-- The content term under the content mask c ({layer = (1,1,h,w)}, nst.masks.at_layers):
-- Σ c·(F − P)² over the layer's elements, as a mean over all of them (mean = true; the
-- masked positions count in the mean, so an all-ones mask is the unmasked term) or
-- halved (½Σ, Gatys's unnormalized form), weight w[l] at each layer. One pass of the
-- core's masked squared difference (core.temporal_loss, also the temporal term's).
function M.content(P, layers, w, c, mean)
  local opts = mean and {reduction = "mean"} or {reduction = "sum", weight = 0.5}
  return {name = "content", layers = layers, weight = w,
          loss = function(F, layer) return loss.temporal(F, P[layer], c[layer], opts) end}
end

return M
