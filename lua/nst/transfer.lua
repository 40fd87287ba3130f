-- nst.transfer(opts): the Gatys et al. loop. Features of the content image at the
-- content layers and blended Gram matrices of the style images at the style layers are
-- the targets; the image is optimized on
--   content_weight · Σ_c mean((F_c − P_c)²) / #content_layers    (content_mean = false: ½Σ)
-- + style_weight · Σ_l w_l · |G_l − A_l|² / (4 C_l² M_l²)        (w_l default 1/L)
-- + tv_weight · TV(image)                                          (Σ squared differences)
-- The mean content form and the M²-normalized style term both stay put when the image
-- size changes, so one set of weights serves 256 px and 1024 px alike.
-- Images are RGB in [0,1]; the Adam learning rate is in 8-bit grey levels (lr 1 moves a
-- pixel by about 1/255 per step), as in the reference implementations that optimize
-- 0..255 images. L-BFGS's learning_rate is its plain step factor (1).
local core = require "nst.core"
local vggmod = require "nst.vgg"
local loss = require "nst.loss"
local optim = require "nst.optim"

local M = {}

M.defaults = {
  vgg16 = {content_layers = {"relu4_3"}, style_layers = {"relu1_2", "relu2_2", "relu3_3", "relu4_3"}},
  vgg19 = {content_layers = {"relu4_2"},
           style_layers = {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"}},
}

-- Defaults for everything but the layers (which depend on the model). content_weight 5
-- and style_weight 0.1 were chosen on VGG19 (caffe weights, 0..255 inputs) at 256 px with
-- Adam lr 1 from the content image, starry_night onto leuven: after 300 iterations the
-- strokes and colours of the style cover the image while the content stays recognizable.
-- The balance depends on the weights' input scale: features of torchvision-normalized
-- weights are ~58x smaller, which makes the style term ~3300x weaker relative to the
-- content; raise style_weight accordingly for such weights. tv_weight 1e-3 is a very
-- light smoothing at these scales (about 1e-5 of the total).
M.options = {
  model = "vgg16", content_weight = 5, style_weight = 0.1, tv_weight = 1e-3, init = "content",
  optimizer = "adam", learning_rate = 1, num_iterations = 500, print_iter = 50, save_iter = 0,
  pooling = "avg", image_size = 512, style_scale = 1, original_colors = false, device = "cpu",
}

local known = {
  content_image = true, style_images = true, style_blend_weights = true, model = true, weights = true,
  content_layers = true, style_layers = true, layer_weights = true, content_weight = true,
  style_weight = true, tv_weight = true, tv_kind = true, init = true, init_image = true,
  optimizer = true, learning_rate = true, lr_decay = true, num_iterations = true, print_iter = true,
  printer = true, save_iter = true, pooling = true, image_size = true, style_scale = true,
  original_colors = true, seed = true, output = true, device = true, on_iter = true, net = true,
  record_every = true, lbfgs = true, noise_std = true, clamp = true, content_mean = true,
  handle_signals = true, cuda_graph = true, normalize_gradients = true,
}

local function fail(msg, ...) error("nst.transfer: " .. msg:format(...), 0) end

local function check_opts(user)
  if type(user) ~= "table" then fail("expected an options table") end
  for k in pairs(user) do
    if not known[k] then fail("unknown option '%s'", tostring(k)) end
  end
  local o = {}
  for k, v in pairs(M.options) do o[k] = v end
  for k, v in pairs(user) do o[k] = v end
  if o.model ~= "vgg16" and o.model ~= "vgg19" then fail("model must be \"vgg16\" or \"vgg19\", got %s", tostring(o.model)) end
  local d = M.defaults[o.model]
  o.content_layers = o.content_layers or d.content_layers
  o.style_layers = o.style_layers or d.style_layers
  if o.content_image == nil then fail("content_image is required") end
  if type(o.style_images) ~= "table" then o.style_images = o.style_images and {o.style_images} or {} end
  if #o.style_images == 0 and o.style_weight ~= 0 then fail("style_images is required (or style_weight = 0)") end
  for _, k in ipairs{"content_weight", "style_weight", "tv_weight", "learning_rate", "style_scale"} do
    if type(o[k]) ~= "number" or o[k] ~= o[k] or o[k] < 0 then fail("%s must be a number >= 0, got %s", k, tostring(o[k])) end
  end
  for _, k in ipairs{"num_iterations", "print_iter", "save_iter"} do
    if math.type(o[k]) ~= "integer" or o[k] < 0 then fail("%s must be an integer >= 0, got %s", k, tostring(o[k])) end
  end
  local inits = {content = true, noise = true, style = true, file = true, random = "noise", image = "content"}
  if not inits[o.init] then fail("init must be content, noise, style or file, got %s", tostring(o.init)) end
  if type(inits[o.init]) == "string" then o.init = inits[o.init] end
  if o.init_image and o.init ~= "noise" then o.init = "file" end
  if o.init == "file" and not o.init_image then fail("init = \"file\" needs init_image") end
  if o.optimizer ~= "adam" and o.optimizer ~= "lbfgs" then fail("optimizer must be adam or lbfgs, got %s", tostring(o.optimizer)) end
  if o.layer_weights and #o.layer_weights ~= #o.style_layers then
    fail("layer_weights has %d entries for %d style layers", #o.layer_weights, #o.style_layers)
  end
  o.record_every = o.record_every or (o.device == "cpu" and 1 or math.max(o.print_iter, 1))
  return o
end

-- path or tensor -> (1,3,H,W) CPU tensor, longer side `size` (nil: as is)
local function load(img, size)
  if type(img) == "string" then return core.image.load(img, size and {size = size} or nil) end
  if size then return core.image.resize(img:cpu(), size) end
  return img:cpu()
end

local function union(a, b)
  local seen, out = {}, {}
  for _, l in ipairs(a) do if not seen[l] then seen[l] = true; out[#out + 1] = l end end
  for _, l in ipairs(b) do if not seen[l] then seen[l] = true; out[#out + 1] = l end end
  return out
end

local function positions(F)
  local s = F:shape()
  return s[#s] * s[#s - 1]
end

-- Inserts _<it> before the extension: out.png -> out_100.png
function M.checkpoint_name(output, it)
  local base, ext = output:match("^(.*)(%.[^./]+)$")
  if not base then base, ext = output, ".png" end
  return ("%s_%d%s"):format(base, it, ext)
end

local function finish(img, content, o)
  local out = img:cpu():clamp(0, 1)
  if o.original_colors then out = core.image.original_colors(content, out) end
  return out
end

local function default_printer(r, o)
  local parts = {("Iteration %d / %d"):format(r.iteration, o.num_iterations),
                 ("  content %.4g"):format(r.content)}
  for _, name in ipairs(o.style_weight > 0 and o.style_layers or {}) do parts[#parts + 1] = ("  style %s %.4g"):format(name, r.style[name]) end
  parts[#parts + 1] = ("  tv %.4g  total %.4g"):format(r.tv, r.total)
  print(table.concat(parts))
end

function M.transfer(user)
  local o = check_opts(user)
  if o.seed then core.manual_seed(o.seed) end
  local vgg = o.net or vggmod.new(o.model, {weights = o.weights, pooling = o.pooling, device = o.device})
  local dev = vgg.device

  local content = load(o.content_image, o.image_size)
  local cshape = content:shape()
  local content_d = content:to(dev)

  -- targets: content features, blended style Grams at the generated image's size
  local all = union(o.content_layers, o.style_layers)
  local Fc = vgg:forward(content_d, all)
  local P, A = {}, {}
  for _, l in ipairs(o.content_layers) do P[l] = Fc[l] end
  if o.style_weight > 0 then
    local size = o.image_size and math.max(1, math.floor(o.image_size * o.style_scale + 0.5))
    local feats = {}
    for i, s in ipairs(o.style_images) do
      feats[i] = vgg:forward(load(s, size):to(dev), o.style_layers)
    end
    for _, l in ipairs(o.style_layers) do
      local per = {}
      for i = 1, #feats do per[i] = feats[i][l] end
      A[l] = loss.style_target(per, o.style_blend_weights, positions(Fc[l]))
    end
  end
  Fc = nil

  local img
  if o.init == "content" then
    img = content_d:clone()
  elseif o.init == "noise" then
    -- mid-grey plus Gaussian noise (std noise_std, 0.1 by default): the image's
    -- components the network hardly sees keep their start value, so start them small
    img = (core.randn(cshape, {device = dev}) * (o.noise_std or 0.1) + 0.5):clamp(0, 1)
  elseif o.init == "style" then
    img = core.image.resize(load(o.style_images[1]), {cshape[3], cshape[4]}):to(dev)
  else
    img = core.image.resize(load(o.init_image), {cshape[3], cshape[4]}):to(dev)
  end

  local cw = o.content_weight / #o.content_layers
  local sw = {}
  for i, l in ipairs(o.style_layers) do
    sw[l] = o.style_weight * (o.layer_weights and o.layer_weights[i] or 1 / #o.style_layers)
  end
  local active = union(cw > 0 and o.content_layers or {}, o.style_weight > 0 and o.style_layers or {})

  -- One evaluation: weighted losses (device scalars, no sync) and the image gradient.
  local function feval(x)
    local F = vgg:forward(x, active)
    local grads, parts = {}, {style = {}}
    -- normalize_gradients (neural-style's flag): each loss's gradient is divided by its
    -- L1 norm (+1e-8) before its weight applies; a device scalar, so no sync.
    local function add(name, g, weight)
      if o.normalize_gradients then g:div_(g:abs():sum():add_(1e-8)) end
      g:mul_(weight)
      grads[name] = grads[name] and grads[name]:add_(g) or g
    end
    local total
    if cw > 0 then
      for _, l in ipairs(o.content_layers) do
        local lc, gc = loss.content(F[l], P[l], o.content_mean ~= false and {mean = true} or nil)
        lc:mul_(cw)
        add(l, gc, cw)
        parts.content = parts.content and parts.content + lc or lc
      end
      total = parts.content
    end
    if o.style_weight > 0 then
      for _, l in ipairs(o.style_layers) do
        local ls, gs = loss.style(F[l], A[l])
        ls:mul_(sw[l])
        add(l, gs, sw[l])
        parts.style[l] = ls
        total = total and total + ls or ls
      end
    end
    local grad = vgg:backward(grads)
    -- Free the feature maps and their gradients now rather than when the collector
    -- runs: device memory stays near one iteration's working set.
    for _, t in pairs(F) do t:close() end
    for _, t in pairs(grads) do t:close() end
    if o.tv_weight > 0 then
      local lt, gt = loss.tv(x, o.tv_kind)
      parts.tv = lt:mul_(o.tv_weight)
      grad:add_(gt, o.tv_weight)
      total = total and total + parts.tv or parts.tv
    end
    parts.total = total
    return total, grad, parts
  end

  local history = {style_layers = o.style_layers, content_layers = o.content_layers}
  local function record(it, parts)
    local r = {iteration = it, content = parts.content and parts.content:item() or 0, style = {},
               tv = parts.tv and parts.tv:item() or 0, total = parts.total:item()}
    for _, l in ipairs(o.style_layers) do r.style[l] = parts.style[l] and parts.style[l]:item() or 0 end
    history[#history + 1] = r
    return r
  end

  -- A NaN/Inf loss ends the run before anything is written from it, so the last
  -- checkpoint on disk stays the last good image.
  local function check_finite(r)
    local t = r.total
    if t ~= t or t == math.huge or t == -math.huge then
      error(("nst.transfer: the loss became %s at iteration %d (try a lower learning_rate or weights)%s")
        :format(tostring(t), r.iteration, o.output and o.save_iter > 0 and "; the last checkpoint is kept" or ""), 0)
    end
  end

  local function after(it, parts)
    local r
    local save = o.save_iter > 0 and it % o.save_iter == 0 and it < o.num_iterations and o.output
    if save or it % o.record_every == 0 or it == o.num_iterations or (o.print_iter > 0 and it % o.print_iter == 0) then
      r = record(it, parts)
      check_finite(r)
    end
    if o.print_iter > 0 and (it % o.print_iter == 0 or it == o.num_iterations) then
      (o.printer or default_printer)(r, o)
    end
    if save then core.image.save(finish(img, content, o), M.checkpoint_name(o.output, it)) end
    if o.on_iter then o.on_iter(it, img, parts, r) end
    -- Ctrl-C / SIGTERM: stop after this iteration with a final checkpoint (written
    -- atomically; a second signal exits at once without leaving a partial file).
    local sig = o.handle_signals ~= false and core.signals_pending()
    if sig then
      local where = ""
      if o.output then
        local path = M.checkpoint_name(o.output, it)
        core.image.save(finish(img, content, o), path)
        where = "; wrote " .. path
      end
      error(("nst.transfer: interrupted by %s at iteration %d%s"):format(sig, it, where), 0)
    end
  end

  if o.handle_signals ~= false then
    core.signals_install()
    core.signals_clear()
  end
  local function optimize()
    if o.optimizer == "adam" then
      local opt = optim.adam{lr = o.learning_rate / 255}
      local sched = o.lr_decay and optim.step_decay(o.lr_decay)
      local clamp = o.clamp ~= false
      local function adam_iteration()
        local _, grad, parts = feval(img)
        opt:step(img, grad)
        if clamp then img:clamp_(0, 1) end
        return parts
      end
      -- cuda_graph: from the second iteration on (the first makes the cuDNN plans), the
      -- iteration is one CUDA graph replay; captured again when the learning rate changes
      -- (it is part of the captured Adam step). parts are the graph's loss tensors.
      local use_graph = o.cuda_graph and dev == "cuda"
      local graph, graph_parts, graph_lr
      for it = 1, o.num_iterations do
        if sched then sched:apply(opt, it, o.learning_rate / 255) end
        local parts
        if use_graph and it > 1 then
          if not graph or graph_lr ~= opt.lr then
            if graph then graph:close() end
            graph, graph_parts = core.cuda_graph(adam_iteration)
            graph_lr = opt.lr
          end
          graph:replay()
          parts = graph_parts
        else
          parts = adam_iteration()
        end
        after(it, parts)
      end
      if graph then graph:close() end
    else
      -- L-BFGS one iteration at a time (state carries the history) so that printing,
      -- checkpoints and callbacks work as with Adam.
      -- lbfgs.line_search: "wolfe" (default) takes each step only with a sufficient
      -- decrease (strong Wolfe conditions, optim.lswolfe; usually one evaluation per
      -- iteration, more where the step needs adjusting); "none" is Torch7's and
      -- neural-style's fixed step, which diverges on style-only losses.
      local state, last = {}, nil
      local ls = o.lbfgs and o.lbfgs.line_search or "wolfe"
      if ls ~= "wolfe" and ls ~= "none" then
        fail("lbfgs.line_search must be \"wolfe\" or \"none\", got %s", tostring(ls))
      end
      local wolfe = ls == "wolfe"
      local cfg = {maxIter = 1, nCorrection = (o.lbfgs and o.lbfgs.nCorrection) or 100,
                   learningRate = o.learning_rate, tolFun = -1, tolX = -1,
                   lineSearch = wolfe and optim.lswolfe or nil, keepEval = wolfe}
      -- the loss parts of each evaluation by loss value: the line search ends at one of
      -- its evaluations, not always the last
      local seen = {}
      local function fe(x)
        local f, g, parts = feval(x)
        last = parts
        if wolfe then -- read the loss once: L-BFGS takes the number as it is
          f = f:item()
          seen[f] = parts
        end
        return f, g
      end
      for it = 1, o.num_iterations do
        seen = {}
        local _, fh = optim.lbfgs(fe, img, cfg, state)
        if wolfe and seen[fh[#fh]] then last = seen[fh[#fh]] end
        -- A direction that is no descent direction would stop Torch7's L-BFGS for good
        -- (each later call finds the same direction): restart from steepest descent.
        if state.stalled then state = {} end
        after(it, last)
      end
    end
  end
  local ok, err = pcall(optimize)
  if o.handle_signals ~= false then core.signals_restore() end
  if not ok then error(err, 0) end

  local out = finish(img, content, o)
  if o.output then core.image.save(out, o.output) end
  return out, history
end

setmetatable(M, {__call = function(_, opts) return M.transfer(opts) end})
return M
