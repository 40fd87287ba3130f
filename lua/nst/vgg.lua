-- VGG16/VGG19 feature extractors: weight lookup, input conventions, forward/backward
-- on images in [0,1] RGB (the C core runs the network itself).
local core = require("nst.core")

local M = {}

local weights = require("nst.weights")

-- Kept for scripts that used them: the names looked for, and the lookup (nst.weights).
M.filenames = weights.filenames

-- The weights file of arch: the explicit path, else the lookup of nst.weights
-- ($NST_WEIGHTS, the user's store, the install prefix, the source tree).
function M.find_weights(arch, path)
  local _, p = weights.resolve(arch, path)
  return p
end

-- Input conventions: x[c] = scale[c] * img[perm[c]] + shift[c].
M.conventions = {
  torchvision = {perm = {1, 2, 3}, mean = {0.485, 0.456, 0.406}, std = {0.229, 0.224, 0.225}},
  caffe = {perm = {3, 2, 1}, mean = {103.939, 116.779, 123.68}, range = 255},
  none = {perm = {1, 2, 3}},
}

local function affine(conv)
  local scale, shift = {}, {}
  for c = 1, 3 do
    if conv.std then
      scale[c], shift[c] = 1 / conv.std[c], -conv.mean[c] / conv.std[c]
    elseif conv.range then
      scale[c], shift[c] = conv.range, -conv.mean[c]
    else
      scale[c], shift[c] = 1, 0
    end
  end
  -- inverse: img[perm[c]] = (x[c] - shift[c]) / scale[c]; gradient: dimg[perm[c]] = scale[c] dx[c]
  local inv, iscale, ishift, gscale = {}, {}, {}, {}
  for c = 1, 3 do inv[conv.perm[c]] = c end
  for j = 1, 3 do
    local c = inv[j]
    iscale[j], ishift[j], gscale[j] = 1 / scale[c], -shift[c] / scale[c], scale[c]
  end
  return {perm = conv.perm, scale = scale, shift = shift, inv = inv, iscale = iscale, ishift = ishift,
          gscale = gscale}
end

local VGG = {}
VGG.__index = VGG

function VGG:preprocess(img) return core.channel_affine(img, self._a.perm, self._a.scale, self._a.shift) end
function VGG:deprocess(x) return core.channel_affine(x, self._a.inv, self._a.iscale, self._a.ishift) end

local function check_taps(taps)
  if type(taps) == "string" then return {taps} end
  if type(taps) ~= "table" then error("forward: expected a list of layer names as the second argument", 3) end
  return taps
end

-- img (N,3,H,W) RGB in [0,1] -> {layer = features}
function VGG:forward(img, taps)
  local x <close> = self:preprocess(img) -- a new tensor; the network keeps no reference to it
  return self._net:forward(x, check_taps(taps))
end

-- A gradient w.r.t. the network's input (N,3,H,W) -> factor times the gradient w.r.t. the
-- image (the chain rule through preprocess); a new tensor.
function VGG:input_grad(dx, factor)
  local g = self._a.gscale
  factor = factor or 1
  return core.channel_affine(dx, self._a.inv, {g[1] * factor, g[2] * factor, g[3] * factor}, {0, 0, 0})
end

-- The inverse: a gradient w.r.t. the image -> the gradient w.r.t. the network's input.
function VGG:image_grad_to_input(g)
  local s = self._a.scale
  return core.channel_affine(g, self._a.perm, {1 / s[1], 1 / s[2], 1 / s[3]}, {0, 0, 0})
end

-- {layer = gradient} -> gradient w.r.t. the image given to the last forward
function VGG:backward(grads)
  local dx <close> = self._net:backward(grads)
  return self:input_grad(dx)
end

-- Raw network input (already preprocessed) forward/backward.
function VGG:forward_raw(x, taps) return self._net:forward(x, check_taps(taps)) end
function VGG:backward_raw(grads) return self._net:backward(grads) end

function VGG:layers()
  local names = {}
  for i, l in ipairs(self._net:layers()) do names[i] = l.name end
  return names, self._net:layers()
end

-- The smallest height and width of an input that reaches every layer named: each pooling
-- layer up to the deepest one halves the size (rounding down) and needs 2 rows and 2
-- columns. Returns the size and the deepest layer.
function VGG:min_size(taps)
  local want, size, deepest, need = {}, 1, nil, 1
  for _, l in ipairs(taps) do want[l] = true end
  for _, l in ipairs(self._net:layers()) do
    if l.kind == "pool" then size = size * 2 end
    if want[l.name] then deepest, need = l.name, size end
  end
  return need, deepest
end

function VGG:to(device)
  return M.new(self.arch, {weights = self.weights, pooling = self.pooling, device = device,
                           preprocess = self.preprocess_name})
end

function VGG:close() self._net:close() end
VGG.__close = VGG.close

function VGG:__tostring()
  local lines = {("%s (%s pooling, %s input, %s) from %s"):format(self.arch, self.pooling,
    self.preprocess_name, self.device, self.weights)}
  for _, l in ipairs(self._net:layers()) do
    local shape = l.shape and table.concat(l.shape, "x") or (l.available and "-" or "unavailable")
    lines[#lines + 1] = ("  %-8s %-4s %4d -> %-4d %s"):format(l.name, l.kind, l.in_channels, l.out_channels, shape)
  end
  return table.concat(lines, "\n")
end

function M.new(arch, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error(("nst.%s: expected an options table"):format(arch), 3) end
  local ok, path = pcall(M.find_weights, arch, opts.weights)
  if not ok then error(path, 3) end
  local pooling = opts.pooling or "max"
  if pooling ~= "max" and pooling ~= "avg" then
    error(("nst.%s: pooling must be \"max\" or \"avg\", got %s"):format(arch, tostring(pooling)), 3)
  end
  local device = opts.device or "cpu"
  local pre = opts.preprocess
  if pre == nil then
    local ok, hdr = pcall(core.safetensors.header, path)
    if not ok then error(hdr, 3) end
    pre = hdr.metadata.preprocess or "torchvision"
  end
  if not M.conventions[pre] then
    error(("nst.%s: unknown preprocess '%s' (expected torchvision, caffe or none)"):format(arch, tostring(pre)), 3)
  end
  local net = core.vgg_new(arch, path, pooling, device)
  return setmetatable({_net = net, _a = affine(M.conventions[pre]), arch = arch, weights = path,
                       pooling = pooling, device = device, preprocess_name = pre}, VGG)
end

return M
