-- Colour control (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style
-- Transfer", section 5), the option color of nst.transfer (CLI -color):
--   "match"      the style images' colours matched to the content's before the transfer:
--                x' = A (x − μs) + μc per pixel, with A = Σc^½ Σs^−½ (the symmetric
--                square roots of the RGB covariances Σ, means μ), so that x' has the
--                content's mean and covariance; then clamped to [0,1]
--   "luminance"  the transfer runs on luminance: the content and the style images as grey
--                images (Y = 0.299 R + 0.587 G + 0.114 B, Torch7's YUV, in all three
--                channels), the style's Y first matched to the content's mean and
--                variance, Y' = σc/σs (Y − μs) + μc; the output takes the result's Y and
--                the content's U, V (as original_colors does)
-- Images are CPU tensors (1,3,H,W) in [0,1].
local core = require("nst.core")

local M = {}

M.modes = {luminance = true, match = true}

local LUMA = {0.299, 0.587, 0.114}

-- img (1,3,H,W) -> mean {3}, covariance {{3},{3},{3}} (population, 1/N), in doubles.
function M.stats(img)
  local s = img:shape()
  local n = s[3] * s[4]
  local X = img:reshape(3, n)
  local G = core.matmul(X, X, false, true):totable()
  local mu = core.matmul(X, core.ones(n, 1)):totable()
  local m, cov = {}, {}
  for i = 1, 3 do m[i] = mu[i][1] / n end
  for i = 1, 3 do
    cov[i] = {}
    for j = 1, 3 do cov[i][j] = G[i][j] / n - m[i] * m[j] end
  end
  return m, cov
end

local function inverse3(a)
  local c = {
    {a[2][2] * a[3][3] - a[2][3] * a[3][2], a[1][3] * a[3][2] - a[1][2] * a[3][3], a[1][2] * a[2][3] - a[1][3] * a[2][2]},
    {a[2][3] * a[3][1] - a[2][1] * a[3][3], a[1][1] * a[3][3] - a[1][3] * a[3][1], a[1][3] * a[2][1] - a[1][1] * a[2][3]},
    {a[2][1] * a[3][2] - a[2][2] * a[3][1], a[1][2] * a[3][1] - a[1][1] * a[3][2], a[1][1] * a[2][2] - a[1][2] * a[2][1]},
  }
  local det = a[1][1] * c[1][1] + a[1][2] * c[2][1] + a[1][3] * c[3][1]
  if not (math.abs(det) > 1e-30) then
    error("nst.transfer: color = \"match\": the style image has (almost) no colour variation to match", 0)
  end
  for i = 1, 3 do for j = 1, 3 do c[i][j] = c[i][j] / det end end
  return c
end

local function mul3(a, b)
  local c = {}
  for i = 1, 3 do
    c[i] = {}
    for j = 1, 3 do c[i][j] = a[i][1] * b[1][j] + a[i][2] * b[2][j] + a[i][3] * b[3][j] end
  end
  return c
end

-- The affine map of "match": A (3x3 table), b (3) with x' = A x + b, from the style's and
-- the content's statistics. The square roots are nst.sym_sqrt's (eigenvalues floored at
-- 1e-8 so that a flat channel stays finite).
function M.match_map(style, content)
  local ms, Ss = M.stats(style)
  local mc, Sc = M.stats(content)
  local rs = core.sym_sqrt(core.tensor(Ss), 1e-8):totable()
  local rc = core.sym_sqrt(core.tensor(Sc), 1e-8):totable()
  local A = mul3(rc, inverse3(rs))
  local b = {}
  for i = 1, 3 do b[i] = mc[i] - (A[i][1] * ms[1] + A[i][2] * ms[2] + A[i][3] * ms[3]) end
  return A, b
end

-- x' = A x + b per pixel (not clamped)
function M.apply(img, A, b)
  local s = img:shape()
  local Y = core.matmul(core.tensor(A), img:reshape(3, s[3] * s[4]))
  return core.channel_affine(Y:reshape(1, 3, s[3], s[4]), {1, 2, 3}, {1, 1, 1}, b)
end

-- The style image with the content's colour statistics (unclamped when raw).
function M.match(style, content, raw)
  local out = M.apply(style, M.match_map(style, content))
  return raw and out or out:clamp(0, 1)
end

-- img -> its luminance Y in all three channels.
function M.grey(img)
  local A = {LUMA, LUMA, LUMA}
  return M.apply(img, A, {0, 0, 0})
end

-- The style's grey image with the content's luminance mean and variance (unclamped when raw).
function M.luminance_match(style, content, raw)
  local ys, yc = M.grey(style), M.grey(content)
  local ms, Ss = M.stats(ys)
  local mc, Sc = M.stats(yc)
  local a = math.sqrt(Sc[1][1] / math.max(Ss[1][1], 1e-12))
  local out = ys * a + (mc[1] - a * ms[1])
  return raw and out or out:clamp(0, 1)
end

-- What the network sees of the content, and of a style image, for the options' color.
function M.content(o, content)
  if o.color == "luminance" then return M.grey(content) end
  return content
end

function M.style(o, style, content)
  if o.color == "luminance" then return M.luminance_match(style, content) end
  if o.color == "match" then return M.match(style, content) end
  return style
end

return M
