-- nst.transfer(opts): the Gatys et al. loop. Features of the content image at the
-- content layers and blended Gram matrices of the style images at the style layers are
-- the targets; the image is optimized on the weighted sum of the terms of
-- opts.normalization (nst.terms; the formulas: README.md, "What the weights mean"):
--   neural_style (default)  neural_style.lua's: content_weight · Σ mean((F − P)²),
--                           style_weight · Σ mean((G − A)²) with G = F·Fᵀ/(C·H·W), its TVLoss
--   gatys                   content_weight · mean over layers of mean((F − P)²),
--                           style_weight · Σ_l w_l · |G_l − A_l|² / (4 C_l² M_l²), Σ squared TV
-- Both stay put when the image size changes (but for TV, a sum over pixels).
-- Images are RGB in [0,1]; the Adam learning rate is in 8-bit grey levels (lr 1 moves a
-- pixel by about 1/255 per step), as in the reference implementations that optimize
-- 0..255 images. L-BFGS's learning_rate is its plain step factor (1).
--
-- A run is a table passed between the named steps below (see lua/README.md):
--   opts       the checked options (nst.transfer_options)
--   net, device  the VGG and its device
--   content    the content image on the CPU, at the output's size
--   objective  the loss terms and the layers they read (nst.objective)
--   image      the iterate, on the device, moved in place by the optimizer
--   iteration  the last iteration done (0 before the first)
--   adam / lbfgs  the optimizer's state (Adam's moments and step; L-BFGS's history)
--   history    the recorded rows (nst.transfer_progress)
local core = require "nst.core"
local vggmod = require "nst.vgg"
local options = require "nst.transfer_options"
local images = require "nst.transfer_images"
local terms = require "nst.terms"
local objective = require "nst.objective"
local loops = require "nst.transfer_loops"
local progress = require "nst.transfer_progress"
local run_state = require "nst.run_state"
local masks = require "nst.masks"

local M = {}

M.checkpoint_name = progress.checkpoint_name

-- Raises a clear message when an input image is too small for the deepest layer used.
-- what: "the content image" or "style image i"; src: its path (or a tensor); hint(n):
-- what would work for a longer side of n pixels.
local function check_size(net, layers, img, what, src, hint)
  if not net.min_size then return end
  local need, layer = net:min_size(layers)
  local s = img:shape()
  local h, w = s[3], s[4]
  if h >= need and w >= need then return end
  local name = type(src) == "string" and " " .. src or ""
  error(("nst.transfer: %s%s is %dx%d pixels at this size; layer %s needs at least %dx%d (%s)")
    :format(what, name, w, h, layer, need, need, hint(math.ceil(need * math.max(h, w) / math.min(h, w)))), 0)
end

-- The objective of the run at the content image's size: the content image's features at
-- every layer named, the style images' features (at style_scale times the size), the
-- masks at these sizes (nst.masks), and from them the terms.
function M.build_objective(run, content_d)
  local o, net = run.opts, run.net
  local Fc = net:forward(content_d, objective.union(o.content_layers, o.style_layers))
  local Fs, style_hw = nil, {}
  if o.style_weight > 0 then
    local size = images.style_size(o)
    Fs = {}
    for i, s in ipairs(o.style_images) do
      local img = images.load(s, size)
      check_size(net, o.style_layers, img, "style image " .. i, s, function(n)
        return o.image_size and ("style_scale %.3g or more"):format(n / o.image_size) or "a larger image"
      end)
      Fs[i] = net:forward(img:to(run.device), o.style_layers)
      style_hw[i] = {img:shape()[3], img:shape()[4]}
    end
  end
  local cs = content_d:shape()
  local g = masks.at_size(masks.of(o), net, o, cs[3], cs[4], style_hw)
  return objective.new(terms.from_options(o, Fc, Fs, net, g))
end

-- A new run from checked options: the network, the content image, the objective, the
-- start image.
function M.new_run(o)
  local net = o.net or vggmod.new(o.model, {weights = o.weights, pooling = o.pooling, device = o.device})
  local run = {opts = o, net = net, device = net.device, iteration = 0, history = progress.new_history(o)}
  run.content = images.load(o.content_image, o.image_size)
  check_size(net, objective.union(o.content_layers, o.style_layers), run.content, "the content image",
             o.content_image, function(n) return ("image_size %d or more"):format(n) end)
  local content_d = run.content:to(run.device)
  run.objective = M.build_objective(run, content_d)
  run.image = images.initial(o, run.content, content_d)
  return run
end

-- nst.transfer(opts) -> the output image (CPU, 1x3xHxW in [0,1]), the history. The
-- options and their defaults: nst.transfer_options.
function M.transfer(user)
  local o = options.check(user)
  -- a state to resume from is read before any work: a missing or broken one fails fast
  local saved = o.resume and run_state.read(o.resume == true and run_state.path_for(o.output) or o.resume)
  if o.seed then core.manual_seed(o.seed) end
  local run = M.new_run(o)
  if saved then run_state.restore(run, saved) end
  progress.with_signals(o, function() loops[o.optimizer](run) end)
  if o.output then progress.save(run, o.output) end
  return images.output(run.image, run.content, o), run.history
end

setmetatable(M, {__call = function(_, opts) return M.transfer(opts) end})
return M
