-- VGG features and input gradients against PyTorch (float64) on the same weights file
-- and input: VGG16 with generated weights, VGG19 with the real ones; both poolings and
-- both input conventions.
local nst = require("nst")
local oracle = require("helpers.oracle")
local weights = require("helpers.weights")

local REAL_VGG19 = "../shared/weights/vgg19-conv.f16.safetensors"

-- PyTorch twin: reads the safetensors file itself (json + raw bytes), runs F.conv2d etc.
local TORCH_VGG = [==[
import json, struct, numpy as np
def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n]); base = 8 + n
    dt = {"F32": np.float32, "F16": np.float16, "BF16": None}
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__": continue
        b, e = v["data_offsets"]
        a = np.frombuffer(raw[base + b: base + e], dtype=dt[v["dtype"]]).astype(np.float64)
        out[k] = torch.from_numpy(a.reshape(v["shape"]).copy())
    return out
W = load(PATH)
cfg = {"vgg16": [2, 2, 3, 3, 3], "vgg19": [2, 2, 4, 4, 4]}[ARCH]
if PRE == "caffe":
    x = img[:, [2, 1, 0]] * 255 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
else:
    x = (img - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
x.requires_grad_(True)
feats = {}
h, idx, amb = x, 0, 0
for blk, n in enumerate(cfg):
    for i in range(n):
        name = "%d_%d" % (blk + 1, i + 1)
        if "features.%d.weight" % idx not in W: break
        h = F.conv2d(h, W["features.%d.weight" % idx], W["features.%d.bias" % idx], padding=1)
        feats["conv" + name] = h
        # units within float32 rounding of zero: their ReLU side is a coin toss
        amb += int((h.abs() < 1e-6 * h.abs().max()).sum())
        h = F.relu(h); feats["relu" + name] = h
        idx += 2
    else:
        h = F.max_pool2d(h, 2) if POOL == "max" else F.avg_pool2d(h, 2)
        feats["pool%d" % (blk + 1)] = h
        idx += 1
        continue
    break
for k, v in feats.items():
    out[k] = v
obj = sum((feats[k] * globals()["R_" + k]).sum() for k in GRAD_LAYERS)
obj.backward()
out["ambiguous"] = torch.tensor([float(amb)])
out["grad"] = img.grad if img.grad is not None else torch.autograd.grad(obj, img)[0]
]==]

local function torch_vgg(arch, path, pool, pre, img, grads)
  local inputs, names = {img = img}, {}
  for name, r in pairs(grads) do
    inputs["R_" .. name] = r
    names[#names + 1] = ("%q"):format(name)
  end
  local code = ("ARCH = %q\nPATH = %q\nPOOL = %q\nPRE = %q\nGRAD_LAYERS = [%s]\nimg.requires_grad_(True)\n")
    :format(arch, path, pool, pre, table.concat(names, ", ")) .. TORCH_VGG
  return oracle.torch(code, inputs)
end

local function check(arch, path, pool, pre, size, seed)
  seed = seed or 7
  nst.manual_seed(seed)
  local vgg = nst[arch]{weights = path, pooling = pool, preprocess = pre}
  local names = vgg:layers()
  local img = nst.rand(1, 3, size, size)
  local F = vgg:forward(img, names)
  -- random linear functional of three taps at different depths
  local grads = {}
  for _, name in ipairs{"relu2_2", "conv3_3", "pool4"} do
    grads[name] = nst.randn(table.unpack(F[name]:shape()))
  end
  local dimg = vgg:backward(grads)
  local ref = torch_vgg(arch, path, pool, pre, img, grads)
  -- An input with a pre-activation within float32 rounding of zero makes the gradient
  -- ill-conditioned (one ReLU flip moves it by percents): draw another one.
  if ref.ambiguous:item() > 0 and seed < 17 then return check(arch, path, pool, pre, size, seed + 1) end
  for _, name in ipairs(names) do
    assert.is_not_nil(ref[name], "oracle lacks " .. name)
    local err = oracle.rel_err(F[name], ref[name])
    assert(err <= 1e-4, ("%s %s %s %s: %s relative error %.3g"):format(arch, pool, pre, path, name, err))
  end
  local err = oracle.rel_err(dimg, ref.grad)
  assert(err <= 1e-4, ("%s %s %s: input gradient relative error %.3g"):format(arch, pool, pre, err))
end

-- One case per pooling and input convention; path() gives the weights when the case runs.
local function cases(arch, path, conventions)
  for _, pool in ipairs{"max", "avg"} do
    for _, pre in ipairs(conventions) do
      it(("matches features and input gradient, %s pooling, %s input"):format(pool, pre), function()
        check(arch, path(), pool, pre, 32)
      end)
    end
  end
end

describe("VGG16 (generated weights) against PyTorch", function()
  local path
  setup(function() path = weights.vgg("vgg16") end)
  cases("vgg16", function() return path end, {"torchvision", "caffe"})
end)

describe("VGG19 (real weights) against PyTorch", function()
  it("finds the real weights", function()
    local f = io.open(REAL_VGG19, "rb")
    assert(f, "missing " .. REAL_VGG19 .. " (CI provides ../shared beside the clone)")
    f:close()
  end)
  cases("vgg19", function() return REAL_VGG19 end, {"caffe", "torchvision"})
end)

describe("vgg:backward", function()
  it("agrees with finite differences on a small image", function()
    local vgg = nst.vgg19{weights = REAL_VGG19, pooling = "avg", preprocess = "torchvision"}
    nst.manual_seed(3)
    local img = nst.rand(1, 3, 8, 8)
    local taps = {"relu2_1", "conv1_2"}
    local F = vgg:forward(img, taps)
    local R = {relu2_1 = nst.randn(table.unpack(F.relu2_1:shape())), conv1_2 = nst.randn(table.unpack(F.conv1_2:shape()))}
    local function objective(x)
      local G = vgg:forward(x, taps)
      return G.relu2_1:dot(R.relu2_1):item() + G.conv1_2:dot(R.conv1_2):item()
    end
    vgg:forward(img, taps)
    local grad = vgg:backward(R):totable()
    local flat = img:reshape(-1)
    local h, worst, checked, scale = 1e-3, 0, 0, 0
    for _, i in ipairs{1, 17, 64, 100, 150, 192} do
      local v = flat:narrow(1, i, 1)
      local orig = v:item()
      v:fill(orig + h); local fp = objective(img)
      v:fill(orig - h); local fm = objective(img)
      v:fill(orig)
      local fd = (fp - fm) / (2 * h)
      local c, r = (i - 1) // 64 + 1, (i - 1) % 64
      local an = grad[1][c][r // 8 + 1][r % 8 + 1]
      worst = math.max(worst, math.abs(fd - an))
      scale = math.max(scale, math.abs(an))
      checked = checked + 1
    end
    assert.are.equal(6, checked)
    worst = worst / scale
    assert(worst < 2e-2, ("finite-difference mismatch %.3g of the gradient's scale"):format(worst))
  end)
end)

describe("VGG bad input", function()
  local path
  -- fn(...) must fail with a message matching pattern
  local function refuses(pattern, fn, ...)
    local ok, err = pcall(fn, ...)
    assert.is_false(ok)
    assert.matches(pattern, err)
  end
  setup(function() path = weights.vgg("vgg16", nil, {layers = 4}) end)
  it("refuses layers past the end of a partial weights file, unknown layers, non-images", function()
    for _, case in ipairs{{"relu3_1 is unavailable", 3, "relu3_1"}, {"unknown layer 'relu9_9'", 3, "relu9_9"},
                          {"expected an image", 4, "relu1_1"}} do
      local vgg = nst.vgg16{weights = path}
      refuses(case[1], vgg.forward, vgg, nst.rand(1, case[2], 16, 16), {case[3]})
    end
  end)
  it("refuses backward before forward", function()
    local vgg = nst.vgg16{weights = path}
    refuses("no forward output for layer relu1_1", vgg.backward, vgg, {relu1_1 = nst.zeros(1, 64, 16, 16)})
  end)
  it("refuses a gradient of the wrong shape", function()
    local vgg = nst.vgg16{weights = path}
    vgg:forward(nst.rand(1, 3, 16, 16), {"relu1_1"})
    refuses("gradient for relu1_1 must be 1x64x16x16", vgg.backward, vgg, {relu1_1 = nst.zeros(1, 64, 8, 8)})
  end)
  it("names a missing weights file", function()
    refuses("weights file not found: /nonexistent/v.safetensors", nst.vgg16,
            {weights = "/nonexistent/v.safetensors"})
  end)
  it("says what to do with a Caffe, Torch7 or PyTorch weights file", function()
    local dir = os.tmpname()
    for _, ext in ipairs {"caffemodel", "t7", "pth"} do
      local f = dir .. "." .. ext
      io.open(f, "wb"):write("not safetensors"):close()
      local ok, err = pcall(nst.vgg19, {weights = f})
      os.remove(f)
      assert.is_false(ok)
      assert.matches("nst reads safetensors with torchvision's layer names", err, 1, true)
      assert.matches("weights/README.md", err, 1, true)
    end
    os.remove(dir)
  end)
  it("refuses an unknown pooling", function()
    refuses('pooling must be "max" or "avg"', nst.vgg16, {weights = path, pooling = "median"})
  end)
end)
