-- Command line in neural-style's words:
--   lua5.4 -e 'os.exit(require("nst.cli").main(arg))' -content_image a.jpg -style_image b.jpg
-- cli.parse(args) is pure (returns options or raises a message); cli.main(args) runs the
-- transfer and returns an exit status (2 on bad usage).
local M = {}

local function usage_error(msg, ...) error({usage = msg:format(...)}, 0) end

local function list(s)
  local out = {}
  for item in s:gmatch("[^,]+") do out[#out + 1] = item:match("^%s*(.-)%s*$") end
  return out
end

local function number_list(flag, s)
  local out = {}
  for i, item in ipairs(list(s)) do
    out[i] = tonumber(item) or usage_error("%s: expected numbers separated by commas, got '%s'", flag, s)
  end
  return out
end

-- Flag -> {option key, kind, help}. kind: string, number, integer, list, numbers, bool, choice.
M.flags = {
  content_image = {"content_image", "string", "content image (required)"},
  style_image = {"style_images", "list", "style image(s), comma separated (required)"},
  style_blend_weights = {"style_blend_weights", "numbers", "blend weights of the style images (default equal)"},
  image_size = {"image_size", "integer", "longer side of the output in pixels (512)"},
  gpu = {"gpu", "integer", "-1 for the CPU, >= 0 for CUDA (-1)"},
  content_weight = {"content_weight", "number", "weight of the content loss (5)"},
  style_weight = {"style_weight", "number", "weight of the style loss (0.1)"},
  tv_weight = {"tv_weight", "number", "weight of total variation (1e-3)"},
  num_iterations = {"num_iterations", "integer", "iterations (500)"},
  init = {"init", "choice", "random|image|content|noise|style (image)",
          {random = "noise", image = "content", content = "content", noise = "noise", style = "style"}},
  init_image = {"init_image", "string", "start from this image"},
  optimizer = {"optimizer", "choice", "adam|lbfgs (adam)", {adam = "adam", lbfgs = "lbfgs"}},
  learning_rate = {"learning_rate", "number", "Adam: grey levels per step; L-BFGS: step factor (1)"},
  print_iter = {"print_iter", "integer", "print progress every N iterations, 0 = never (50)"},
  save_iter = {"save_iter", "integer", "write a checkpoint every N iterations, 0 = never (0)"},
  output_image = {"output", "string", "output image (out.png); also writes <output>.csv and .svg"},
  style_scale = {"style_scale", "number", "style image size relative to image_size (1)"},
  original_colors = {"original_colors", "bool", "1 to keep the content's colours (0)"},
  pooling = {"pooling", "choice", "max|avg (avg)", {max = "max", avg = "avg"}},
  model_file = {"weights", "string", "weights file (.safetensors); default: looked up"},
  model = {"model", "choice", "vgg16|vgg19 (vgg16)", {vgg16 = "vgg16", vgg19 = "vgg19"}},
  content_layers = {"content_layers", "list", "content layers, comma separated"},
  style_layers = {"style_layers", "list", "style layers, comma separated"},
  seed = {"seed", "integer", "random seed"},
  precision = {"precision", "choice", "fp32|tf32|bf16 (tf32): math of CUDA convolutions and GEMMs", {fp32 = "fp32", tf32 = "tf32", bf16 = "bf16"}},
  cuda_graph = {"cuda_graph", "bool", "1 to replay each Adam iteration as one CUDA graph (0)"},
  lbfgs_line_search = {"lbfgs_line_search", "choice", "wolfe|none (wolfe): L-BFGS step search; none = neural-style's fixed step",
                       {wolfe = "wolfe", none = "none"}},
  lbfgs_num_correction = {"lbfgs_num_correction", "integer", "L-BFGS history size (100)"},
  normalize_gradients = {"normalize_gradients", "bool", "1 to divide each loss's gradient by its L1 norm, as neural-style (0)"},
  -- neural-style's, accepted so that its command lines run: nst has one backend (cuDNN
  -- with algorithms searched per shape) and reads safetensors weights, no prototxt.
  backend = {"backend", "choice", "nn|cudnn|clnn: accepted for neural-style's command lines; nst uses cuDNN on CUDA",
             {nn = "nn", cudnn = "cudnn", clnn = "clnn"}},
  cudnn_autotune = {"cudnn_autotune", "bool", "accepted; nst always searches cuDNN's algorithms once per shape"},
  proto_file = {"proto_file", "string", "accepted and unused (the network's layout is built in)"},
  multigpu_strategy = {"multigpu_strategy", "string", "not supported: nst runs on one GPU"},
}

M.order = {"content_image", "style_image", "style_blend_weights", "image_size", "gpu", "model",
           "model_file", "content_weight", "style_weight", "tv_weight", "num_iterations", "init",
           "init_image", "optimizer", "learning_rate", "print_iter", "save_iter", "output_image",
           "style_scale", "original_colors", "pooling", "content_layers", "style_layers", "seed",
           "precision", "cuda_graph", "lbfgs_line_search", "lbfgs_num_correction",
           "normalize_gradients", "backend", "cudnn_autotune", "proto_file", "multigpu_strategy"}

function M.help()
  local lines = {"usage: nst -content_image FILE -style_image FILE[,FILE...] [options]", "options:"}
  for _, name in ipairs(M.order) do
    lines[#lines + 1] = ("  -%-20s %s"):format(name, M.flags[name][3])
  end
  lines[#lines + 1] = ("  %-21s %s"):format("-h, --help", "this text")
  return table.concat(lines, "\n")
end

local function convert(flag, spec, v)
  local kind = spec[2]
  if kind == "string" then return v end
  if kind == "list" then
    local l = list(v)
    if #l == 0 then usage_error("-%s: expected a comma-separated list, got '%s'", flag, v) end
    return l
  end
  if kind == "numbers" then return number_list("-" .. flag, v) end
  if kind == "choice" then
    return spec[4][v] or usage_error("-%s: expected %s, got '%s'", flag, spec[3]:match("^(%S+)"), v)
  end
  if kind == "bool" then
    if v == "1" or v == "true" then return true end
    if v == "0" or v == "false" then return false end
    usage_error("-%s: expected 0 or 1, got '%s'", flag, v)
  end
  local n = tonumber(v)
  if not n or n ~= n or n == math.huge or n == -math.huge then
    usage_error("-%s: expected a number, got '%s'", flag, v)
  end
  if kind == "integer" then
    n = math.tointeger(n) or usage_error("-%s: expected an integer, got '%s'", flag, v)
  end
  return n
end

-- Ranges checked after conversion, so that mistakes are reported as usage errors.
local function check(o)
  local function need(cond, msg, ...) if not cond then usage_error(msg, ...) end end
  need(o.content_image, "-content_image is required (see --help)")
  need(o.style_images or o.style_weight == 0, "-style_image is required (see --help)")
  for _, k in ipairs{"content_weight", "style_weight", "tv_weight", "learning_rate"} do
    need(o[k] == nil or o[k] >= 0, "-%s must be >= 0, got %s", k, tostring(o[k]))
  end
  need(o.style_scale == nil or o.style_scale > 0, "-style_scale must be > 0")
  need(o.image_size == nil or (o.image_size >= 1 and o.image_size <= 16384),
       "-image_size must be in [1, 16384], got %s", tostring(o.image_size))
  for _, k in ipairs{"num_iterations", "print_iter", "save_iter"} do
    need(o[k] == nil or o[k] >= 0, "-%s must be >= 0, got %s", k, tostring(o[k]))
  end
  if o.style_blend_weights then
    need(o.style_images and #o.style_blend_weights == #o.style_images,
         "-style_blend_weights has %d weights for %d style images", #o.style_blend_weights,
         o.style_images and #o.style_images or 0)
  end
  need(o.gpu == nil or o.gpu >= -1, "-gpu must be -1 (CPU) or a device number >= 0")
  need(o.multigpu_strategy == nil, "-multigpu_strategy: not supported, nst runs on one GPU")
  need(o.lbfgs_num_correction == nil or o.lbfgs_num_correction >= 1,
       "-lbfgs_num_correction must be >= 1, got %s", tostring(o.lbfgs_num_correction))
end

-- args: a list of strings (Lua's `arg`). Returns the options for nst.transfer (plus
-- help = true when asked). Raises {usage = message} on bad usage.
function M.parse(args)
  local o = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "-h" or a == "--help" or a == "-help" then return {help = true} end
    local flag = a:match("^%-%-?([%a_][%w_]*)$")
    if not flag then usage_error("unexpected argument '%s' (flags start with -)", a) end
    local spec = M.flags[flag]
    if not spec then usage_error("unknown flag -%s (see --help)", flag) end
    local v = args[i + 1]
    if v == nil then usage_error("-%s needs a value", flag) end
    o[spec[1]] = convert(flag, spec, v)
    i = i + 2
  end
  check(o)
  if o.lbfgs_num_correction or o.lbfgs_line_search then
    o.lbfgs = {nCorrection = o.lbfgs_num_correction, line_search = o.lbfgs_line_search}
    o.lbfgs_num_correction, o.lbfgs_line_search = nil, nil
  end
  o.backend, o.cudnn_autotune, o.proto_file = nil, nil, nil -- nothing to choose (see M.flags)
  if o.gpu then
    o.device = o.gpu >= 0 and "cuda" or "cpu"
    o.gpu = nil
  end
  o.output = o.output or "out.png"
  return o
end

local function fmt_time(s)
  s = math.floor(s + 0.5)
  if s >= 3600 then return ("%dh%02dm"):format(s // 3600, s % 3600 // 60) end
  if s >= 60 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%ds"):format(s)
end

-- The progress line: iteration/total, losses, speed, time left. clock() -> seconds.
function M.progress_line(r, total_iters, elapsed)
  local style = 0
  for _, v in pairs(r.style) do style = style + v end
  local speed, eta = "-", "-"
  if elapsed > 0 then
    local rate = r.iteration / elapsed
    speed, eta = ("%.2f"):format(rate), fmt_time((total_iters - r.iteration) / rate)
  end
  return ("Iteration %d/%d  content %.4g  style %.4g  tv %.4g  total %.4g  %s it/s  ETA %s"):format(
    r.iteration, total_iters, r.content, style, r.tv, r.total, speed, eta)
end

function M.run(o)
  local nst = require "nst"
  local t0 = os.time()
  o.printer = function(r, opts)
    io.stdout:write(M.progress_line(r, opts.num_iterations, os.time() - t0), "\n")
    io.stdout:flush()
  end
  if o.precision then -- a process-wide CUDA setting, not a transfer option
    if o.device == "cuda" then nst.cuda_set_precision(o.precision) end
    o.precision = nil
  end
  local _, history = nst.transfer(o)
  local base = o.output:gsub("%.[^./]+$", "")
  nst.plot.csv(history, base .. ".csv")
  nst.plot.svg(history, base .. ".svg", {title = "nst: " .. o.output})
  io.stdout:write(("wrote %s, %s.csv, %s.svg\n"):format(o.output, base, base))
end

-- Returns the exit status: 0 ok, 1 failure while running, 2 bad usage.
function M.main(args)
  local ok, o = pcall(M.parse, args or {})
  if not ok then
    local msg = type(o) == "table" and o.usage or tostring(o)
    io.stderr:write("nst: ", msg, "\n")
    return 2
  end
  if o.help then
    io.stdout:write(M.help(), "\n")
    return 0
  end
  local rok, err = pcall(M.run, o)
  if not rok then
    local msg = tostring(err):gsub("^[^:\n]+%.lua:%d+: ", "")
    if msg:match("no vgg16 weights found") then msg = msg .. " (or use -model vgg19)" end
    io.stderr:write("nst: ", msg, "\n")
    -- interrupted: the shell's convention, 128 + signal number
    if msg:match("interrupted by SIGINT") then return 130 end
    if msg:match("interrupted by SIGTERM") then return 143 end
    return 1
  end
  return 0
end

return M
