-- nst weights list | add FILE | download vgg16|vgg19 | convert FILE [ARCH] [OUT]: the
-- VGG weights files of an installed nst (where they are looked for: nst.weights).
local core = require("nst.core")
local fs = require("nst.fs")
local weights = require("nst.weights")

local M = {}

M.usage = [[
usage: nst weights list                     what is found where (arch, dtype, size)
       nst weights add FILE [-force]        check FILE and copy it into your store
       nst weights download vgg16|vgg19     torchvision's ImageNet weights, converted
       nst weights convert FILE.pth|FILE.caffemodel [vgg16|vgg19] [OUT.safetensors]
                                            convert (python3 with torch or protobuf); OUT
                                            default: your store
Weights are looked for in order in $NST_WEIGHTS (a file or a folder), your store
($XDG_DATA_HOME/nst/weights, else ~/.local/share/nst/weights), the install prefix's
share/nst/weights, then the source tree (weights/, ../shared/weights). A run without
-model_file uses the first VGG16 found, else the first VGG19; add, download and convert
put files into your store as vgg16.safetensors or vgg19.safetensors.]]

-- torchvision's files; the 8 hex digits are the start of each file's sha256.
local PTH = {vgg16 = "vgg16-397923af.pth", vgg19 = "vgg19-dcbb9e9d.pth"}

local function usage(msg, ...) error({usage = msg:format(...)}, 0) end
local function fail(msg, ...) error(msg:format(...), 0) end
local function say(fmt, ...) io.stderr:write("nst weights: ", fmt:format(...), "\n") end

local function mb(bytes) return ("%.1f MB"):format(bytes / 1e6) end

local shell = require("nst.fs").run -- ok, everything it printed

-- The last line of a tool's output that says something (a Python traceback's last line
-- is its exception).
local function reason(out)
  local last
  for line in out:gmatch("[^\n]+") do
    if line:match("%S") then last = line:match("^%s*(.-)%s*$") end
  end
  return last and last:gsub("^convert: ", "") or "no message"
end

local function store()
  local dir = weights.store()
  if not dir then fail("no store: neither XDG_DATA_HOME nor HOME is set (set NST_WEIGHTS, or pass -model_file)") end
  if not fs.mkdir(dir) then fail("cannot make the store %s", dir) end
  return dir
end

local function temp_in(dir, name)
  return ("%s/.part-%d-%d-%s"):format(dir, os.time(), math.random(1 << 30), name)
end

local function list()
  local out = {"looked up in order:"}
  local env = os.getenv("NST_WEIGHTS")
  if not env or env == "" then out[#out + 1] = ("  %-20s (unset)"):format("$NST_WEIGHTS") end
  for _, p in ipairs(weights.places()) do
    local state = (p.file and fs.exists(p.path) or fs.is_dir(p.path)) and "" or "  (not there)"
    out[#out + 1] = ("  %-20s %s%s"):format(p.why, p.path, state)
  end
  local found = weights.found()
  out[#out + 1] = #found > 0 and "found:" or "found: nothing (" .. weights.hint() .. ")"
  for _, f in ipairs(found) do
    local ok, info = pcall(weights.validate, f.path)
    if ok then
      out[#out + 1] = ("  %-6s %-5s %9s  preprocess %-11s %s"):format(info.arch, info.dtype, mb(info.bytes),
        info.preprocess, f.path)
    else
      out[#out + 1] = ("  %s: not usable: %s"):format(f.path, info)
    end
  end
  local ok, arch, path = pcall(weights.resolve, nil, nil)
  if ok then out[#out + 1] = ("a run without -model_file uses %s: %s"):format(arch, path) end
  io.stdout:write(table.concat(out, "\n"), "\n")
  return 0
end

-- Moves a checked file (in the store's folder) to its name in the store.
local function install(tmp, info, dir, force)
  local dst = ("%s/%s.safetensors"):format(dir, info.arch)
  if fs.exists(dst) and not force then
    os.remove(tmp)
    fail("%s is already there; -force replaces it", dst)
  end
  local ok, err = os.rename(tmp, dst)
  if not ok then os.remove(tmp); fail("cannot rename into %s: %s", dst, err) end
  say("%s: %s, %s, %s, preprocess %s", dst, info.arch, info.dtype, mb(info.bytes), info.preprocess)
  return dst
end

local function checked(path)
  local ok, info = pcall(weights.validate, path)
  if not ok then fail("%s", tostring(info):gsub("^[^:\n]+%.lua:%d+: ", "")) end
  return info
end

local function add(file, force)
  if not fs.exists(file) then fail("%s: no such file", file) end
  local info = checked(file)
  local dir = store()
  local dst = ("%s/%s.safetensors"):format(dir, info.arch)
  if fs.exists(dst) and not force then fail("%s is already there; -force replaces it", dst) end
  local f = assert(io.open(file, "rb"))
  local data = f:read("a")
  f:close()
  core.write_atomic(dst, data) -- a temp file beside it, fsynced, renamed: never half a file
  say("added %s: %s, %s, %s, preprocess %s", dst, info.arch, info.dtype, mb(info.bytes), info.preprocess)
  return 0
end

local function python_convert(kind, src, dst, arch)
  local script, tried = weights.convert_script()
  if not script then fail("convert.py is not installed (looked at %s)", table.concat(tried, ", ")) end
  local python = os.getenv("PYTHON") or "/usr/bin/python3"
  if not fs.exists(python) then fail("no %s: install python3-torch (and python3-protobuf for Caffe)", python) end
  local ok, out = shell(table.concat({fs.q(python), fs.q(script), kind, fs.q(src), fs.q(dst), arch}, " "))
  if not ok then
    os.remove(dst)
    os.remove(dst .. ".tmp")
    fail("cannot convert %s: %s", src, reason(out))
  end
end

local KINDS = {pth = "pth", pt = "pth", caffemodel = "caffe"}

-- The arch a file's name says: vgg16, VGG_ILSVRC_16_layers, ...
local function arch_from_name(path)
  local name = path:match("[^/]*$"):lower()
  for _, n in ipairs{"16", "19"} do
    if name:match("vgg[_%-]?" .. n) or name:match("_" .. n .. "_layers") then return "vgg" .. n end
  end
end

local function convert(src, arch, out)
  if not fs.exists(src) then fail("%s: no such file", src) end
  local kind = KINDS[(src:match("%.(%w+)$") or ""):lower()]
  if not kind then usage("convert: %s: expected a .pth or a .caffemodel file", src) end
  arch = arch or arch_from_name(src)
  if not arch then usage("convert: %s: say vgg16 or vgg19 after the file (its name does not)", src) end
  if not weights.convs[arch] then usage("convert: expected vgg16 or vgg19, got '%s'", arch) end
  local dir = out and (out:match("^(.*)/[^/]*$") or ".") or store()
  local tmp = temp_in(dir, arch .. ".safetensors")
  python_convert(kind, src, tmp, arch)
  local ok, info = pcall(checked, tmp)
  if not ok then os.remove(tmp); error(info, 0) end
  if out then
    local rok, err = os.rename(tmp, out)
    if not rok then os.remove(tmp); fail("cannot rename into %s: %s", out, err) end
    say("wrote %s: %s, %s, preprocess %s", out, info.arch, mb(info.bytes), info.preprocess)
  else
    install(tmp, info, dir, true)
  end
  return 0
end

local function download(arch)
  if not PTH[arch] then usage("download: expected vgg16 or vgg19, got '%s'", tostring(arch)) end
  local dir = store()
  local url = (os.getenv("NST_WEIGHTS_URL") or "https://download.pytorch.org/models"):gsub("/$", "") .. "/" .. PTH[arch]
  local tmp = temp_in(dir, PTH[arch])
  -- The download tool runs without a preload meant for nst (a sanitizer's runtime under
  -- `make asan` deadlocks curl), and gives up on a stalled transfer (< 1 kB/s for 60 s).
  local cmd
  if shell("command -v curl") then
    cmd = ("env -u LD_PRELOAD curl -fsSL --connect-timeout 20 --speed-limit 1000 --speed-time 60 --retry 2 -o %s %s")
      :format(fs.q(tmp), fs.q(url))
  elseif shell("command -v wget") then
    cmd = ("env -u LD_PRELOAD wget -q -T 20 -O %s %s"):format(fs.q(tmp), fs.q(url))
  else
    fail("neither curl nor wget is installed: download %s elsewhere, then `nst weights convert FILE`", url)
  end
  say("downloading %s", url)
  local ok, out = shell(cmd)
  if not ok then
    os.remove(tmp)
    fail("cannot download %s (offline?): %s; on a machine that is online run `nst weights download %s` "
         .. "and copy the file here with `nst weights add FILE`", url, reason(out), arch)
  end
  local want = PTH[arch]:match("%-(%x+)%.pth$")
  local _, sum = shell("sha256sum " .. fs.q(tmp))
  if sum:sub(1, #want) ~= want then
    os.remove(tmp)
    fail("%s: sha256 starts with %s, expected %s (a corrupt download, removed; run again)", url, sum:sub(1, #want), want)
  end
  local conv_ok, err = pcall(convert, tmp, arch, nil)
  os.remove(tmp)
  if not conv_ok then error(err, 0) end
  return 0
end

local function main(args)
  local sub = args[1]
  if sub == nil or sub == "-h" or sub == "--help" or sub == "help" then
    io.stdout:write(M.usage, "\n")
    return sub and 0 or 2
  end
  local rest, force = {}, false
  for i = 2, #args do
    if args[i] == "-force" or args[i] == "--force" then force = true else rest[#rest + 1] = args[i] end
  end
  if sub == "list" then return list() end
  if sub == "add" then
    if #rest ~= 1 then usage("add: expected one FILE (see nst weights --help)") end
    return add(rest[1], force)
  end
  if sub == "download" then
    if #rest ~= 1 then usage("download: expected vgg16 or vgg19") end
    return download(rest[1])
  end
  if sub == "convert" then
    if #rest < 1 or #rest > 3 then usage("convert: expected FILE [vgg16|vgg19] [OUT.safetensors]") end
    local arch, out = rest[2], rest[3]
    if arch and arch:match("%.safetensors$") then arch, out = nil, arch end
    return convert(rest[1], arch, out)
  end
  usage("unknown command '%s' (list, add, download, convert; see nst weights --help)", sub)
end

function M.main(args) return require("nst.cmd_args").run("weights", main, args) end

return M
