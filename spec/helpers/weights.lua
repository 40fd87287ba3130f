-- Test weights for the specs: seeded random VGG16 / VGG19 conv weights written as a
-- torchvision-named safetensors file, and the path of the real VGG19 file.
--
--   local weights = require("helpers.weights")
--   local path = weights.vgg("vgg16")                        -- cached temp file
--   local path = weights.vgg("vgg19", nil, {layers = 4, seed = 7, dtype = "F16"})
--   weights.vgg("vgg16", "/tmp/x.safetensors")               -- written where asked
--   local real = weights.vgg19_real()                         -- errors clearly if missing
--
-- Initialisation: weights He-normal, std sqrt(2 / (C_in * 9)); biases normal with std
-- 0.01 (not zero, so tests notice a dropped or misplaced bias). Both come from
-- nst.manual_seed(seed) + nst.randn, drawn layer by layer, weight then bias, so a given
-- (arch, seed) gives the same numbers whatever opts.layers is.
local nst = require("nst")

local weights = {}

-- torchvision's vgg16().features / vgg19().features: index of each conv and its
-- output channels (input channels are the previous conv's outputs, 3 for the first).
local ARCH = {
  vgg16 = {
    idx = {0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28},
    out = {64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512},
  },
  vgg19 = {
    idx = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34},
    out = {64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512},
  },
}

-- The conv layers of arch: list of {index = N, cin = C, cout = K}.
function weights.layers(arch)
  local a = ARCH[arch]
  if not a then error("weights: unknown arch '" .. tostring(arch) .. "' (vgg16 or vgg19)", 2) end
  local list, cin = {}, 3
  for i, n in ipairs(a.idx) do
    list[i] = {index = n, cin = cin, cout = a.out[i]}
    cin = a.out[i]
  end
  return list
end

local function generate(arch, opts)
  local layers = weights.layers(arch)
  local count = opts.layers or #layers
  if math.type(count) ~= "integer" or count < 1 or count > #layers then
    error(("weights: opts.layers must be an integer in 1..%d, got %s"):format(#layers,
      tostring(opts.layers)), 3)
  end
  nst.manual_seed(opts.seed or 1)
  local tensors = {}
  for i = 1, count do
    local l = layers[i]
    local std = math.sqrt(2 / (l.cin * 9))
    tensors[("features.%d.weight"):format(l.index)] = nst.randn(l.cout, l.cin, 3, 3) * std
    tensors[("features.%d.bias"):format(l.index)] = nst.randn(l.cout) * 0.01
  end
  return tensors
end

-- Temp files made by this process, removed when the Lua state closes.
local made = {}
local base
local sentinel = setmetatable({}, {__gc = function()
  for _, p in ipairs(made) do os.remove(p) end
  if base then os.remove(base) end
end})
weights._sentinel = sentinel
local cache = {}

-- Writes the weights of arch ("vgg16" | "vgg19") to path (or to a temp file, written
-- once per process for the same options) and returns the path.
-- opts: seed (1), layers (all), dtype ("F32" | "F16" | "BF16"), preprocess ("torchvision").
function weights.vgg(arch, path, opts)
  opts = opts or {}
  weights.layers(arch) -- validates arch
  local key = table.concat({arch, tostring(opts.seed or 1), tostring(opts.layers or "all"),
    opts.dtype or "F32", opts.preprocess or "torchvision"}, "-")
  if not path and cache[key] then return cache[key] end
  local meta = {arch = arch, layout = "torchvision", preprocess = opts.preprocess or "torchvision"}
  local tensors = generate(arch, opts)
  local target = path
  if not target then
    base = base or os.tmpname() -- reserves a unique prefix; files are made beside it
    target = base .. "-" .. key .. ".safetensors"
  end
  nst.safetensors.save(target, tensors, meta, {dtype = opts.dtype or "F32"})
  for _, t in pairs(tensors) do t:close() end
  if not path then
    made[#made + 1] = target
    cache[key] = target
  end
  return target
end

-- The real ImageNet VGG19 conv weights (float16, caffe preprocessing), found beside the
-- repository as ../shared/weights/ (the specs run from the repository root).
weights.VGG19_REAL = "../shared/weights/vgg19-conv.f16.safetensors"
weights.VGG19_REAL_SHA256 = "93e3e0e53564939f7d7b4c068a86010fecd82877e15ce36a03810d239c48b862"

function weights.vgg19_real()
  local f = io.open(weights.VGG19_REAL, "rb")
  if not f then
    error("real VGG19 weights not found at " .. weights.VGG19_REAL .. " (relative to the "
      .. "repository root; the specs expect shared/ beside the checkout, see weights/README.md)", 2)
  end
  f:close()
  return weights.VGG19_REAL
end

return weights
