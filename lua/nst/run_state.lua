-- The saved state of a transfer run, for an exact resume: one safetensors file beside
-- the output (out.png -> out.state.safetensors), replaced atomically at each checkpoint.
--   tensors   image (the iterate), and the optimizer's: adam.m, adam.v, adam.steps, or
--             lbfgs.x (its variable, the network's input), lbfgs.d, lbfgs.g_old, lbfgs.g
--             (the gradient at x), lbfgs.dir.<i>, lbfgs.stp.<i> (its history, oldest first)
--   metadata  nst_state: a JSON object (see lua/README.md, "The run state")
--     format "nst-run-state", version 1
--     iteration  the last iteration done (counted across scales); scale  the index of
--                the scale being run (nst.scales; 1 for a run of one scale)
--     ema_t      with iterate averaging (nst.ema): its step count; tensor ema.avg
--     rng        the generator's state (4 × 64-bit, hex; nst.rng_state)
--     optimizer  {name = "adam", t, lr} | {name = "lbfgs", nIter, funcEval, Hdiag, t, f_old, f, stalled, ndirs}
--     history    the rows recorded so far (as nst.transfer returns them)
--     run        what defines the run: {key = canonical string}, compared on resume
--     info       what does not define it (seed, device, the paths as given)
-- Floats of the optimizer and the history are written as C99 hex floats ("%a", as
-- strings), so a resumed run continues from exactly the same numbers.
local core = require("nst.core")
local json = require("dkjson")

local M = {}

M.FORMAT, M.VERSION = "nst-run-state", 1

-- out.png -> out.state.safetensors
function M.path_for(output)
  return (output:gsub("%.[^./]+$", "")) .. ".state.safetensors"
end

local function fail(msg, ...) error("nst.transfer: " .. msg:format(...), 0) end

-- ---- exact numbers --------------------------------------------------------------

local SPECIAL = {inf = math.huge, ["-inf"] = -math.huge, nan = 0 / 0}

-- A copy of v with every non-table value x replaced by leaf(x), tables recursed into.
local function map_leaves(v, leaf)
  if type(v) ~= "table" then return leaf(v) end
  local out = {}
  for k, x in pairs(v) do out[k] = map_leaves(x, leaf) end
  return out
end

-- Float -> hex-float string (integers, strings and booleans stay).
local function encode_number(v)
  if math.type(v) ~= "float" then return v end
  if v ~= v then return "nan" end
  if v == math.huge or v == -math.huge then return v > 0 and "inf" or "-inf" end
  return ("%a"):format(v)
end

-- The inverse: a string that is a number -> float.
local function decode_number(v)
  if type(v) ~= "string" then return v end
  if SPECIAL[v] then return SPECIAL[v] end
  return tonumber(v) and tonumber(v) + 0.0 or v
end

local function encode_numbers(v) return map_leaves(v, encode_number) end
local function decode_numbers(v) return map_leaves(v, decode_number) end

-- ---- what defines a run -----------------------------------------------------------

local function canon(v)
  if type(v) == "table" then
    local parts = {}
    if #v > 0 then
      for i, x in ipairs(v) do parts[i] = canon(x) end
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = k end
      table.sort(keys)
      for i, k in ipairs(keys) do parts[i] = k .. "=" .. canon(v[k]) end
    end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  if math.type(v) == "float" then return ("%.17g"):format(v) end
  return tostring(v)
end

-- FNV-1a over the 8-byte words of s (and its tail), 64 bits: a change detector, not a
-- cryptographic hash.
local function fnv(s, h)
  h = h or -3750763034362895579 -- 0xcbf29ce484222325
  local n = #s - #s % 8
  for i = 1, n, 8 do h = (h ~ string.unpack("<i8", s, i)) * 1099511628211 end
  for i = n + 1, #s do h = (h ~ s:byte(i)) * 1099511628211 end
  return h
end

-- Bytes of a file hashed: all of a small one; the first and last 2 MiB of a large one (a
-- weights file: its header names every tensor's place, its data differs from the start).
local SAMPLE = 2 << 20

-- An input (a path or a tensor) as "<size> bytes, fnv <hex>" ("tensor HxW..., fnv <hex>").
function M.identity(x)
  if type(x) == "string" then
    local f, err = io.open(x, "rb")
    if not f then fail("cannot read %s", err) end
    local size = f:seek("end")
    f:seek("set", 0)
    local h = fnv(f:read(math.min(size, 2 * SAMPLE)) or "")
    if size > 2 * SAMPLE then
      f:seek("set", size - SAMPLE)
      h = fnv(f:read(SAMPLE), h)
    end
    f:close()
    return ("%d bytes, fnv %016x"):format(size, h)
  end
  return ("tensor %s, fnv %016x"):format(table.concat(x:shape(), "x"), fnv(x:cpu():bytes()))
end

-- The option keys that define a run (what its iterates depend on).
local DEFINING = {
  "model", "pooling", "normalization", "image_size", "style_scale", "style_blend_weights",
  "content_layers", "style_layers", "layer_weights", "content_weight", "style_weight", "tv_weight",
  "tv_kind", "content_mean", "normalize_gradients", "init", "noise_std", "optimizer", "learning_rate",
  "lr_decay", "lbfgs", "clamp", "style_loss", "ema", "color", "width", "height",
}

-- run -> {key = canonical string} (what a resume must match) and {key = value} (info).
-- ids: identities already computed for this run (inputs are hashed once).
function M.definition(run)
  local o = run.opts
  run.ids = run.ids or {}
  local ids = run.ids
  local def, info = {}, {seed = o.seed, device = run.device}
  for _, k in ipairs(DEFINING) do
    local v = o[k]
    if k == "lbfgs" and o.optimizer ~= "lbfgs" then v = nil end
    if k == "style_loss" and v == "gram" then v = nil end -- states from before style_loss
    if (k == "ema" and v == 0) then v = nil end -- nor does a run without averaging
    if v ~= nil then def[k] = canon(v) end
  end
  local function input(key, x)
    if x == nil then return end
    ids[key] = ids[key] or M.identity(x)
    def[key] = ids[key]
    if type(x) == "string" then info[key] = x end
  end
  input("content_image", o.content_image)
  for i, s in ipairs(o.style_images) do input("style_image " .. i, s) end
  if o.init == "file" then input("init_image", o.init_image) end
  -- masks (nst.masks): keys only when given, so the states of unmasked runs stay as they were
  for key, x in pairs(require("nst.masks").inputs(o)) do input(key, x) end
  if o.mask_mode and o.mask_mode ~= "simple" then def.mask_mode = canon(o.mask_mode) end
  if (o.temporal_weight or 0) > 0 then -- no key for runs without the term: their states stay as they were
    def.temporal_weight = canon(o.temporal_weight)
    input("temporal_image", o.temporal_image)
    input("temporal_mask", o.temporal_mask)
  end
  def.scales = require("nst.scales").definition(o.schedule or {0}) -- nil for one scale
  def.model = run.net.arch or def.model
  def.pooling = run.net.pooling or def.pooling
  if run.net.weights then input("weights", run.net.weights) end
  return def, info
end

-- The differences between a saved definition and this run's, as "key: the state has X,
-- this run Y" lines (sorted).
local function differences(saved, now)
  local keys, seen = {}, {}
  for k in pairs(saved) do keys[#keys + 1] = k; seen[k] = true end
  for k in pairs(now) do if not seen[k] then keys[#keys + 1] = k end end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do
    if saved[k] ~= now[k] then
      out[#out + 1] = ("%s: the state has %s, this run %s"):format(k, saved[k] or "none", now[k] or "none")
    end
  end
  return out
end

-- ---- the optimizers' state --------------------------------------------------------

local function optimizer_state(run, tensors)
  local o = run.opts
  if o.optimizer == "adam" then
    local a = run.adam
    if not a or not a.m then return {name = "adam", t = 0} end
    tensors["adam.m"], tensors["adam.v"], tensors["adam.steps"] = a.m:cpu(), a.v:cpu(), a.steps:cpu()
    return {name = "adam", t = a.t, lr = a.lr}
  end
  local s = run.lbfgs or {}
  local st = {name = "lbfgs", nIter = s.nIter, funcEval = s.funcEval, Hdiag = s.Hdiag, t = s.t,
              f_old = s.f_old, stalled = s.stalled, ndirs = s.old_dirs and #s.old_dirs or 0}
  if s.x then tensors["lbfgs.x"] = s.x:cpu() end
  if s.d then tensors["lbfgs.d"] = s.d:cpu() end
  if s.g_old then tensors["lbfgs.g_old"] = s.g_old:cpu() end
  if s.fg then st.f, tensors["lbfgs.g"] = s.fg[1], s.fg[2]:cpu() end
  for i = 1, st.ndirs do
    tensors["lbfgs.dir." .. i], tensors["lbfgs.stp." .. i] = s.old_dirs[i]:cpu(), s.old_stps[i]:cpu()
  end
  return st
end

-- Writes the state of run (after its iteration run.iteration) to path, atomically.
function M.save(run, path)
  local def, info = M.definition(run)
  local tensors = {image = run.image:cpu()}
  local opt = optimizer_state(run, tensors)
  if run.ema then tensors["ema.avg"] = run.ema.avg:cpu() end
  local rows = {}
  for i, r in ipairs(run.history) do rows[i] = r end
  local doc = {format = M.FORMAT, version = M.VERSION, iteration = run.iteration, scale = run.scale or 1,
               ema_t = run.ema and run.ema.t or nil,
               rng = core.rng_state(), optimizer = encode_numbers(opt), history = encode_numbers(rows),
               run = def, info = info}
  core.safetensors.save(path, tensors, {nst_state = json.encode(doc)})
end

-- ---- reading back -----------------------------------------------------------------

local function need(cond, path, what, ...)
  if not cond then fail("resume: %s is not a usable nst run state: " .. what, path, ...) end
  return cond
end

-- path -> {doc = the decoded metadata, tensors = {name = tensor}}; a clear error for a
-- missing, truncated or foreign file.
function M.read(path)
  local f = io.open(path, "rb")
  if not f then fail("resume: no saved state at %s (a run writes it at each checkpoint)", path) end
  f:close()
  local ok, tensors, meta = pcall(core.safetensors.load, path)
  need(ok, path, "%s", tostring(tensors):gsub("^safetensors%.load: ", ""))
  local text = need(meta and meta.nst_state, path, "it has no nst_state metadata")
  local doc = json.decode(text)
  need(type(doc) == "table" and doc.format == M.FORMAT, path, "its nst_state is not an %s document", M.FORMAT)
  need(doc.version == M.VERSION, path, "version %s, this nst reads version %d", tostring(doc.version), M.VERSION)
  need(math.type(doc.iteration) == "integer" and doc.iteration >= 0, path, "no iteration count")
  need(type(doc.run) == "table" and type(doc.history) == "table" and type(doc.optimizer) == "table"
       and (doc.rng == nil or type(doc.rng) == "table" and #doc.rng == 4), path, "a field is missing")
  need(tensors.image, path, "it holds no image")
  doc.optimizer, doc.history = decode_numbers(doc.optimizer), decode_numbers(doc.history)
  return {doc = doc, tensors = tensors, path = path}
end

local function restore_optimizer(run, st, T, path)
  local opt, dev = st.doc.optimizer, run.device
  local function t(name) return need(T[name], path, "it lacks tensor %s", name):to(dev) end
  need(opt.name == run.opts.optimizer, path, "optimizer %s, this run %s", tostring(opt.name), run.opts.optimizer)
  if opt.name == "adam" then
    if (opt.t or 0) == 0 then return end
    local optim = require("nst.optim")
    local a = optim.adam{lr = opt.lr}
    a.m, a.v, a.steps, a.t = t("adam.m"), t("adam.v"), t("adam.steps"), math.tointeger(opt.t)
    run.adam = a
    return
  end
  local s = {nIter = math.tointeger(opt.nIter), funcEval = math.tointeger(opt.funcEval), Hdiag = opt.Hdiag,
             t = opt.t, f_old = opt.f_old, stalled = opt.stalled, old_dirs = {}, old_stps = {}}
  if T["lbfgs.x"] then s.x = t("lbfgs.x") end
  if T["lbfgs.d"] then s.d = t("lbfgs.d") end
  if T["lbfgs.g_old"] then s.g_old = t("lbfgs.g_old") end
  if T["lbfgs.g"] then s.fg = {opt.f, t("lbfgs.g")} end
  for i = 1, math.tointeger(opt.ndirs) or 0 do
    s.old_dirs[i], s.old_stps[i] = t("lbfgs.dir." .. i), t("lbfgs.stp." .. i)
  end
  run.lbfgs = s
end

-- The scale a state was saved at (1 for states of one scale), within the options'
-- schedule (a schedule that differs is refused by restore, naming the difference).
function M.scale_of(st, o)
  local k = math.tointeger(st.doc.scale) or 1
  return math.max(1, math.min(k, #o.schedule))
end

-- Continues run from the state st (M.read): refuses a state of another run, naming what
-- differs; then the image, the optimizer, the iteration, the history and the generator.
function M.restore(run, st)
  local doc, path = st.doc, st.path
  local diff = differences(doc.run, (M.definition(run)))
  if #diff > 0 then
    fail("resume: %s is the state of another run:\n  %s", path, table.concat(diff, "\n  "))
  end
  local img = st.tensors.image
  need(canon(img:shape()) == canon(run.image:shape()), path, "its image is %s, this run's %s",
       table.concat(img:shape(), "x"), table.concat(run.image:shape(), "x"))
  run.image:copy(img:to(run.device))
  restore_optimizer(run, st, st.tensors, path)
  if doc.ema_t then
    run.ema = {avg = need(st.tensors["ema.avg"], path, "it lacks tensor ema.avg"):to(run.device),
               t = math.tointeger(doc.ema_t)}
  end
  run.iteration = doc.iteration
  for i, r in ipairs(doc.history) do run.history[i] = r end
  if doc.rng then core.set_rng_state(doc.rng) end
  run.opts.resumed_from = doc.iteration
end

return M
