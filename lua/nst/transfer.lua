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
--   scale      the index of the scale being run (opts.schedule, nst.scales)
--   ema        the average of the iterates (nst.ema), when opts.ema > 0
local core = require("nst.core")
local vggmod = require("nst.vgg")
local options = require("nst.transfer_options")
local images = require("nst.transfer_images")
local terms = require("nst.terms")
local objective = require("nst.objective")
local loops = require("nst.transfer_loops")
local progress = require("nst.transfer_progress")
local run_state = require("nst.run_state")
local color = require("nst.color")
local ema = require("nst.ema")
local carry = require("nst.transfer_scales")
local masks = require("nst.masks")

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
-- every layer named, the style images' features (at style_size, style_scale times the
-- size of the scale), the masks at these sizes (nst.masks), and from them the terms.
-- content_d: the content as the network sees it (nst.color), on the device.
function M.build_objective(run, content_d, style_size)
  local o, net = run.opts, run.net
  local Fc = net:forward(content_d, objective.union(o.content_layers, o.style_layers))
  local Fs, style_hw = nil, {}
  if o.style_weight > 0 then
    local size = style_size or images.style_size(o)
    Fs = {}
    for i, s in ipairs(o.style_images) do
      local img = color.style(o, images.load(s, size), run.content)
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

-- Scale k of the run's schedule (nst.scales): the content image at its size (run.content,
-- on the CPU, in colour) and the objective's targets at its size. Returns the content as
-- the network sees it, on the device.
function M.at_scale(run, k)
  local o, e = run.opts, run.opts.schedule[k]
  run.scale = k
  run.content = images.content(o, e)
  check_size(run.net, objective.union(o.content_layers, o.style_layers), run.content, "the content image",
             o.content_image, function(n) return ("image_size %d or more"):format(n) end)
  local content_d = color.content(o, run.content):to(run.device)
  run.objective = M.build_objective(run, content_d, images.style_size(o, e.size))
  return content_d
end

-- A new run from checked options, at scale k (default 1) of its schedule: the network,
-- the content image, the objective, the start image.
function M.new_run(o, k)
  local net = o.net or vggmod.new(o.model, {weights = o.weights, pooling = o.pooling, device = o.device})
  local run = {opts = o, net = net, device = net.device, iteration = 0, history = progress.new_history(o)}
  local content_d = M.at_scale(run, k or 1)
  run.image = images.initial(o, run.content, content_d)
  return run
end

-- Runs the scales from the run's own to the last: at each, the optimizer's loop up to the
-- scale's last iteration; between two, the targets of the next scale and the iterate, the
-- moments and the average carried over (nst.transfer_scales).
function M.run_scales(run)
  local o = run.opts
  local sched = o.schedule
  for k = run.scale, #sched do
    if k > run.scale then
      M.at_scale(run, k)
      local s = run.content:shape()
      carry.carry(run, s[3], s[4])
    end
    loops[o.optimizer](run, sched[k].last)
  end
end

-- nst.transfer(opts) -> the output image (CPU, 1x3xHxW in [0,1]), the history. The
-- options and their defaults: nst.transfer_options.
function M.transfer(user)
  local o = options.check(user)
  -- a state to resume from is read before any work: a missing or broken one fails fast
  local saved = o.resume and run_state.read(o.resume == true and run_state.path_for(o.output) or o.resume)
  if o.seed then core.manual_seed(o.seed) end
  local run = M.new_run(o, saved and run_state.scale_of(saved, o) or 1)
  if saved then run_state.restore(run, saved) end
  progress.with_signals(o, function() M.run_scales(run) end)
  if o.output then progress.save(run, o.output) end
  return images.output(ema.image(run), run.content, o), run.history
end

setmetatable(M, {__call = function(_, opts) return M.transfer(opts) end})
return M
