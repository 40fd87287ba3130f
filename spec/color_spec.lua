-- Colour control (nst.color) against a direct computation in PyTorch float64: the
-- mean/covariance match x' = Σc^½ Σs^−½ (x − μs) + μc (square roots by eigh), the
-- luminance match Y' = σc/σs (Y − μs) + μc; and the transfer's colour modes end to end.
local nst = require("nst")
local color = require("nst.color")
local oracle = require("helpers.oracle")
local weights = require("helpers.weights")

local function load(path, size) return nst.image.load(path, {size = size}) end

describe("nst.color", function()
  local style, content
  setup(function()
    style = load("examples/images/starry_night.jpg", 40)
    content = load("examples/images/leuven.jpg", 48)
  end)

  it("match: the style's pixels mapped to the content's mean and covariance, as PyTorch float64 computes it", function()
    local got = color.match(style, content, true)
    local want = oracle.torch([[
def stats(img):
    X = img.reshape(3, -1)
    mu = X.mean(1, keepdim=True)
    Xc = X - mu
    return mu, Xc @ Xc.T / X.shape[1]
def sqrtm(S):
    e, V = torch.linalg.eigh(S)
    return V @ torch.diag(e.clamp(min=1e-8).sqrt()) @ V.T
ms, Ss = stats(s)
mc, Sc = stats(c)
A = sqrtm(Sc) @ torch.linalg.inv(sqrtm(Ss))
out["y"] = (A @ (s.reshape(3, -1) - ms) + mc).reshape(s.shape)
out["mc"] = mc
out["Sc"] = Sc
]], {s = style, c = content})
    assert.are.same(style:shape(), got:shape())
    assert.is_true(oracle.rel_err(got, want.y) < 1e-4, tostring(oracle.rel_err(got, want.y)))
    -- and the result has the content's statistics (closed form)
    local m, S = color.stats(got)
    local mc, Sc = want.mc:totable(), want.Sc:totable()
    for i = 1, 3 do
      assert.is_true(math.abs(m[i] - mc[i][1]) < 1e-4)
      for j = 1, 3 do assert.is_true(math.abs(S[i][j] - Sc[i][j]) < 1e-4 * Sc[i][i], ("%d %d"):format(i, j)) end
    end
    -- the clamped version is what a transfer uses
    local clamped = color.match(style, content)
    assert.are.equal(0, (clamped - got:clamp(0, 1)):abs():max():item())
  end)

  it("luminance: grey images, the style's luminance matched to the content's mean and variance", function()
    local got = color.luminance_match(style, content, true)
    local want = oracle.torch([[
w = torch.tensor([0.299, 0.587, 0.114])
ys = (w.reshape(1, 3, 1, 1) * s).sum(1, keepdim=True)
yc = (w.reshape(1, 3, 1, 1) * c).sum(1, keepdim=True)
y = (ys - ys.mean()) * (yc.std(unbiased=False) / ys.std(unbiased=False)) + yc.mean()
out["y"] = y.expand(1, 3, s.shape[2], s.shape[3])
out["grey"] = yc.expand(1, 3, c.shape[2], c.shape[3])
]], {s = style, c = content})
    assert.is_true(oracle.rel_err(got, want.y) < 1e-5, tostring(oracle.rel_err(got, want.y)))
    assert.is_true(oracle.rel_err(color.grey(content), want.grey) < 1e-6)
  end)

  it("the transfer's modes: the style seen with the content's colours; luminance keeps the content's U, V", function()
    local net = nst.vgg16{weights = weights.vgg("vgg16", nil, {layers = 4}), pooling = "avg"}
    local function run(c)
      return nst.transfer{net = net, content_image = content, style_images = {style}, image_size = false,
                          content_layers = {"relu2_2"}, style_layers = {"relu1_2", "relu2_2"}, num_iterations = 3,
                          print_iter = 0, learning_rate = 20, color = c, handle_signals = false}
    end
    local plain, lum, match = run(nil), run("luminance"), run("match")
    -- luminance: U and V of the output are the content's (as original_colors makes them)
    local yuv, cyuv = nst.image.rgb_to_yuv(lum:clamp(0, 1)), nst.image.rgb_to_yuv(content)
    local uv = (yuv - cyuv):reshape(3, content:numel() // 3)
    assert.is_true(uv:narrow(1, 2, 2):abs():max():item() < 0.02)
    assert.is_true((lum - plain):abs():max():item() > 1e-3)
    assert.is_true((match - plain):abs():max():item() > 1e-3)
  end)

  it("refuses color without a content image", function()
    local ok, err = pcall(nst.transfer, {content_weight = 0, style_images = {style}, image_size = "16x16", color = "match"})
    assert.is_false(ok)
    assert.are.equal("nst.transfer: color = \"match\" needs content_image (its colours)", err)
  end)
end)
