-- Weights files: where nst looks for them (in order: $NST_WEIGHTS, the per-user store,
-- the install prefix's share/nst/weights, the source tree), what a file holds (its arch,
-- from its metadata or its tensors) and the whole-file check `nst weights add` makes.
local core = require("nst.core")
local fs = require("nst.fs")

local M = {}

-- The names a weights file of each arch is found by in a folder, in order.
M.filenames = {
  vgg16 = {"vgg16.safetensors"},
  vgg19 = {"vgg19.safetensors", "vgg19-conv.f16.safetensors"},
}

-- torchvision's vgg*.features index of each conv and its output channels.
M.convs = {
  vgg16 = {idx = {0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28},
           out = {64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512}},
  vgg19 = {idx = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34},
           out = {64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512}},
}

-- Weight formats of the tools nst replaces, recognized by name to say what to do.
local FOREIGN = {
  caffemodel = "a Caffe model (neural-style's -model_file)",
  t7 = "a Torch7 file",
  pth = "a PyTorch checkpoint",
  pt = "a PyTorch checkpoint",
}

-- The folder of this file (nil when loaded from a string).
local function here()
  return debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")
end

-- The install prefix: PREFIX/share/lua/5.4/nst/weights.lua (make install, a LuaRocks tree).
function M.prefix()
  local d = here()
  return d and d:match("^(.*)/share/lua/[^/]+/nst$")
end

-- The source tree: ROOT/lua/nst/weights.lua, recognized by ROOT/weights/convert.py.
function M.source_root()
  local d = here()
  if not d then return nil end
  local root = d == "lua/nst" and "." or d:match("^(.*)/lua/nst$")
  return root and fs.exists(root .. "/weights/convert.py") and root or nil
end

-- The per-user store: $XDG_DATA_HOME/nst/weights, else ~/.local/share/nst/weights.
function M.store()
  local xdg = os.getenv("XDG_DATA_HOME")
  if xdg and xdg ~= "" then return xdg .. "/nst/weights" end
  local home = os.getenv("HOME")
  if not home or home == "" then return nil end
  return home .. "/.local/share/nst/weights"
end

-- Where weights are looked for, in order: {path =, file = true for a file, why = what
-- put it there}.
function M.places()
  local list, seen = {}, {}
  local function add(path, why, file)
    if path and not seen[path] then seen[path] = true; list[#list + 1] = {path = path, why = why, file = file} end
  end
  local env = os.getenv("NST_WEIGHTS")
  if env and env ~= "" then add(env:gsub("/$", ""), "$NST_WEIGHTS", not fs.is_dir(env)) end
  add(M.store(), "the user's store")
  local prefix = M.prefix()
  if prefix then add(prefix .. "/share/nst/weights", "the install prefix") end
  local root = M.source_root()
  if root and root ~= "." then -- "." is the current folder's, below
    add(root .. "/weights", "the source tree")
    add(root .. "/../shared/weights", "the source tree")
  end
  add("weights", "the current folder")
  add("../shared/weights", "the current folder")
  return list
end

-- The convert script: the installed one (PREFIX/share/nst, or a LuaRocks rock's own
-- share/nst), else the source tree's.
function M.convert_script()
  local prefix, root = M.prefix(), M.source_root()
  local cands = {}
  if prefix then
    cands[#cands + 1] = prefix .. "/share/nst/convert.py"
    cands[#cands + 1] = ("%s/lib/luarocks/rocks-%s/nst/%s/share/nst/convert.py"):format(prefix,
      _VERSION:match("%d+%.%d+"), require("nst").version)
  end
  if root then cands[#cands + 1] = root .. "/weights/convert.py" end
  for _, p in ipairs(cands) do if fs.exists(p) then return p end end
  return nil, cands
end

-- What to do when weights are missing, for every such message.
function M.hint(arch)
  return ("give a file with -model_file (Lua: weights = PATH), set NST_WEIGHTS to a file or folder, "
    .. "or install weights with `nst weights download %s` or `nst weights add FILE`"):format(arch or "vgg19")
end

local function header(path)
  local ok, h = pcall(core.safetensors.header, path)
  if not ok then error(tostring(h):gsub("^[^:\n]+%.lua:%d+: ", ""), 0) end
  return h
end

-- The arch a file holds and how that is known: its metadata `arch`, else its tensors
-- (VGG19 has convs at features.16/23/25/30/32/34, VGG16 at 17/24/26). nil, reason when
-- the tensors cannot tell (a prefix of 7 convs or fewer is the same in both).
function M.arch_of(path, h)
  h = h or header(path)
  local a = h.metadata and h.metadata.arch
  if a ~= nil then
    if not M.convs[a] then error(("%s: metadata arch '%s' is neither vgg16 nor vgg19"):format(path, tostring(a)), 0) end
    return a, "its metadata"
  end
  local function has(list)
    for _, i in ipairs(list) do if h.tensors[("features.%d.weight"):format(i)] then return true end end
  end
  local v19, v16 = has{16, 23, 25, 30, 32, 34}, has{17, 24, 26}
  if v19 and v16 then error(("%s: has convolutions of both VGG16 and VGG19"):format(path), 0) end
  if v19 then return "vgg19", "its tensors" end
  if v16 then return "vgg16", "its tensors" end
  return nil, "its tensors are the same in VGG16 and VGG19 and it has no metadata arch"
end

-- The whole-file check of `nst weights add`: a safetensors header, an arch, every conv's
-- weight (OIHW) and bias with its shape. Returns {arch, dtype, bytes, preprocess}.
function M.validate(path)
  local h = header(path)
  local arch, why = M.arch_of(path, h)
  if not arch then error(("%s: cannot tell its arch: %s"):format(path, why), 0) end
  local c, cin, dtype = M.convs[arch], 3, nil
  for i, idx in ipairs(c.idx) do
    for _, kind in ipairs{"weight", "bias"} do
      local name = ("features.%d.%s"):format(idx, kind)
      local want = kind == "weight" and {c.out[i], cin, 3, 3} or {c.out[i]}
      local t = h.tensors[name]
      if not t then error(("%s: %s weights without '%s' (conv %d of %d)"):format(path, arch, name, i, #c.idx), 0) end
      if table.concat(t.shape, "x") ~= table.concat(want, "x") then
        error(("%s: '%s' has shape %s, %s expects %s"):format(path, name, table.concat(t.shape, "x"), arch,
          table.concat(want, "x")), 0)
      end
      dtype = dtype or t.dtype
    end
    cin = c.out[i]
  end
  local f = assert(io.open(path, "rb"))
  local bytes = f:seek("end")
  f:close()
  return {arch = arch, dtype = dtype, bytes = bytes, preprocess = h.metadata.preprocess or "torchvision"}
end

-- The files found where weights are looked for: {path =, why =, arch =} in lookup order
-- (arch nil: the file of a folder that is not one's name says).
function M.found()
  local out = {}
  for _, place in ipairs(M.places()) do
    if place.file then
      if fs.exists(place.path) then out[#out + 1] = {path = place.path, why = place.why} end
    else
      for _, arch in ipairs{"vgg16", "vgg19"} do
        for _, name in ipairs(M.filenames[arch]) do
          local p = place.path .. "/" .. name
          if fs.exists(p) then out[#out + 1] = {path = p, why = place.why, arch = arch} end
        end
      end
    end
  end
  return out
end

local function explicit(path)
  if not fs.exists(path) then
    error(("weights file not found: %s (-model_file; see `nst weights list` for the installed ones)"):format(path), 0)
  end
  local ext = path:match("%.([%w]+)$")
  if ext and FOREIGN[ext:lower()] then
    error(("%s is %s; nst reads safetensors with torchvision's layer names: `nst weights convert %s` "
           .. "converts it (see weights/README.md)"):format(path, FOREIGN[ext:lower()], path), 0)
  end
  return path
end

-- The weights of a run: model (nil: from the file) and path (nil: looked up; no model
-- then means VGG16 when installed, else VGG19). Returns arch, path. An explicit model
-- that contradicts the file is an error naming both.
function M.resolve(model, path)
  if model ~= nil and not M.convs[model] then
    error(("model must be \"vgg16\" or \"vgg19\", got %s"):format(tostring(model)), 0)
  end
  if path then
    explicit(path)
    local arch, why = M.arch_of(path)
    if model and arch and model ~= arch then
      error(("-model %s contradicts the weights file %s, which is %s (%s); drop -model or give %s weights")
        :format(model, path, arch, why, model), 0)
    end
    arch = model or arch
    if not arch then error(("%s: cannot tell VGG16 from VGG19: %s; say which with -model"):format(path, why), 0) end
    return arch, path
  end
  local found = M.found()
  for _, arch in ipairs(model and {model} or {"vgg16", "vgg19"}) do
    for _, f in ipairs(found) do
      if (f.arch or M.arch_of(f.path)) == arch then return arch, f.path end
    end
  end
  local tried = {}
  for _, p in ipairs(M.places()) do tried[#tried + 1] = p.path end
  error(("no %s weights found (looked in %s); %s"):format(model or "VGG16 or VGG19", table.concat(tried, ", "),
    M.hint(model)), 0)
end

return M
