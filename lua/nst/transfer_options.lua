-- The options of nst.transfer: their defaults (the one table that nst.transfer and the
-- command line's help both read) and the check that turns a user's table into the
-- options of a run.
local check = require("nst.check")
local images = require("nst.transfer_images")
local scales = require("nst.scales")
local masks = require("nst.masks")
local weights = require("nst.weights")

local M = {}

-- Layers by model, used when the options name none.
M.layers = {
  vgg16 = {content_layers = {"relu4_3"}, style_layers = {"relu1_2", "relu2_2", "relu3_3", "relu4_3"}},
  vgg19 = {content_layers = {"relu4_2"},
           style_layers = {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"}},
}

-- The weights of the terms by normalization (nst.terms), used when the options name
-- none. neural_style: neural_style.lua's own defaults and meaning (content 5, style 100,
-- TV 1e-3 on the 0..255 caffe input). gatys: chosen on VGG19 (caffe weights) at 256 px
-- with Adam lr 1 from the content image, starry_night onto leuven: after 300 iterations
-- the strokes and colours of the style cover the image while the content stays
-- recognizable. Both balances depend on the weights' input scale: features of
-- torchvision-normalized weights are ~58x smaller, which makes the style term ~3300x
-- weaker relative to the content; raise style_weight accordingly for such weights.
M.weights = {
  neural_style = {content_weight = 5, style_weight = 100, tv_weight = 1e-3},
  gatys = {content_weight = 5, style_weight = 0.1, tv_weight = 1e-3},
}

-- Defaults for everything but the layers (which depend on the model), the weights (which
-- depend on the normalization) and the model (the weights file's; nst.weights.resolve).
M.defaults = {
  normalization = "neural_style", init = "content",
  optimizer = "adam", learning_rate = 1, num_iterations = 500, print_iter = 50, save_iter = 0,
  pooling = "avg", image_size = 512, style_scale = 1, original_colors = false, device = "cpu",
  -- mid-grey plus Gaussian noise of this std for init = "noise": the image's components
  -- the network hardly sees keep their start value, so start them small
  noise_std = 0.1,
  -- style_loss: the statistics the style term matches (nst.loss.gram / mean_cov / w2;
  -- lua/README.md, "Style losses")
  style_loss = "gram",
  -- ema: iterate averaging (nst.ema), 0 = off
  ema = 0,
  -- how style_masks, style_guides and content_mask follow the network (nst.masks)
  mask_mode = "simple",
  tv_kind = "squared", content_mean = true, clamp = true, handle_signals = true,
  cuda_graph = false, normalize_gradients = false,
  -- video (nst.terms.temporal): the weight of the warped previous frame, temporal_image,
  -- under the mask temporal_mask (nil: everywhere); 0: no temporal term
  temporal_weight = 0,
  -- lbfgs.line_search: "wolfe" takes each step only with a sufficient decrease (strong
  -- Wolfe conditions, optim.lswolfe; usually one evaluation per iteration, more where the
  -- step needs adjusting); "none" is Torch7's and neural-style's fixed step, which
  -- diverges on style-only losses. nCorrection: the size of L-BFGS's history.
  lbfgs = {line_search = "wolfe", nCorrection = 100},
}

-- The options without a default (nil unless given).
local optional = {
  "model", "content_image", "style_images", "style_blend_weights", "weights", "content_layers", "style_layers",
  "content_weight", "style_weight", "tv_weight",
  "layer_weights", "init_image", "lr_decay", "printer", "seed", "output", "on_iter", "net", "record_every",
  -- state: write the run state (nst.run_state) at each checkpoint and at the end (default:
  -- when there is an output); plots: the history as <output>.csv and .svg then too;
  -- resume: true (the state of output) or a state file's path
  "state", "plots", "resume",
  "temporal_image", "temporal_mask",
  -- scales: coarse-to-fine ("auto" or sizes, nst.scales); color: "luminance" | "match" (nst.color)
  "scales", "color",
  -- spatial control (nst.masks): paths or tensors
  "style_masks", "style_guides", "content_mask",
}

local known = {}
for k in pairs(M.defaults) do known[k] = true end
for _, k in ipairs(optional) do known[k] = true end

local function fail(msg, ...) error("nst.transfer: " .. msg:format(...), 0) end

local NONNEGATIVE = {min = 0}
local COUNT = {integer = true, min = 0}

-- user -> (defaults merged in, one level deep for tables such as lbfgs)
local function merged(user)
  local o = {}
  for k, v in pairs(M.defaults) do o[k] = v end
  for k, v in pairs(user) do
    if type(v) == "table" and type(M.defaults[k]) == "table" then
      local t = {}
      for dk, dv in pairs(M.defaults[k]) do t[dk] = dv end
      for uk, uv in pairs(v) do t[uk] = uv end
      v = t
    end
    o[k] = v
  end
  return o
end

-- init names: nst's own and neural-style's (random, image), and what each means
M.inits = {content = "content", noise = "noise", style = "style", file = "file", random = "noise",
           image = "content"}
local INITS = M.inits

local function check_init(o)
  if not INITS[o.init] then fail("init must be content, noise, style or file, got %s", tostring(o.init)) end
  o.init = INITS[o.init]
  if o.init_image and o.init ~= "noise" then o.init = "file" end
  if o.init == "file" and not o.init_image then fail("init = \"file\" needs init_image") end
end

-- A seed for seed < 0 (neural-style's -seed -1): from /dev/urandom, else the clock.
function M.random_seed()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(4)
  if f then f:close() end
  if bytes and #bytes == 4 then return string.unpack("<I4", bytes) & 0x7fffffff end
  return (os.time() ~ math.floor(os.clock() * 1e6)) & 0x7fffffff
end

-- A layer list with each name once (a name given twice counts once, as in neural-style).
local function unique(names, what)
  if type(names) ~= "table" then fail("%s must be a list of layer names, got %s", what, tostring(names)) end
  local seen, out = {}, {}
  for _, l in ipairs(names) do
    if type(l) ~= "string" then fail("%s must be a list of layer names, got a %s", what, type(l)) end
    if not seen[l] then seen[l] = true; out[#out + 1] = l end
  end
  return out
end

-- The model: the given network's (an explicit model must agree), else the weights file's
-- (found when not given: VGG16 when installed, else VGG19; nst.weights.resolve).
local function check_model(o, user)
  if o.net and o.net.arch then
    if user.model and user.model ~= o.net.arch then
      fail("model is %s but net is a %s network", tostring(user.model), o.net.arch)
    end
    o.model = o.net.arch
  elseif o.net then
    o.model = o.model or "vgg16"
  else
    local ok, arch, path = pcall(weights.resolve, user.model, o.weights)
    if not ok then fail("%s", arch) end
    o.model, o.weights = arch, path
  end
  if not M.layers[o.model] then fail("model must be \"vgg16\" or \"vgg19\", got %s", tostring(o.model)) end
end

-- temporal_weight > 0 needs the warped previous frame (1,3,H,W); the mask is optional.
local function check_temporal(o)
  if o.temporal_weight == 0 then return end
  for _, k in ipairs{"temporal_image", "temporal_mask"} do
    local t = o[k]
    if (t ~= nil or k == "temporal_image") and (type(t) ~= "userdata" or not pcall(t.shape, t)) then
      fail("temporal_weight > 0 needs %s as a tensor (the previous stylized frame warped onto this one%s), got %s",
           k, k == "temporal_mask" and "'s mask" or "", type(t))
    end
  end
end

-- image_size: a longer side N, or "WxH" (a texture of that size: no content image, or
-- content_weight 0) -> o.width, o.height and image_size = the longer side.
local function check_size(o)
  local v = o.image_size
  if type(v) == "string" then
    local w, h = v:match("^(%d+)x(%d+)$")
    w, h = math.tointeger(tonumber(w)), math.tointeger(tonumber(h))
    if not w or w < 1 or h < 1 then fail("image_size must be a size in pixels or \"WxH\", got %s", v) end
    if o.content_image ~= nil and o.content_weight ~= 0 then
      fail("image_size %s (W x H) is for textures: it needs no content_image or content_weight = 0", v)
    end
    o.width, o.height, o.image_size = w, h, math.max(w, h)
  elseif v then -- false: the content image's own size
    check.number("nst.transfer", "image_size", v, {integer = true, min = 1})
  end
end

-- color (nst.color) and ema.
local function check_color(o)
  if o.color ~= nil and o.color ~= "luminance" and o.color ~= "match" then
    fail("color must be \"luminance\" or \"match\", got %s", tostring(o.color))
  end
  if o.color and not o.content_image then fail("color = \"%s\" needs content_image (its colours)", o.color) end
  check.number("nst.transfer", "ema", o.ema, {min = 0, below = 1})
end

local function check_files(o)
  if o.output then
    local ok, path = pcall(images.check_output, o.output)
    if not ok then fail("output %s", path) end
    o.output = path
  end
  if o.state == nil then o.state = o.output ~= nil end
  if o.resume ~= nil and o.resume ~= false and o.resume ~= true and type(o.resume) ~= "string" then
    fail("resume must be true or a state file's path, got %s", tostring(o.resume))
  end
  if o.resume == true and not o.output then fail("resume = true needs output (the run to continue)") end
  if (o.state or o.plots) and not o.output then fail("state and plots need output") end
end

-- The options of a run: the user's table checked, with the defaults filled in.
function M.check(user)
  if type(user) ~= "table" then fail("expected an options table") end
  check.keys("nst.transfer", user, known)
  local o = merged(user)
  if type(o.style_images) ~= "table" then o.style_images = o.style_images and {o.style_images} or {} end
  -- masks loaded once, before any work (nst.masks.of(o) finds them), and before the
  -- weights file is looked for, so that a bad mask is named first
  masks.check(o)
  check_model(o, user)
  if o.layer_weights and o.style_layers and #unique(o.style_layers, "style_layers") ~= #o.style_layers then
    fail("style_layers names a layer twice; with layer_weights each layer is named once")
  end
  o.content_layers = unique(o.content_layers or M.layers[o.model].content_layers, "content_layers")
  if not M.weights[o.normalization] then
    fail("normalization must be \"neural_style\" or \"gatys\", got %s", tostring(o.normalization))
  end
  for k, v in pairs(M.weights[o.normalization]) do
    if o[k] == nil then o[k] = v end
  end
  o.style_layers = unique(o.style_layers or M.layers[o.model].style_layers, "style_layers")
  if o.content_image == false then o.content_image = nil end -- false: none (a texture)
  if o.content_image == nil and o.content_weight ~= 0 then
    fail("content_image is required (or content_weight = 0: a texture)")
  end
  if #o.style_images == 0 and o.style_weight ~= 0 then fail("style_images is required (or style_weight = 0)") end
  for _, k in ipairs{"content_weight", "style_weight", "tv_weight", "learning_rate", "style_scale", "temporal_weight"} do
    check.number("nst.transfer", k, o[k], NONNEGATIVE)
  end
  for _, k in ipairs{"print_iter", "save_iter"} do
    check.number("nst.transfer", k, o[k], COUNT)
  end
  if o.content_weight == 0 and o.style_weight == 0 and o.tv_weight == 0 then
    fail("content_weight, style_weight and tv_weight are all 0: nothing to optimize")
  end
  if o.seed ~= nil then
    check.number("nst.transfer", "seed", o.seed, {integer = true})
    if o.seed < 0 then o.seed = M.random_seed() end
  end
  if o.content_image == nil and o.init == "content" then o.init = "noise" end -- a texture
  check_init(o)
  check_size(o)
  scales.check(o, user)
  check_color(o)
  check_temporal(o)
  check_files(o)
  if o.optimizer ~= "adam" and o.optimizer ~= "lbfgs" then
    fail("optimizer must be adam or lbfgs, got %s", tostring(o.optimizer))
  end
  if o.optimizer == "lbfgs" and o.lbfgs.line_search ~= "wolfe" and o.lbfgs.line_search ~= "none" then
    fail("lbfgs.line_search must be \"wolfe\" or \"none\", got %s", tostring(o.lbfgs.line_search))
  end
  if o.layer_weights and #o.layer_weights ~= #o.style_layers then
    fail("layer_weights has %d entries for %d style layers", #o.layer_weights, #o.style_layers)
  end
  for i, w in ipairs(o.layer_weights or {}) do check.number("nst.transfer", "layer_weights[" .. i .. "]", w, NONNEGATIVE) end
  if o.style_loss ~= "gram" and o.style_loss ~= "mean_cov" and o.style_loss ~= "w2" then
    fail("style_loss must be \"gram\", \"mean_cov\" or \"w2\", got %s", tostring(o.style_loss))
  end
  -- reading a loss back waits for the device: on a GPU record only what is printed
  o.record_every = o.record_every or (o.device == "cpu" and 1 or math.max(o.print_iter, 1))
  return o
end

return M
