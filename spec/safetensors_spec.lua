-- nst.safetensors: round trips, the real VGG19 file checked against an independent
-- Python reader, and every kind of malformed file.
local nst = require("nst")
local files = require("helpers.files")
local write_file, read_file, exists = files.write, files.read, files.exists
local weights = require("helpers.weights")
local st = nst.safetensors

local PY = "/usr/bin/python3"

local dir
local function tmp(name) return dir .. "/" .. name end

-- Runs a Python script (text) with arguments; returns its stdout, fails on a non-zero exit.
local function python(script, ...)
  local f = io.open(PY, "rb")
  assert(f, PY .. " is needed as an independent reference (python3 with numpy and torch)")
  f:close()
  local sp = tmp("script.py")
  write_file(sp, script)
  local args = {}
  for i, a in ipairs({...}) do args[i] = "'" .. a .. "'" end
  local p = assert(io.popen(PY .. " " .. sp .. " " .. table.concat(args, " ") .. " 2>&1"))
  local out = p:read("a")
  local ok, _, code = p:close()
  assert(ok, ("python failed (%s): %s"):format(tostring(code), out))
  return out
end

-- pcall(fn, ...) must fail with a message containing every given fragment (plain text).
local function expect_error(fragments, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error containing: " .. table.concat(fragments, " | "))
  err = tostring(err)
  for _, frag in ipairs(fragments) do
    assert(err:find(frag, 1, true), ("error %q does not contain %q"):format(err, frag))
  end
  return err
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

local function floats(t)
  local b, out = t:bytes(), {}
  for i = 1, #b // 4 do out[i] = string.unpack("<f", b, 4 * i - 3) end
  return out
end

-- A raw safetensors file: u64 header length (or `len` instead), header, data.
local function raw(name, json, data, len)
  local path = tmp(name)
  write_file(path, string.pack("<I8", len or #json) .. json .. (data or ""))
  return path
end

setup(function() dir = files.tmpdir() end)
teardown(function() if dir then files.rm_rf(dir) end end)

describe("safetensors round trip", function()
  it("keeps F32 values, shapes and metadata exactly", function()
    nst.manual_seed(11)
    local ts = {
      a = nst.randn(5),
      b = nst.randn(2, 3),
      c = nst.randn(2, 3, 4),
      ["features.0.weight"] = nst.randn(4, 3, 3, 3),
      one = nst.tensor({42.5}),
    }
    local meta = {arch = "vgg16", note = "ünïcode \"quoted\" \n newline", empty = ""}
    local path = tmp("rt.safetensors")
    st.save(path, ts, meta)
    local got, gm = st.load(path)
    assert.equal(count(ts), count(got))
    for name, t in pairs(ts) do
      assert.same(t:shape(), got[name]:shape())
      assert.equal(t:bytes(), got[name]:bytes())
    end
    assert.same(meta, gm)
    -- the header alone, without data
    local h = st.header(path)
    assert.same(meta, h.metadata)
    assert.equal("F32", h.tensors.c.dtype)
    assert.same({2, 3, 4}, h.tensors.c.shape)
    assert.equal(24 * 4, h.tensors.c.offsets[2] - h.tensors.c.offsets[1])
    -- 8 + header length is a multiple of 8 (the format's alignment convention)
    assert.equal(0, (8 + string.unpack("<I8", read_file(path))) % 8)
  end)

  it("writes no metadata block when none is given, and loads selected names", function()
    local path = tmp("sel.safetensors")
    st.save(path, {x = nst.ones(3), y = nst.zeros(2, 2)})
    assert.is_nil(read_file(path):find("__metadata__", 1, true))
    local got, meta = st.load(path, {names = {"y"}, device = "cpu"})
    assert.same({}, meta)
    assert.is_nil(got.x)
    assert.same({{0, 0}, {0, 0}}, got.y:totable())
    expect_error({"no tensor 'z' in file", path}, st.load, path, {names = {"y", "z"}})
  end)

  it("rounds F16 and BF16 to nearest even like numpy / torch, both ways", function()
    nst.manual_seed(5)
    local specials = nst.tensor({1 / 0, -1 / 0, 65504, 65519, 65520, 70000, 1e-8, 2 ^ -25,
      1.5 * 2 ^ -25, 3e-8, 2 ^ -24, 2 ^ -14, 2 ^ -14 * 0.999, 1 / 3, -0.0, 1e-5, 3e38, -3e38,
      1 + 2 ^ -11, 1 + 3 * 2 ^ -11, 1 + 2 ^ -8, 1 + 3 * 2 ^ -8})
    local x = nst.randn(4000) * 30
    local xb = x:bytes() .. specials:bytes() .. string.pack("<I4", 0x7fc00000) -- + a NaN
    local n = #xb // 4
    local all = nst.from_bytes(xb, n)
    write_file(tmp("orig.f32"), xb)
    for _, dtype in ipairs({"F16", "BF16"}) do
      local path = tmp("r." .. dtype .. ".safetensors")
      st.save(path, {v = all}, {k = "v"}, {dtype = dtype})
      -- Python converts the originals itself and checks our bytes, then writes what the
      -- stored values are as float32 so we can check the loader.
      local out = python([[
import json, struct, sys, numpy as np, torch
path, orig, dtype, back = sys.argv[1:5]
data = open(path, 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
h = json.loads(data[8:8 + n])
assert h['__metadata__'] == {'k': 'v'}, h
e = h['v']
assert e['dtype'] == dtype and e['shape'] == [int(sys.argv[5])], e
b, en = e['data_offsets']
mine = np.frombuffer(data[8 + n + b:8 + n + en], dtype='<u2')
x = np.fromfile(orig, dtype='<f4')
if dtype == 'F16':
    with np.errstate(all='ignore'):
        ref = x.astype(np.float16).view(np.uint16)
    vals = mine.view(np.float16).astype(np.float32)
else:
    ref = torch.from_numpy(x.copy()).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    vals = torch.from_numpy(mine.view(np.int16).copy()).view(torch.bfloat16).float().numpy()
nan = np.isnan(x)
bad = int(np.sum((mine != ref) & ~nan))
assert np.all(np.isnan(vals[nan])), 'nan lost'
vals.astype('<f4').tofile(back)
print('mismatches', bad)
]], path, tmp("orig.f32"), dtype, tmp("back.f32"), tostring(n))
      assert.equal("mismatches 0", out:match("mismatches %d+"), out)
      local got = st.load(path).v
      local want = read_file(tmp("back.f32"))
      local gb = got:bytes()
      -- all but the NaN bit for bit; the NaN stays a NaN
      assert.equal(want:sub(1, -5), gb:sub(1, -5))
      local last = string.unpack("<f", gb, #gb - 3)
      assert.is_true(last ~= last)
      assert.equal("F16" == dtype and "F16" or "BF16", st.header(path).tensors.v.dtype)
    end
  end)

  it("F16 specials come back as IEEE half rounding says", function()
    local path = tmp("spec16.safetensors")
    st.save(path, {v = nst.tensor({65520, 65519, 1e-8, 3e-8, 2 ^ -25, 1.5 * 2 ^ -25, -1 / 0})},
      nil, {dtype = "f16"})
    local v = floats(st.load(path).v)
    assert.equal(1 / 0, v[1]) -- 65520 is the tie between 65504 and 2^16: to even, inf
    assert.equal(65504, v[2])
    assert.equal(0, v[3])
    assert.equal(2 ^ -24, v[4]) -- smallest subnormal
    assert.equal(0, v[5]) -- tie to even
    assert.equal(2 ^ -24, v[6])
    assert.equal(-1 / 0, v[7])
  end)

  it("is atomic: a failed save leaves neither a partial file nor the old one changed", function()
    local path = tmp("atomic.safetensors")
    st.save(path, {a = nst.ones(4)}, {v = "1"})
    local before = read_file(path)
    local closed = nst.zeros(2)
    closed:close()
    expect_error({"tensors['b'] is closed"}, st.save, path, {a = nst.zeros(4), b = closed})
    expect_error({"must be a string"}, st.save, path, {a = nst.zeros(4)}, {v = 2})
    expect_error({"cannot create a temporary file", "/no/such/dir/x.safetensors"}, st.save,
      "/no/such/dir/x.safetensors", {a = nst.ones(1)})
    assert.equal(before, read_file(path))
    for _, name in ipairs(files.ls(dir)) do
      assert.is_nil(name:find(".tmp.", 1, true), "leftover temporary file " .. name)
    end
  end)

  it("rejects bad arguments with clear messages", function()
    local p = tmp("args.safetensors")
    expect_error({"bad argument #1", "string expected"}, st.save, nil, {})
    expect_error({"bad argument #2", "name -> nst.Tensor"}, st.save, p, 5)
    expect_error({"bad argument #3", "metadata"}, st.save, p, {}, "x")
    expect_error({"tensors keys must be strings"}, st.save, p, {nst.ones(1)})
    expect_error({"tensors['a'] must be an nst.Tensor, got number"}, st.save, p, {a = 1})
    expect_error({"opts.dtype", "unsupported dtype 'I8'", "F32, F16, BF16"}, st.save, p,
      {a = nst.ones(1)}, nil, {dtype = "I8"})
    expect_error({"unknown option 'dtyp'"}, st.save, p, {a = nst.ones(1)}, nil, {dtyp = "F16"})
    expect_error({"'__metadata__' cannot be a tensor name"}, st.save, p,
      {__metadata__ = nst.ones(1)})
    st.save(p, {a = nst.ones(1)})
    expect_error({"opts.names must be a list"}, st.load, p, {names = "a"})
    expect_error({"opts.names[1] must be a string"}, st.load, p, {names = {1}})
    expect_error({"opts.device"}, st.load, p, {device = "tpu"})
    expect_error({"unknown option 'name'"}, st.load, p, {name = {"a"}})
    expect_error({"bad argument #2", "table of options"}, st.load, p, "cpu")
  end)
end)

describe("safetensors: the real VGG19 file", function()
  local path = weights.VGG19_REAL

  it("is present, with 32 tensors and caffe metadata", function()
    weights.vgg19_real() -- fails with a clear message if shared/ is missing
    local h = st.header(path)
    assert.equal(32, count(h.tensors))
    assert.same({64, 3, 3, 3}, h.tensors["features.0.weight"].shape)
    assert.same({512, 512, 3, 3}, h.tensors["features.34.weight"].shape)
    assert.same({512}, h.tensors["features.34.bias"].shape)
    for _, l in ipairs(weights.layers("vgg19")) do
      local w = h.tensors[("features.%d.weight"):format(l.index)]
      assert.same({l.cout, l.cin, 3, 3}, w.shape)
      assert.equal("F16", w.dtype)
    end
    assert.equal("vgg19", h.metadata.arch)
    assert.equal("caffe", h.metadata.preprocess)
    assert.equal("torchvision", h.metadata.layout)
  end)

  it("has the published sha256", function()
    local p = assert(io.popen("sha256sum '" .. path .. "'"))
    local sum = p:read("a"):match("^(%x+)")
    p:close()
    assert.equal(weights.VGG19_REAL_SHA256, sum)
  end)

  it("loads values equal to an independent numpy reader", function()
    local names = {"features.0.weight", "features.0.bias", "features.14.weight", "features.34.bias",
      "features.28.weight"}
    local out = python([[
import json, struct, sys, numpy as np
data = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', data[:8])[0]
h = json.loads(data[8:8 + n])
for name in sys.argv[2:]:
    b, e = h[name]['data_offsets']
    a = np.frombuffer(data[8 + n + b:8 + n + e], dtype='<f2').astype(np.float64)
    idx = [0, 1, a.size // 2, a.size - 1]
    print(name, a.size, float(a.sum()).hex(), ' '.join('%d=%s' % (i, float(a[i]).hex()) for i in idx))
]], path, table.unpack(names))
    local got = st.load(path, {names = names})
    assert.equal(#names, count(got))
    local checked = 0
    for line in out:gmatch("[^\n]+") do
      local name, size, sum, rest = line:match("^(%S+) (%d+) (%S+) (.*)$")
      local t = assert(got[name], "python printed an unknown tensor: " .. line)
      assert.equal(tonumber(size), t:numel())
      local b = t:bytes()
      for i, v in rest:gmatch("(%d+)=(%S+)") do
        assert.equal(tonumber(v), (string.unpack("<f", b, 4 * tonumber(i) + 1)), name .. "[" .. i .. "]")
      end
      local s, want = t:sum():item(), tonumber(sum)
      assert.is_true(math.abs(s - want) <= 1e-4 * (1 + math.abs(want)), name .. " sum " .. s .. " vs " .. want)
      checked = checked + 1
    end
    assert.equal(#names, checked)
  end)
end)

describe("safetensors: malformed files", function()
  local ok_json = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'

  it("refuses a missing, empty or too short file", function()
    expect_error({"cannot open", tmp("nope.safetensors")}, st.load, tmp("nope.safetensors"))
    write_file(tmp("empty.safetensors"), "")
    expect_error({"empty file", "empty.safetensors"}, st.header, tmp("empty.safetensors"))
    write_file(tmp("short.safetensors"), "abc")
    expect_error({"file too short", "short.safetensors"}, st.load, tmp("short.safetensors"))
    expect_error({"too short for a JSON object"}, st.load, raw("zero.safetensors", ""))
  end)

  it("bounds the header length before allocating", function()
    expect_error({"huge.safetensors", "header length 200000000 exceeds the limit"}, st.load,
      raw("huge.safetensors", "{}", nil, 200000000))
    local neg = tmp("neg.safetensors")
    write_file(neg, string.pack("<i8", -2) .. "{}")
    expect_error({"neg.safetensors", "negative"}, st.load, neg)
    expect_error({"long.safetensors", "header length 1000 exceeds the file size"}, st.load,
      raw("long.safetensors", "{}", nil, 1000))
  end)

  it("refuses bad JSON", function()
    expect_error({"garbage.safetensors", "not valid JSON"}, st.load,
      raw("garbage.safetensors", "{not json at all"))
    expect_error({"trail.safetensors", "not valid JSON"}, st.load,
      raw("trail.safetensors", "{} x"))
    expect_error({"array.safetensors", "not a JSON object"}, st.load,
      raw("array.safetensors", "[1, 2]"))
    -- the format pads with spaces: that is fine
    local t = st.load(raw("padded.safetensors", ok_json .. "     ", string.pack("<ff", 1, 2)))
    assert.same({1, 2}, t.a:totable())
  end)

  local function bad(name, json, data, fragments)
    local path = raw(name, json, data)
    table.insert(fragments, name)
    expect_error(fragments, st.load, path)
    expect_error(fragments, st.header, path)
  end

  -- Each case: the file's name, its header, then what the error must say besides the name;
  -- 8 zero bytes of data follow the header unless data says otherwise.
  local ENTRY_CASES = {
    {"nooff.safetensors", '{"a":{"dtype":"F32","shape":[2]}}', "tensor 'a'", "missing data_offsets"},
    {"nodtype.safetensors", '{"a":{"shape":[2],"data_offsets":[0,8]}}', "tensor 'a'", "missing dtype"},
    {"numdtype.safetensors", '{"a":{"dtype":3,"shape":[2],"data_offsets":[0,8]}}', "tensor 'a'",
     "dtype is not a string"},
    {"noshape.safetensors", '{"a":{"dtype":"F32","data_offsets":[0,8]}}', "tensor 'a'", "missing shape"},
    {"notobj.safetensors", '{"a":[1,2]}', "tensor 'a'", "not an object"},
    {"unk.safetensors", '{"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}', "tensor 'a'", "unknown dtype 'Q7'",
     "supported: F32, F16, BF16"},
    {"i64.safetensors", '{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}', "tensor 'a'",
     "unsupported dtype 'I64'", "supported: F32, F16, BF16"},
    {"negshape.safetensors", '{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', "tensor 'a'",
     "shape entry 1 is not a non-negative integer"},
    {"fracshape.safetensors", '{"a":{"dtype":"F32","shape":[2,1.5],"data_offsets":[0,8]}}', "tensor 'a'",
     "shape entry 2 is not a non-negative integer"},
    {"strshape.safetensors", '{"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}', "tensor 'a'",
     "shape is not an array"},
    {"dims5.safetensors", '{"a":{"dtype":"F32","shape":[1,1,1,1,2],"data_offsets":[0,8]}}', "tensor 'a'",
     "5 dims, at most 4"},
    {"offs3.safetensors", '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}', "tensor 'a'",
     "data_offsets must be [begin, end]"},
    {"offsneg.safetensors", '{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}', "tensor 'a'",
     "data_offsets must be [begin, end]"},
    {"offsrev.safetensors", '{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}', "tensor 'a'",
     "end before they begin"},
    {"size.safetensors", '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', "tensor 'a'",
     "shape 3 with dtype F32 does not match its byte length 8"},
    {"size16.safetensors", '{"a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,4]}}', "tensor 'a'",
     "shape 2x2 with dtype F16 does not match its byte length 4"},
    {"overflow.safetensors", '{"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}',
     "tensor 'a'", "shape is too large"},
    {"meta.safetensors", '{"__metadata__":{"k":1}}', "__metadata__", "'k'", "not a string", data = ""},
    {"metaarr.safetensors", '{"__metadata__":[1]}', "__metadata__ is not an object", data = ""},
    {"dup.safetensors", '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
     .. '"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', "tensor 'a' appears twice"},
  }

  it("checks every field of a tensor entry", function()
    for _, c in ipairs(ENTRY_CASES) do
      bad(c[1], c[2], c.data or string.rep("\0", 8), {table.unpack(c, 3)})
    end
  end)

  it("checks that the data lies inside the file, without overlaps", function()
    bad("past.safetensors", ok_json, string.rep("\0", 4),
      {"tensor 'a'", "data_offsets [0, 8] past the end of the file"})
    bad("overlap.safetensors", '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
      .. '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', string.rep("\0", 12),
      {"tensors 'a' [0, 8] and 'b' [4, 12] overlap"})
    -- holes between tensors are allowed; a 0-d tensor reads as one element
    local path = raw("holes.safetensors", '{"b":{"dtype":"F32","shape":[],"data_offsets":[12,16]},'
      .. '"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', string.pack("<ffff", 1, 9, 9, 2))
    local t = st.load(path)
    assert.same({1}, t.a:totable())
    assert.same({2}, t.b:totable())
    assert.same({1}, st.header(path).tensors.b.shape)
  end)

  it("refuses a truncated copy of a valid file", function()
    local path = tmp("full.safetensors")
    st.save(path, {a = nst.ones(100), b = nst.ones(10)})
    local s = read_file(path)
    write_file(tmp("cut.safetensors"), s:sub(1, #s - 7))
    expect_error({"cut.safetensors", "past the end of the file"}, st.load, tmp("cut.safetensors"))
    write_file(tmp("cuthead.safetensors"), s:sub(1, 20))
    expect_error({"cuthead.safetensors", "exceeds the file size"}, st.load,
      tmp("cuthead.safetensors"))
  end)

  it("refuses an empty tensor and one above the tensor size limit", function()
    local path = raw("emptyt.safetensors", '{"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},'
      .. '"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', string.pack("<f", 7))
    expect_error({"tensor 'e'", "no elements"}, st.load, path)
    assert.same({7}, st.load(path, {names = {"a"}}).a:totable()) -- the rest stays loadable
    assert.same({0, 3}, st.header(path).tensors.e.shape)
    -- the limit on one tensor's size applies to what a file asks for
    local big = tmp("big.safetensors")
    st.save(big, {w = nst.zeros(64, 64)}, nil, {dtype = "F16"})
    local old = nst.limits().max_tensor_bytes
    nst.set_limits({max_tensor_bytes = 1000})
    local ok, err = pcall(st.load, big)
    nst.set_limits({max_tensor_bytes = old})
    assert.is_false(ok)
    for _, frag in ipairs({"big.safetensors", "tensor 'w'", "64x64", "16384 bytes", "limit"}) do
      assert(tostring(err):find(frag, 1, true), tostring(err) .. " lacks " .. frag)
    end
    assert.same({64, 64}, st.header(big).tensors.w.shape) -- the header alone is fine
  end)
end)

describe("helpers.weights", function()
  it("writes seeded, torchvision-named VGG16 weights with He-initialised convs", function()
    local path = weights.vgg("vgg16")
    assert.equal(path, weights.vgg("vgg16")) -- cached within the process
    local t, meta = st.load(path)
    assert.same({arch = "vgg16", layout = "torchvision", preprocess = "torchvision"}, meta)
    assert.equal(26, count(t))
    for _, l in ipairs(weights.layers("vgg16")) do
      assert.same({l.cout, l.cin, 3, 3}, t[("features.%d.weight"):format(l.index)]:shape())
      assert.same({l.cout}, t[("features.%d.bias"):format(l.index)]:shape())
    end
    local w = t["features.28.weight"]
    local std = math.sqrt(w:sumsq():item() / w:numel())
    assert.is_true(math.abs(std - math.sqrt(2 / (512 * 9))) < 0.01 * std)
    local b = t["features.28.bias"]
    local bstd = math.sqrt(b:sumsq():item() / b:numel())
    assert.is_true(bstd > 0.007 and bstd < 0.013)
  end)

  it("is reproducible and honours layers, seed, dtype and preprocess", function()
    local a = weights.vgg("vgg19", tmp("a.safetensors"), {layers = 3, seed = 7})
    local b = weights.vgg("vgg19", tmp("b.safetensors"), {layers = 3, seed = 7})
    assert.equal(read_file(a), read_file(b))
    local c = weights.vgg("vgg19", tmp("c.safetensors"), {layers = 3, seed = 8})
    assert.are_not.equal(read_file(a), read_file(c))
    local h = st.header(a)
    assert.equal(6, count(h.tensors))
    assert.same({128, 64, 3, 3}, h.tensors["features.5.weight"].shape)
    assert.equal("vgg19", h.metadata.arch)
    local f = st.header(weights.vgg("vgg19", nil, {layers = 1, dtype = "BF16", preprocess = "caffe"}))
    assert.equal("BF16", f.tensors["features.0.weight"].dtype)
    assert.equal("caffe", f.metadata.preprocess)
    expect_error({"unknown arch 'vgg11'"}, weights.vgg, "vgg11")
    expect_error({"opts.layers must be an integer in 1..16"}, weights.vgg, "vgg19", nil, {layers = 17})
  end)
end)
