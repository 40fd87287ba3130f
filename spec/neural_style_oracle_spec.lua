-- neural_style.lua's objective re-implemented in PyTorch (float64, the real VGG19 with
-- caffe preprocessing) as an independent check of nst's: the value at the start image,
-- and L-BFGS from the same start after the same iterations (nst's CLI given a
-- neural-style command line, its default weights; PyTorch's torch.optim.LBFGS as
-- neural-style runs optim.lbfgs: fixed step, history 100, no tolerances).
local nst = require("nst")
local cli = require("nst.cli")
local oracle = require("helpers.oracle")
local files = require("helpers.files")
local weights = require("helpers.weights")

local ITERS = 40

-- The objective of neural_style.lua on the caffe input x (1,3,H,W): ContentLoss and
-- StyleLoss (nn.MSECriterion, Gram / (C·H·W)) with the full weight at each layer, and
-- TVLoss's ½Σ over the (H−1)×(W−1) corner, as its gradient there defines it.
local CODE = [==[
import json, struct
raw = open(WEIGHTS, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
hdr = json.loads(raw[8:8 + n])
DT = {"F16": torch.float16, "F32": torch.float32, "BF16": torch.bfloat16}
def param(name):
    m = hdr[name]
    a, b = m["data_offsets"]
    t = torch.frombuffer(bytearray(raw[8 + n + a:8 + n + b]), dtype=DT[m["dtype"]])
    return t.to(torch.float64).reshape(m["shape"])
# VGG19's features: (name, torchvision index) per conv, "pool" between blocks
BLOCKS = [2, 2, 4, 4, 4]
layers, idx = [], 0
for b, count in enumerate(BLOCKS):
    for i in range(count):
        layers.append(("conv", "%d_%d" % (b + 1, i + 1), idx)); idx += 2
    layers.append(("pool", "pool%d" % (b + 1), idx)); idx += 1
def feats(x, taps):
    out, h = {}, x
    for kind, name, i in layers:
        if len(out) == len(taps): break
        if kind == "conv":
            h = F.relu(F.conv2d(h, param("features.%d.weight" % i), param("features.%d.bias" % i), padding=1))
            if "relu" + name in taps: out["relu" + name] = h
        else:
            h = F.max_pool2d(h, 2, 2) if POOL == "max" else F.avg_pool2d(h, 2, 2)
    return out
MEAN = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
def pre(img): return img[:, [2, 1, 0]] * 255 - MEAN
def gram(f):
    c, h, w = f.shape[1:]
    m = f.reshape(c, h * w)
    return m @ m.t() / (c * h * w)
CL, SL = ["relu4_2"], ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
P = feats(pre(content), CL)
S = feats(pre(style), SL)
A = {l: gram(S[l]) for l in SL}
def objective(x):
    Fx = feats(x, CL + SL)
    c = sum(CW * ((Fx[l] - P[l]) ** 2).mean() for l in CL)
    s = sum(SW * ((gram(Fx[l]) - A[l]) ** 2).mean() for l in SL)
    xd = x[:, :, :-1, :-1] - x[:, :, :-1, 1:]
    yd = x[:, :, :-1, :-1] - x[:, :, 1:, :-1]
    tv = TW * 0.5 * (xd ** 2 + yd ** 2).sum()
    return c + s + tv, c, s, tv
x0 = pre(start)
f0, c0, s0, tv0 = objective(x0)
out["f0"], out["c0"], out["s0"], out["tv0"] = f0, c0, s0, tv0
x = x0.clone().requires_grad_(True)
opt = torch.optim.LBFGS([x], lr=1, max_iter=ITERS, history_size=100, tolerance_grad=-1,
                        tolerance_change=-1, line_search_fn=None)
def closure():
    opt.zero_grad()
    f = objective(x)[0]
    f.backward()
    return f
opt.step(closure)
with torch.no_grad():
    out["fN"] = objective(x)[0]
]==]

-- The CSV's rows as {column = value}.
local function csv_rows(path)
  local rows, head = {}, nil
  for line in io.lines(path) do
    local cells = {}
    for c in line:gmatch("[^,]+") do cells[#cells + 1] = c end
    if not head then
      head = cells
    else
      local r = {}
      for i, name in ipairs(head) do r[name] = tonumber(cells[i]) end
      rows[#rows + 1] = r
    end
  end
  return rows
end

local function style_sum(r)
  local s = 0
  for k, v in pairs(r) do if k:match("^style_") then s = s + v end end
  return s
end

local function run_cli(args)
  local saved_out, saved_err = io.stdout, io.stderr
  local quiet = {write = function() end, flush = function() end}
  io.stdout, io.stderr = quiet, os.getenv("NST_SPEC_VERBOSE") and saved_err or quiet
  local ok, rc = pcall(cli.main, args)
  io.stdout, io.stderr = saved_out, saved_err
  assert.is_true(ok, tostring(rc))
  assert.are.equal(0, rc)
end

describe("neural_style.lua's objective, in PyTorch", function()
  local dir, content, style, start, torch_res
  local C, S = "examples/images/leuven.jpg", "examples/images/starry_night.jpg"
  local function command(extra)
    -- a neural-style command line: its default weights, L-BFGS, CPU; the model file and the
    -- size are this test's
    local a = {"-content_image", C, "-style_image", S, "-image_size", "64", "-gpu", "-1",
               "-init", "image", "-init_image", dir .. "/start.png", "-print_iter", "0", "-save_iter", "0",
               "-pooling", "max", "-model_file", weights.vgg19_real(), "-model", "vgg19"}
    for _, v in ipairs(extra) do a[#a + 1] = v end
    return a
  end

  setup(function()
    dir = files.tmpdir()
    content = nst.image.load(C, {size = 64})
    style = nst.image.load(S, {size = 64})
    nst.manual_seed(11)
    -- a start image of the content's size (no resize on loading), 8-bit so that the PNG holds it exactly
    local shape = content:shape()
    local noise = nst.rand(shape[1], shape[2], shape[3], shape[4])
    nst.image.save(noise, dir .. "/start.png")
    start = nst.image.load(dir .. "/start.png")
    local code = ("WEIGHTS = %q\nPOOL = 'max'\nCW, SW, TW = 5.0, 100.0, 1e-3\nITERS = %d\n"):format(
      weights.vgg19_real(), ITERS) .. CODE
    torch_res = oracle.torch(code, {content = content, style = style, start = start})
  end)
  teardown(function() files.rm_rf(dir) end)

  it("gives the same objective at the start image (content, style, TV, total)", function()
    run_cli(command{"-optimizer", "adam", "-num_iterations", "1", "-output_image", dir .. "/v.png"})
    local r = csv_rows(dir .. "/v.csv")[1] -- iteration 1's row: the objective at the start
    local function near(got, want, what)
      local rel = math.abs(got - want) / math.abs(want)
      assert.is_true(rel < 2e-5, ("%s: nst %.9g, PyTorch %.9g (rel %.2g)"):format(what, got, want, rel))
    end
    near(r.content, torch_res.c0:item(), "content")
    near(style_sum(r), torch_res.s0:item(), "style")
    near(r.tv, torch_res.tv0:item(), "tv")
    near(r.total, torch_res.f0:item(), "total")
  end)

  it("reaches an objective at least as low as torch.optim.LBFGS from the same start", function()
    run_cli(command{"-optimizer", "lbfgs", "-num_iterations", tostring(ITERS), "-output_image", dir .. "/l.png"})
    local rows = csv_rows(dir .. "/l.csv")
    assert.are.equal(ITERS, #rows)
    local ours, theirs, f0 = rows[#rows].total, torch_res.fN:item(), torch_res.f0:item()
    assert.is_true(theirs < f0) -- PyTorch's run made progress
    if os.getenv("NST_SPEC_VERBOSE") then print(("\nL-BFGS %d iterations: nst %.6g, PyTorch %.6g (start %.6g)"):format(ITERS, ours, theirs, f0)) end
    assert.is_true(ours <= theirs * (1 + 1e-4), ("nst %.6g, PyTorch %.6g (start %.6g)"):format(ours, theirs, f0))
  end)
end)
