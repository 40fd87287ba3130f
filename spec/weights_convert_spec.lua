-- weights/convert.py through weights/fetch.sh: a torchvision state dict (.pth) and a
-- Caffe model (.caffemodel, both the 2014 V1 layout of neural-style's VGG models and the
-- current one) become safetensors that nst loads with the same numbers. The Caffe files
-- are made from the real VGG19 with the protobuf library and the converter's schema.
local nst = require("nst")
local files = require("helpers.files")
local weights = require("helpers.weights")

local PY = os.getenv("NST_ORACLE_PYTHON") or "/usr/bin/python3"

local sh = require("nst.fs").run -- ok, everything it printed

-- Writes a .caffemodel holding the first `n` convs of the real VGG19 (plus ReLU layers
-- without blobs), in format "v1" (layers, num/channels/height/width) or "new" (layer,
-- shape); skip: a conv name to leave out.
local MAKE_CAFFE = [[
import array, json, struct, sys
sys.path.insert(0, "weights")
import convert
src, out, fmt, n, skip = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
raw = open(src, "rb").read()
hl = struct.unpack("<Q", raw[:8])[0]
hdr, base = json.loads(raw[8:8 + hl]), 8 + hl
def tensor(name):
    e = hdr[name]
    b, f = e["data_offsets"]
    count = (f - b) // 2
    return list(struct.unpack("<%de" % count, raw[base + b:base + f])), e["shape"]
net = convert.caffe_net_class()()
net.name = "VGG_ILSVRC_19_layers"
layers = net.layers if fmt == "v1" else net.layer
for name, idx in list(zip(convert.caffe_names("vgg19"), convert.INDEX["vgg19"]))[:n]:
    if name == skip:
        continue
    w, ws = tensor("features.%d.weight" % idx)
    b, bs = tensor("features.%d.bias" % idx)
    l = layers.add()
    l.name = name
    bw, bb = l.blobs.add(), l.blobs.add()
    if fmt == "v1":
        bw.num, bw.channels, bw.height, bw.width = ws
        bb.num, bb.channels, bb.height, bb.width = 1, 1, 1, bs[0]
    else:
        l.type = "Convolution"
        bw.shape.dim.extend(ws)
        bb.shape.dim.extend(bs)
    bw.data.extend(w)
    bb.data.extend(b)
    layers.add().name = name.replace("conv", "relu")
open(out, "wb").write(net.SerializeToString())
]]

describe("weights/convert.py", function()
  local dir, real
  setup(function()
    dir = files.tmpdir()
    real = weights.vgg19_real()
    files.write(dir .. "/make_caffe.py", MAKE_CAFFE)
  end)
  teardown(function() files.rm_rf(dir) end)

  local function make_caffe(fmt, n, skip)
    local path = ("%s/%s_%d.caffemodel"):format(dir, fmt, n)
    local ok, out = sh(("%s %s/make_caffe.py '%s' '%s' %s %d '%s'"):format(PY, dir, real, path, fmt, n, skip or ""))
    assert.is_true(ok, out)
    return path
  end

  for _, fmt in ipairs {"v1", "new"} do
    it("converts a Caffe model (" .. fmt .. " layout) to the same weights", function()
      local src, dst = make_caffe(fmt, 4), dir .. "/" .. fmt .. ".safetensors"
      local ok, out = sh(("weights/fetch.sh caffe '%s' '%s' vgg19"):format(src, dst))
      assert.is_true(ok, out)
      local got, meta = nst.safetensors.load(dst)
      local want = nst.safetensors.load(real)
      assert.are.same({arch = "vgg19", layout = "torchvision", preprocess = "caffe"}, meta)
      local count = 0
      for name, t in pairs(got) do
        count = count + 1
        assert.are.same(want[name]:shape(), t:shape(), name)
        assert.are.equal(0, (t - want[name]):abs():max():item(), name)
      end
      assert.are.equal(8, count) -- 4 convs: weight and bias
      -- a network prefix nst runs: same features as from the original file
      local img = nst.rand(1, 3, 16, 16)
      local a = nst.vgg19 {weights = dst}:forward(img, {"relu2_2"}).relu2_2
      local b = nst.vgg19 {weights = real}:forward(img, {"relu2_2"}).relu2_2
      assert.are.equal(0, (a - b):abs():max():item())
    end)
  end

  it("refuses a file that is no Caffe model, a gap in the layers, a wrong arch", function()
    local junk = dir .. "/junk.caffemodel"
    files.write(junk, "\255\255\255\255 not protobuf")
    local ok, out = sh(("weights/fetch.sh caffe '%s' '%s/j.safetensors' vgg19"):format(junk, dir))
    assert.is_false(ok)
    assert.matches("is not a Caffe model", out)
    ok, out = sh(("weights/fetch.sh caffe '%s' '%s/g.safetensors' vgg19"):format(make_caffe("v1", 4, "conv1_2"), dir))
    assert.is_false(ok)
    assert.matches("has conv2_1 but not conv1_2", out)
    assert.is_false(files.exists(dir .. "/g.safetensors")) -- nothing half-written
    ok, out = sh(("weights/fetch.sh caffe '%s' '%s/a.safetensors' vgg13"):format(junk, dir))
    assert.is_false(ok)
    assert.matches("arch must be vgg16 or vgg19", out)
  end)

  it("converts a torchvision state dict (.pth)", function()
    local pth, dst = dir .. "/vgg16.pth", dir .. "/vgg16.safetensors"
    -- torchvision's vgg16().state_dict() layout, random numbers, a classifier to ignore
    local ok, out = sh(([[%s -c 'import torch
torch.manual_seed(0)
sd, cin = {}, 3
for i, k in zip([0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28], [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]):
    sd["features.%%d.weight" %% i], sd["features.%%d.bias" %% i], cin = torch.randn(k, cin, 3, 3), torch.randn(k), k
sd["classifier.0.weight"] = torch.randn(4, 4)
torch.save(sd, "%s")']]):format(PY, pth))
    assert.is_true(ok, out)
    ok, out = sh(("weights/fetch.sh convert '%s' '%s' vgg16"):format(pth, dst))
    assert.is_true(ok, out)
    local _, r = sh(([[%s -c 'import torch
sd = torch.load("%s")
print(float(sd["features.28.weight"][511, 511, 2, 2]), float(sd["features.0.bias"][5]))']]):format(PY, pth))
    local t, meta = nst.safetensors.load(dst)
    assert.are.equal("torchvision", meta.preprocess)
    local w28, b0 = r:match("(%S+) (%S+)")
    assert.is_true(math.abs(t["features.28.weight"]:reshape(-1):totable()[512 * 512 * 9] - tonumber(w28)) < 1e-7)
    assert.is_true(math.abs(t["features.0.bias"]:totable()[6] - tonumber(b0)) < 1e-7)
  end)
end)
