-- The images of a transfer run: loading the inputs, the start image, and the output
-- (what a checkpoint and the result hold).
local core = require("nst.core")

local M = {}

-- path or tensor -> (1,3,H,W) CPU tensor, longer side `size` (nil: as is)
function M.load(img, size)
  if type(img) == "string" then return core.image.load(img, size and {size = size} or nil) end
  if size then return core.image.resize(img:cpu(), size) end
  return img:cpu()
end

-- The longer side of the style images: style_scale times the output's, or the given
-- size's (a scale of a coarse-to-fine run); nil: as loaded.
function M.style_size(o, size)
  size = size or o.image_size
  return size and math.max(1, math.floor(size * o.style_scale + 0.5))
end

-- The content image at scale e of the schedule (nst.scales: {size, h, w}): loaded at
-- its longer side e.size, or at exactly e.h x e.w for an output of a given W x H. A run
-- without a content image (a texture) has a mid-grey one of that size.
function M.content(o, e)
  if o.content_image == nil then return core.full({1, 3, e.h or e.size, e.w or e.size}, 0.5) end
  local img = M.load(o.content_image, e.size)
  if e.h then
    local s = img:shape()
    if s[3] ~= e.h or s[4] ~= e.w then img = core.image.resize(img, {e.h, e.w}) end
  end
  return img
end

-- The image the optimization starts from, on the content's device, at the content's
-- size. content: the CPU content image; content_d: the same on the device.
function M.initial(o, content, content_d)
  local shape, dev = content:shape(), content_d:device()
  if o.init == "content" then return content_d:clone() end
  if o.init == "noise" then
    return (core.randn(shape, {device = dev}) * o.noise_std + 0.5):clamp(0, 1)
  end
  local from = o.init == "style" and o.style_images[1] or o.init_image
  return core.image.resize(M.load(from), {shape[3], shape[4]}):to(dev)
end

local FORMATS = {png = true, jpg = true, jpeg = true}

-- The output's name, checked before any work: its format from the extension (none: .png
-- is appended), its folder one that exists and takes a new file. Returns the name;
-- raises "<name>: <what is wrong>".
function M.check_output(path)
  if type(path) ~= "string" or path == "" then error("expected a file name, got " .. tostring(path), 0) end
  local dir, file = path:match("^(.*)/([^/]*)$")
  if not dir then dir, file = ".", path end
  if dir == "" then dir = "/" end
  if file == "" or file == "." or file == ".." then error(("%s: names a folder, not an image file"):format(path), 0) end
  local ext = file:match("^.+%.([^.]+)$")
  if not ext then
    path = path .. ".png"
  elseif not FORMATS[ext:lower()] then
    error(("%s: unknown image format '.%s' (use .png, .jpg or .jpeg)"):format(path, ext), 0)
  end
  local probe = ("%s/.nst-probe-%d-%d"):format(dir, os.time(), math.random(1 << 30))
  local f, err = io.open(probe, "wb")
  if not f then
    error(("%s: cannot write in folder %s: %s"):format(path, dir, (err:gsub("^.*: ", ""))), 0)
  end
  f:close()
  os.remove(probe)
  return path
end

-- The iterate as an output image: on the CPU, in [0,1], with the content's colours when
-- the options ask for them.
function M.output(img, content, o)
  local out = img:cpu():clamp(0, 1)
  if o.original_colors or o.color == "luminance" then out = core.image.original_colors(content, out) end
  return out
end

return M
