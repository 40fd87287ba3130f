-- Spatial control of a transfer run (Gatys et al. 2017, "Controlling Perceptual Factors in
-- Neural Style Transfer"): the options
--   style_masks   one mask per style image, in the content image's frame: where that
--                 style applies (white), where not (black), a blend (grey)
--   style_guides  one per style image, in that image's frame: which part of it gives the
--                 style's statistics
--   content_mask  where the content term applies (e.g. a face kept close to the photo)
--   mask_mode     "simple" | "inside": how a mask follows the network (nst.loss.guide)
-- each a path (PNG, JPEG: grey, any size) or a tensor (H,W), (1,H,W), (1,1,H,W) or a grey
-- (1,3,H,W), values in [0,1]. M.check loads and checks them once, before any work (the
-- errors name the option and the file); M.at_size resamples them to the sizes of one
-- run of the network and takes them to its layers, so a multi-scale driver calls it once
-- per scale. The terms that use them: nst.terms_masked.
local core = require("nst.core")
local loss = require("nst.loss")

local M = {}

M.MODES = {simple = true, inside = true}

-- The options' messages start with the option's name ("style_masks: ..."); the CLI puts
-- a dash before it (nst.cli.error_message), which makes it the flag.
local function fail(opt, msg, ...) error(("nst.transfer: %s: " .. msg):format(opt, ...), 0) end

-- A mask channel from a loaded RGB image of a path differs by more than this between
-- channels in a colour image; a grey JPEG's chroma noise stays below it.
local GREY_TOLERANCE = 8 / 255

-- (1,3,H,W) CPU -> (1,1,H,W) when its three channels are one grey, else nil.
local function grey_of(img)
  local s = img:shape()
  local planes = img:reshape(3, s[3] * s[4])
  local r, g, b = planes:narrow(1, 1, 1), planes:narrow(1, 2, 1), planes:narrow(1, 3, 1)
  if (r - g):abs():max():item() > GREY_TOLERANCE or (g - b):abs():max():item() > GREY_TOLERANCE then
    return nil
  end
  return r:clone():reshape(1, 1, s[3], s[4])
end

-- A mask from a path: (1,1,H,W) on the CPU. what: for the messages (the path).
local function load_file(opt, path, role)
  local f, err = io.open(path, "rb")
  if not f then fail(opt, "cannot read %s", err) end
  f:close()
  local ok, img = pcall(core.image.load, path)
  if not ok then
    fail(opt, "%s is not a mask image: %s", path, (tostring(img):gsub("^image%.load: [^:]*: ", "")))
  end
  return grey_of(img) or fail(opt, "%s is a colour image; a mask is grey (white: %s, black: not, grey: a blend)",
                               path, role)
end

-- A mask from a tensor, as (1,1,H,W) on the CPU.
local function from_tensor(opt, t, name)
  local s = type(t) == "userdata" and select(2, pcall(t.shape, t))
  if type(s) ~= "table" then fail(opt, "%s must be an image path or a tensor, got %s", name, type(t)) end
  local n, m = #s, nil
  if n == 2 then m = t:reshape(1, 1, s[1], s[2])
  elseif n == 3 and s[1] == 1 then m = t:reshape(1, 1, s[2], s[3])
  elseif n == 4 and s[1] == 1 and s[2] == 1 then m = t
  elseif n == 4 and s[1] == 1 and s[2] == 3 then m = grey_of(t:cpu())
  end
  if not m then
    fail(opt, "%s must be a grey mask (H,W), (1,H,W), (1,1,H,W) or (1,3,H,W) with equal channels, got %s",
         name, table.concat(s, "x"))
  end
  m = m:cpu():clone()
  local lo, hi = m:min():item(), m:max():item()
  if not (lo >= 0 and hi <= 1) then fail(opt, "%s has values from %g to %g; a mask is in [0, 1]", name, lo, hi) end
  return m
end

-- One mask of option opt (item i of a list, or nil for one): (1,1,H,W), never all
-- black, and its name in messages (the path, or "mask <i>").
local function load_one(opt, src, i, role, nowhere)
  local name = type(src) == "string" and src or (i and ("mask %d"):format(i) or "the mask")
  local m = type(src) == "string" and load_file(opt, src, role) or from_tensor(opt, src, name)
  if not (m:max():item() > 0) then fail(opt, "%s is all black (%s)", name, nowhere) end
  return m, name
end

-- A list option: one per style image (a single path or tensor counts as a list of one).
local function load_list(opt, v, count, role, nowhere)
  if type(v) == "string" or type(v) == "userdata" then v = {v} end
  if type(v) ~= "table" then fail(opt, "expected a list of image paths or tensors, got %s", type(v)) end
  if #v ~= count then
    fail(opt, "%d %s for %d style image%s (one per style image, in their order)", #v,
         #v == 1 and "mask" or "masks", count, count == 1 and "" or "s")
  end
  local out, names = {}, {}
  for i, src in ipairs(v) do out[i], names[i] = load_one(opt, src, i, role, nowhere(i)) end
  return out, names
end

-- The sets loaded by M.check, by the checked options table (M.of finds them again).
local loaded = setmetatable({}, {__mode = "k"})

-- The masks of checked options o (nil when none is given): {style = {(1,1,H,W)...},
-- guides = {...}, content = (1,1,H,W), mode, names = {style = {...}, guides = {...}}},
-- loaded and checked; errors before any work.
-- (1,1,h,w): 1 on the left half (side "left") or the right half, 0 elsewhere: the hard
-- two-halves mask of the examples and specs.
function M.half(h, w, side)
  local v = {}
  for _ = 1, h do
    for x = 1, w do v[#v + 1] = ((x <= w / 2) == (side == "left")) and 1 or 0 end
  end
  return core.tensor(v):reshape(1, 1, h, w)
end

function M.check(o)
  loaded[o] = M.load(o) or false
  return loaded[o] or nil
end

-- The set of options o: the one M.check loaded, else loaded now.
function M.of(o)
  if loaded[o] == nil then return M.check(o) end
  return loaded[o] or nil
end

function M.load(o)
  local mode = o.mask_mode or "simple"
  if not M.MODES[mode] then
    fail("mask_mode", "expected \"simple\" or \"inside\", got %s", tostring(mode))
  end
  if o.style_masks == nil and o.style_guides == nil and o.content_mask == nil then return nil end
  local set, n = {mode = mode, names = {}}, #o.style_images
  if o.style_masks ~= nil then
    set.style, set.names.style = load_list("style_masks", o.style_masks, n, "the style applies",
                          function() return "the style would apply nowhere" end)
  end
  if o.style_guides ~= nil then
    set.guides, set.names.guides = load_list("style_guides", o.style_guides, n, "the statistics come from there",
                           function(i) return ("no part of style image %d to take the statistics from"):format(i) end)
  end
  if o.content_mask ~= nil then
    set.content = load_one("content_mask", o.content_mask, nil, "the content term applies",
                           "the content term would apply nowhere")
  end
  return set
end

-- m (1,1,H,W) resampled to h×w (the image's triangle filter), kept in [0,1].
local function resized(m, h, w)
  local s = m:shape()
  if s[3] == h and s[4] == w then return m end
  return core.image.resize(m, {h, w}):clamp(0, 1)
end

-- nst.loss.guide with the error in the option's words.
local function guide(opt, name, net, m, layers, mode)
  local ok, g = pcall(loss.guide, net, m, layers, {mode = mode})
  if not ok then
    local s = m:shape()
    fail(opt, "%s at %dx%d: %s", name, s[4], s[3], (tostring(g):gsub("^nst%.loss%.guide: ", "")))
  end
  return g
end

-- The mask m (1,1,H,W) on the network's device at each of layers, unnormalized: averaged
-- over each pooling layer's window, as the features are down-sampled ({layer = (1,1,h,w)}).
function M.at_layers(net, m, layers)
  return loss.guide(net, m, layers, {normalize = false})
end

-- The masks of set (M.check) for one run of the network: the generated image h×w, the
-- style images' sizes style_hw ({{h, w}, ...}), the options o (layers, sources). Returns
-- {style = {{layer = r}...}: each style's guide on the generated image (nst.loss.guide);
-- share = {...}: the mean of each mask's square at h×w (what its region weighs, see
-- nst.terms_masked); source = {{layer = r}...}: the style images' guides; content =
-- {layer = (1,1,h_l,w_l)}: the content mask at the content layers}, or nil for no set.
function M.at_size(set, net, o, h, w, style_hw)
  if not set then return nil end
  local out = {}
  if set.style then
    out.style, out.share = {}, {}
    for k, m in ipairs(set.style) do
      local r = resized(m, h, w)
      out.share[k] = r:sumsq():item() / r:numel()
      out.style[k] = guide("style_masks", set.names.style[k], net, r, o.style_layers, set.mode)
    end
  end
  if set.guides then
    out.source = {}
    for k, m in ipairs(set.guides) do
      local r = resized(m, style_hw[k][1], style_hw[k][2])
      out.source[k] = guide("style_guides", set.names.guides[k], net, r, o.style_layers, set.mode)
    end
  end
  if set.content then out.content = M.at_layers(net, resized(set.content, h, w), o.content_layers) end
  return out
end

-- The masks' part of a run's definition (nst.run_state): {key = input} for each mask
-- given, the keys "style_mask <i>", "style_guide <i>", "content_mask".
function M.inputs(o)
  local out = {}
  local function list(key, v)
    if v == nil then return end
    if type(v) ~= "table" then v = {v} end
    for i, x in ipairs(v) do out[key .. " " .. i] = x end
  end
  list("style_mask", o.style_masks)
  list("style_guide", o.style_guides)
  if o.content_mask ~= nil then out.content_mask = o.content_mask end
  return out
end

return M
