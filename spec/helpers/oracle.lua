-- PyTorch as an independent oracle: runs Debian's python3-torch (CPU, float64) on the
-- same inputs and returns its results as nst tensors.
--   local out = oracle.torch([[out["y"] = x @ w]], {x = tx, w = tw})
-- Each input is a float64 torch tensor variable of its name; `torch` and `F`
-- (torch.nn.functional) are in scope; the code fills the dict `out`.
local nst = require("nst")
local files = require("helpers.files")
local read, write = files.read, files.write

local oracle = {}
oracle.python = os.getenv("NST_ORACLE_PYTHON") or "/usr/bin/python3"

local driver = [[
import sys, json, struct, os
import torch
import torch.nn.functional as F
torch.set_default_dtype(torch.float64)
d = sys.argv[1]
man = json.load(open(os.path.join(d, "in.json")))
env = {"torch": torch, "F": F, "out": {}}
for name, shape in man["inputs"].items():
    raw = open(os.path.join(d, name + ".f32"), "rb").read()
    t = torch.frombuffer(bytearray(raw), dtype=torch.float32).to(torch.float64).reshape(shape)
    env[name] = t
exec(open(os.path.join(d, "code.py")).read(), env)
res = {}
for name, v in env["out"].items():
    t = torch.as_tensor(v).to(torch.float64).detach()
    open(os.path.join(d, name + ".out"), "wb").write(t.reshape(-1).to(torch.float32).numpy().tobytes())
    res[name] = list(t.shape) or [1]
json.dump(res, open(os.path.join(d, "out.json"), "w"))
]]

-- Minimal JSON for {"name": [ints]} both ways (manifests only; no user data).
local function shapes_json(t)
  local parts = {}
  for name, shape in pairs(t) do
    parts[#parts + 1] = string.format("%q: [%s]", name, table.concat(shape, ", "))
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local function parse_shapes(s)
  local res = {}
  for name, dims in s:gmatch('"([%w_]+)":%s*%[([%d,%s]*)%]') do
    local shape = {}
    for d in dims:gmatch("%d+") do shape[#shape + 1] = tonumber(d) end
    res[name] = shape
  end
  return res
end

function oracle.torch(code, inputs)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p '" .. dir .. "'"))
  local shapes = {}
  for name, t in pairs(inputs) do
    assert(name:match("^[%a_][%w_]*$"), "oracle input names must be identifiers")
    shapes[name] = t:shape()
    write(dir .. "/" .. name .. ".f32", t:bytes())
  end
  write(dir .. "/in.json", '{"inputs": ' .. shapes_json(shapes) .. "}")
  write(dir .. "/code.py", code)
  write(dir .. "/driver.py", driver)
  local cmd = string.format("%s '%s/driver.py' '%s' 2>'%s/err.txt'", oracle.python, dir, dir, dir)
  local ok = os.execute(cmd)
  if not ok then
    local err = read(dir .. "/err.txt")
    files.rm_rf(dir)
    error("torch oracle failed: " .. err, 2)
  end
  local res = {}
  for name, shape in pairs(parse_shapes(read(dir .. "/out.json"))) do
    res[name] = nst.from_bytes(read(dir .. "/" .. name .. ".out"), shape)
  end
  files.rm_rf(dir)
  return res
end

-- max |a - b| / max |b|: the error relative to the reference's scale.
function oracle.rel_err(a, b)
  a, b = a:cpu(), b:cpu()
  assert(a:numel() == b:numel(), "rel_err: element counts differ")
  local diff = (a:reshape(-1) - b:reshape(-1)):abs():max():item()
  local scale = b:abs():max():item()
  if scale == 0 then return diff end
  return diff / scale
end

return oracle
