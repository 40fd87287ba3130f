-- Command line in neural-style's words: the `nst` command (make install) is
--   os.exit(require("nst.cli").main(arg), true)
-- cli.parse(args) is pure (returns options or raises a message); cli.main(args) runs the
-- transfer and returns an exit status (2 on bad usage).
local check = require("nst.check")
local options = require("nst.transfer_options")
local values = require("nst.cli_scales")

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

-- The flags in --help's order: {name, kind, help, key = the nst.transfer option (default:
-- the name; "a.b" is field b of option a), choices = the values of a choice (aliases:
-- other names for them), min/max/above = the range of a number, default = the default
-- of a flag that is no nst.transfer option, ignored = accepted and dropped, empty = what
-- an empty value means (neural-style passes '' for "none")}.
-- parse = a flag's own reader of other forms (nst.cli_scales: "auto", "N,N", "WxH"),
-- nil where the text is none of them and its kind reads it.
-- kind: string, number, integer, list, numbers, bool, choice, gpus, scales. The defaults of the
-- others come from nst.transfer's own table (nst.transfer_options). A bool given alone
-- (followed by a flag or nothing) means 1, as Torch7's CmdLine reads neural-style's.
local FLAGS = {
  {"content_image", "string", "content image (required)"},
  {"style_image", "list", "style image(s), comma separated (required unless -style_weight 0)",
   key = "style_images"},
  {"style_blend_weights", "numbers", "blend weights of the style images, comma separated; nil = equal",
   empty = "nil"},
  {"image_size", "integer", "longer side of the output in pixels; WxH: a texture of that size (no "
   .. "-content_image, or -content_weight 0)", min = 1, max = 16384, parse = values.size},
  {"gpu", "gpus", "CUDA device, -1 for the CPU; of a list (0,1) nst uses the first; the CPU when "
   .. "there is no CUDA device", default = "0"},
  {"multigpu_strategy", "string", "accepted; nst runs on one GPU", ignored = true},
  {"model", "choice", "the network; must match -model_file's", choices = {"vgg16", "vgg19"},
   default = "the weights file's arch; with no -model_file vgg16 when installed, else vgg19"},
  {"model_file", "string", "weights file (.safetensors)", key = "weights",
   default = "the installed weights, looked up as `nst weights list` shows"},
  {"normalization", "choice", "what the weights mean: neural-style's, or Gatys et al.'s (see README)",
   choices = {"neural_style", "gatys"}},
  {"content_weight", "number", "weight of the content loss", min = 0},
  {"style_weight", "number", "weight of the style loss", min = 0},
  {"tv_weight", "number", "weight of total variation", min = 0},
  {"num_iterations", "integer", "iterations (of each scale); N,N,...: one count per scale", min = 0,
   parse = values.iterations},
  {"scales", "scales", "coarse to fine: auto (about 128 px up to -image_size, 2x steps) or sizes "
   .. "N,N,... smallest first, the last the output's", parse = values.scales,
   default = "auto from 384 px, one scale below; -scales N: one scale"},
  {"ema", "number", "output the average of the iterates, decay per iteration (0 = off; see README)",
   min = 0, below = 1},
  {"normalize_gradients", "bool", "divide each loss's gradient by its L1 norm before its weight"},
  {"init", "choice", "the start image: random = noise, image = the content or -init_image",
   choices = {"random", "image", "content", "noise", "style"}, aliases = options.inits},
  {"init_image", "string", "start from this image ('' = none)", empty = ""},
  {"optimizer", "choice", "the optimizer", choices = {"adam", "lbfgs"}},
  {"learning_rate", "number", "Adam: grey levels per step; L-BFGS: step factor", min = 0},
  {"lbfgs_num_correction", "integer", "L-BFGS history size; 0 = the default", key = "lbfgs.nCorrection",
   min = 0, zero_is_default = true},
  {"lbfgs_line_search", "choice", "L-BFGS step search; none = neural-style's fixed step",
   choices = {"wolfe", "none"}, key = "lbfgs.line_search"},
  {"print_iter", "integer", "print progress every N iterations, 0 = never", min = 0},
  {"save_iter", "integer", "write a checkpoint (image, state, CSV, SVG) every N iterations, 0 = never",
   min = 0},
  {"output_image", "string", "output image (.png, .jpg; none: .png added); also writes "
   .. "<output>.csv, .svg and .state.safetensors", key = "output", default = "out.png"},
  {"resume", "bool", "continue the run of -output_image from its last saved state"},
  {"style_scale", "number", "style image size relative to image_size", above = 0},
  {"original_colors", "bool", "keep the content's colours"},
  {"color", "choice", "luminance: transfer on luminance, colours from the content; match: the style's "
   .. "colours matched to the content's first (see README)", choices = {"luminance", "match"}},
  {"pooling", "choice", "pooling layers", choices = {"max", "avg"}},
  {"proto_file", "string", "accepted and unused (the network's layout is built in)", ignored = true},
  {"backend", "choice", "accepted; nst uses cuDNN on CUDA", choices = {"nn", "cudnn", "clnn"}, ignored = true},
  {"cudnn_autotune", "bool", "accepted; nst searches cuDNN's algorithms once per shape", ignored = true},
  {"seed", "integer", "random seed; -1 = a random one, printed", default = "a fixed seed"},
  {"content_layers", "list", "content layers, comma separated"},
  {"style_layers", "list", "style layers, comma separated"},
  {"style_layer_weights", "numbers", "weight of each style layer (times -style_weight), comma separated",
   key = "layer_weights", default = "gatys: 1/L each; neural_style: 1 each"},
  {"style_loss", "choice", "the style statistics matched: Gram matrices, means and covariances, "
   .. "or the Wasserstein-2 distance of Gaussian fits (see README)", choices = {"gram", "mean_cov", "w2"}},
  {"style_masks", "list", "one grey mask per style image, comma separated, in the content's frame: "
   .. "white where that style applies, grey a blend (see README, Spatial control)"},
  {"style_guides", "list", "one grey mask per style image, comma separated, in that image's frame: "
   .. "where its style statistics come from"},
  {"content_mask", "string", "grey mask in the content's frame: where the content term applies"},
  {"mask_mode", "choice", "how masks follow the network: pooled, or also eroded at each convolution",
   choices = {"simple", "inside"}},
  {"precision", "choice", "math of CUDA convolutions and GEMMs", choices = {"fp32", "tf32", "bf16"},
   default = "tf32"}, -- the CUDA backend's own default
  {"cuda_graph", "bool", "replay each Adam iteration as one CUDA graph"},
}

-- name -> spec, and the names in order
M.flags, M.order = {}, {}
for i, spec in ipairs(FLAGS) do
  spec.key = spec.key or spec[1]
  M.flags[spec[1]], M.order[i] = spec, spec[1]
end

-- t's value at a key "a" or "a.b"
local function get(t, key)
  for part in key:gmatch("[^.]+") do
    if type(t) ~= "table" then return nil end
    t = t[part]
  end
  return t
end

local function set(t, key, v)
  if v == nil then return end
  local head, field = key:match("^([^.]+)%.(.+)$")
  if not head then t[key] = v; return end
  t[head] = t[head] or {}
  t[head][field] = v
end

-- The default a flag's help states: its own, nst.transfer's, or the layers by model.
local function default_text(spec)
  local v = spec.default
  if v == nil then v = get(options.defaults, spec.key) end
  if v == nil and options.weights.neural_style[spec.key] then
    local by = {}
    for _, n in ipairs{"neural_style", "gatys"} do by[#by + 1] = ("%s: %g"):format(n, options.weights[n][spec.key]) end
    return table.concat(by, "; ")
  end
  if v == nil and options.layers.vgg16[spec.key] then
    local by = {}
    for _, model in ipairs{"vgg16", "vgg19"} do
      by[#by + 1] = model .. ": " .. table.concat(options.layers[model][spec.key], ",")
    end
    return table.concat(by, "; ")
  end
  if v == nil then return nil end
  if spec[2] == "bool" then return v and "1" or "0" end
  return type(v) == "number" and ("%g"):format(v) or tostring(v)
end

function M.help()
  local lines = {"usage: nst -content_image FILE -style_image FILE[,FILE...] [options]", "options:"}
  for _, name in ipairs(M.order) do
    local spec = M.flags[name]
    local text = spec.choices and table.concat(spec.choices, "|") .. ": " .. spec[3] or spec[3]
    local default = default_text(spec)
    if default then text = ("%s (%s)"):format(text, default) end
    lines[#lines + 1] = ("  -%-20s %s"):format(name, text)
  end
  lines[#lines + 1] = ("  %-21s %s"):format("-h, --help", "this text")
  lines[#lines + 1] = ("  %-21s %s"):format("--version", "the version of nst")
  if #M.command_order > 0 then
    lines[#lines + 1] = "commands (nst COMMAND --help for each):"
    for _, name in ipairs(M.command_order) do
      lines[#lines + 1] = ("  %-21s %s"):format(name, M.commands[name])
    end
  end
  lines[#lines + 1] = "A flag of 0/1 given alone means 1 (-cudnn_autotune); 0, 1, true and false are read too."
  return table.concat(lines, "\n")
end

-- "0,1" -> {0, 1}: neural-style's GPU list
local function gpus(flag, v)
  local out = {}
  for i, item in ipairs(list(v)) do
    out[i] = math.tointeger(tonumber(item))
    if not out[i] then usage_error("-%s: expected a device number or a comma-separated list, got '%s'", flag, v) end
  end
  if #out == 0 then usage_error("-%s: expected a device number, got '%s'", flag, v) end
  return out
end

local BOOLS = {["1"] = true, ["true"] = true, ["0"] = false, ["false"] = false}

local function convert(flag, spec, v)
  local kind = spec[2]
  if spec.empty and v == spec.empty then return nil end
  if kind == "string" then return v end
  -- a flag's own reading (nst.cli_scales) first; nil: none of its forms, read by kind
  local parsed = spec.parse and spec.parse("-" .. flag, v)
  if parsed ~= nil then return parsed end
  if kind == "gpus" then return gpus(flag, v) end
  if kind == "list" then
    local l = list(v)
    if #l == 0 then usage_error("-%s: expected a comma-separated list, got '%s'", flag, v) end
    return l
  end
  if kind == "numbers" then return number_list("-" .. flag, v) end
  if kind == "choice" then
    for _, c in ipairs(spec.choices) do
      if c == v then return spec.aliases and spec.aliases[v] or v end
    end
    usage_error("-%s: expected %s, got '%s'", flag, table.concat(spec.choices, "|"), v)
  end
  if kind == "bool" then
    if BOOLS[v] == nil then usage_error("-%s: expected 0, 1, true or false, got '%s'", flag, v) end
    return BOOLS[v]
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

-- -style_layer_weights against the style layers (the model's when none are given: known
-- once the weights are, so cli.prepare checks again).
function M.check_layer_weights(o)
  if not o.layer_weights then return end
  local layers = o.style_layers or options.layers[o.model].style_layers
  if #o.layer_weights ~= #layers then
    usage_error("-style_layer_weights has %d weights for %d style layers (%s)", #o.layer_weights, #layers,
                table.concat(layers, ","))
  end
  for _, w in ipairs(o.layer_weights) do
    if w < 0 then usage_error("-style_layer_weights must be >= 0, got %s", tostring(w)) end
  end
end

-- What conversion cannot see, reported as usage errors: required flags, ranges, counts.
local function check_usage(o)
  local function need(cond, msg, ...) if not cond then usage_error(msg, ...) end end
  need(o.content_image or o.content_weight == 0, "-content_image is required (see --help)")
  need(o.style_images or o.style_weight == 0, "-style_image is required (see --help)")
  for _, name in ipairs(M.order) do
    local spec = M.flags[name]
    local v = get(o, spec.key)
    if type(v) == "number" and (spec.min or spec.above) then
      local want = check.want(v, {min = spec.min, max = spec.max, above = spec.above, below = spec.below,
                                  bare = true})
      need(not want, "-%s must be %s, got %s", name, want, tostring(v))
    end
  end
  if o.style_blend_weights then
    need(o.style_images and #o.style_blend_weights == #o.style_images,
         "-style_blend_weights has %d weights for %d style images", #o.style_blend_weights,
         o.style_images and #o.style_images or 0)
  end
  for _, flag in ipairs{"content_layers", "style_layers"} do
    local seen = {}
    for _, l in ipairs(o[flag] or {}) do
      need(not seen[l], "-%s names %s twice (%s): name each layer once", flag, l, table.concat(o[flag], ","))
      seen[l] = true
    end
  end
  if o.model or o.style_layers then M.check_layer_weights(o) end
  need(not (o.content_weight == 0 and o.style_weight == 0 and o.tv_weight == 0),
       "-content_weight, -style_weight and -tv_weight are all 0: nothing to optimize")
  for _, g in ipairs(o.gpu or {}) do
    need(g >= -1, "-gpu must be -1 (CPU) or a device number >= 0, got %d", g)
  end
end

-- -gpu: the device, and a notice where nst does less than asked (one GPU, device 0).
local function gpu_device(o)
  local g = o.gpu or {tonumber(M.flags.gpu.default)}
  o.gpu = nil
  if g[1] < 0 then return "cpu" end
  if #g > 1 then
    o.notices[#o.notices + 1] = ("-gpu %s: nst runs on one GPU; using device %d"):format(table.concat(g, ","), g[1])
  end
  if g[1] > 0 then
    o.notices[#o.notices + 1] = ("-gpu %d: nst uses the first visible CUDA device; to pick device %d, "
      .. "run with CUDA_VISIBLE_DEVICES=%d"):format(g[1], g[1], g[1])
  end
  return "cuda"
end

-- args: a list of strings (Lua's `arg`). Returns the options for nst.transfer (plus
-- help = true when asked, and notices: lines to tell the user). Raises {usage = message}
-- on bad usage.
function M.parse(args)
  local o = {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "-h" or a == "--help" or a == "-help" then return {help = true} end
    if a == "--version" or a == "-version" then return {version = true} end
    local flag = a:match("^%-%-?([%a_][%w_]*)$")
    if not flag then usage_error("unexpected argument '%s' (flags start with -)", a) end
    local spec = M.flags[flag]
    if not spec then usage_error("unknown flag -%s (see --help)", flag) end
    local v = args[i + 1]
    if spec[2] == "bool" and (v == nil or BOOLS[v] == nil and v:match("^%-%-?[%a_]")) then
      v, i = "1", i - 1 -- given alone
    end
    if v == nil then usage_error("-%s needs a value", flag) end
    local value = convert(flag, spec, v)
    if spec.zero_is_default and value == 0 then value = nil end
    if not spec.ignored then set(o, spec.key, value) end
    i = i + 2
  end
  check_usage(o)
  o.notices = {}
  o.device = gpu_device(o)
  o.output = o.output or M.flags.output_image.default
  return o
end

local function fmt_time(s)
  s = math.floor(s + 0.5)
  if s >= 3600 then return ("%dh%02dm"):format(s // 3600, s % 3600 // 60) end
  if s >= 60 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%ds"):format(s)
end

-- The progress line: iteration/total (and scale k/n of a coarse-to-fine run), losses,
-- speed, time left; elapsed in seconds since iteration `from` (default 0; a resumed
-- run's first). sched (nst.scales): the time left weighs each iteration left by its
-- scale's pixels, so that the fast coarse scales do not make the ETA too short.
function M.progress_line(r, total_iters, elapsed, from, sched)
  local style = 0
  for _, v in pairs(r.style) do style = style + v end
  local speed, eta = "-", "-"
  local multi = sched and #sched > 1
  if elapsed > 0 and r.iteration > (from or 0) then
    local rate = (r.iteration - (from or 0)) / elapsed
    local left = (total_iters - r.iteration) / rate
    if multi then
      local work = require("nst.scales").work
      left = (work(sched, total_iters) - work(sched, r.iteration)) * elapsed
             / (work(sched, r.iteration) - work(sched, from or 0))
    end
    speed, eta = ("%.2f"):format(rate), fmt_time(left)
  end
  local scale = multi and ("  scale %d/%d"):format(r.scale, #sched) or ""
  return ("Iteration %d/%d%s  content %.4g  style %.4g  tv %.4g  total %.4g  %s it/s  ETA %s"):format(
    r.iteration, total_iters, scale, r.content, style, r.tv, r.total, speed, eta)
end

local function notice(fmt, ...) io.stderr:write("nst: ", fmt:format(...), "\n") end

-- Settles parsed options before a run (once; a second call changes nothing): the output
-- checked, the notices told, the device (the CPU where there is no CUDA device), the
-- seed of -seed -1, the process-wide CUDA precision.
function M.prepare(o)
  local nst = require("nst")
  local images = require("nst.transfer_images")
  local ok, out = pcall(images.check_output, o.output)
  if not ok then error("-output_image " .. out, 0) end
  o.output = out
  for _, line in ipairs(o.notices or {}) do notice("%s", line) end
  o.notices = nil
  require("nst.masks").load(o) -- a bad mask is named before the weights are looked for
  if not o.net then -- the model from the weights file, the file looked up when not given
    local given = o.weights
    o.model, o.weights = require("nst.weights").resolve(o.model, o.weights)
    if not given then notice("using %s weights %s (-model_file to choose)", o.model, o.weights) end
    M.check_layer_weights(o)
  end
  if o.device == "cuda" and not nst.cuda_available() then
    notice("no CUDA device here; running on the CPU (-gpu -1 says so and hides this line)")
    o.device = "cpu"
  end
  if o.seed and o.seed < 0 then
    o.seed = options.random_seed()
    notice("-seed -1: using seed %d (pass -seed %d to repeat this run)", o.seed, o.seed)
  end
  if o.precision then -- a process-wide CUDA setting, not a transfer option
    if o.device == "cuda" then nst.cuda_set_precision(o.precision) end
    o.precision = nil
  end
  return o
end

-- Runs the transfer of parsed options: the output checked first, the device and the seed
-- settled and told, the progress printed; the image, its state and plots written.
function M.run(o)
  local nst = require("nst")
  M.prepare(o)
  local t0 = os.time()
  o.printer = function(r, opts)
    io.stdout:write(M.progress_line(r, opts.num_iterations, os.time() - t0, opts.resumed_from,
                                     opts.schedule), "\n")
    io.stdout:flush()
  end
  o.plots = true
  nst.transfer(o)
  local base = o.output:gsub("%.[^./]+$", "")
  io.stdout:write(("wrote %s, %s.csv, %s.svg, %s.state.safetensors\n"):format(o.output, base, base, base))
end

-- Returns the exit status: 0 ok, 1 failure while running, 2 bad usage.
-- Subcommands (`nst NAME ...`): name -> one-line summary; each is the module
-- nst.cmd.NAME, whose main(args) takes the arguments after NAME and returns an exit status.
M.commands = {
  batch = "run the jobs of a file, one line of flags each (a shard of them with -shard I/N)",
  submit = "run nst batch (or nst video) as a Slurm job array (sbatch)",
  video = "stylize a video (frames or a video file), frame to frame consistent",
  flow = "compute the optical flow of a video ahead, for nst video",
  weights = "the VGG weights files: list, add, download, convert",
}
M.command_order = {
  "batch",
  "submit",
  "video",
  "flow",
  "weights",
}

local function run_command(name, args)
  local rest = table.move(args, 2, #args, 1, {})
  return require("nst.cmd." .. name).main(rest)
end

function M.main(args)
  args = args or {}
  if args[1] and M.commands[args[1]] then return run_command(args[1], args) end
  if args[1] and args[1]:match("^%a[%w_]*$") then
    io.stderr:write(("nst: unknown command '%s' (commands: %s; see --help)\n"):format(
      args[1], #M.command_order > 0 and table.concat(M.command_order, ", ") or "none"))
    return 2
  end
  local ok, o = pcall(M.parse, args)
  if not ok then
    local msg = type(o) == "table" and o.usage or tostring(o)
    io.stderr:write("nst: ", msg, "\n")
    return 2
  end
  if o.help then
    io.stdout:write(M.help(), "\n")
    return 0
  end
  if o.version then
    io.stdout:write("nst ", require("nst").version, "\n")
    return 0
  end
  local rok, err = pcall(M.run, o)
  if not rok then
    local msg = M.error_message(err)
    io.stderr:write("nst: ", msg, "\n")
    return M.failure_status(msg)
  end
  return 0
end

-- A run's error in the command line's words: no Lua position, flags for option names.
function M.error_message(err)
  if type(err) == "table" and err.usage then return err.usage end
  local msg = tostring(err):gsub("^[^:\n]+%.lua:%d+: ", ""):gsub("^nst%.transfer: ", "")
  msg = msg:gsub("^(%a[%w_]*):", function(k) -- nst.masks' messages start with the option
    return (k == "style_masks" or k == "style_guides" or k == "content_mask" or k == "mask_mode") and "-" .. k .. ":"
  end)
  msg = msg:gsub("%((%a[%w_]*) (%S+) or more%)", function(k, v)
    return M.flags[k] and ("(-%s %s or more)"):format(k, v)
  end)
  if msg:match("no vgg16 weights found") then msg = msg .. " (or use -model vgg19)" end
  return msg
end

-- The exit status of a failed run: interrupted, the shell's 128 + signal number; else 1.
function M.failure_status(msg)
  if msg:match("interrupted by SIGINT") then return 130 end
  if msg:match("interrupted by SIGTERM") then return 143 end
  return 1
end

return M
