-- nst.image.resize (aspect, mean-preserving, antialiased; against torch's bilinear
-- antialias=True) and the colour helpers (YUV both ways, original_colors).
local nst = require("nst")
local files = require("helpers.files")
local expect = require("helpers.expect")

local PY = "env -u LD_PRELOAD /usr/bin/python3"
local write_file, read_file, err_of = files.write, files.read, expect.error

-- All values of a tensor as a flat Lua array.
local function floats(t)
  local s, v, pos = t:bytes(), {}, 1
  for i = 1, t:numel() do v[i], pos = string.unpack("<f", s, pos) end
  return v
end

local function python_has(module)
  return os.execute(PY .. " -c 'import " .. module .. "' >/dev/null 2>&1") == true
end

local dir
setup(function() dir = files.tmpdir() end)
teardown(function() if dir then files.rm_rf(dir) end end)

describe("nst.image.resize", function()
  it("keeps the aspect with a number (the longer side) and takes {h, w}", function()
    local t = nst.rand(1, 3, 563, 751)
    assert.are.same({1, 3, 384, 512}, nst.image.resize(t, 512):shape())
    assert.are.same({1, 3, 10, 20}, nst.image.resize(t, {10, 20}):shape())
    assert.are.same({3, 1000, 30}, nst.image.resize(nst.rand(3, 100, 3), 1000):shape())
    assert.are.same({1, 1}, nst.image.resize(nst.rand(5, 7), {1, 1}):shape())
    assert.matches("size%[2%] %(width%) must be an integer", err_of(nst.image.resize, t, {10, 0}))
    assert.matches("expected {h, w}", err_of(nst.image.resize, t, {10}))
    assert.matches("expected a number %(longer side%) or {h, w}, got string", err_of(nst.image.resize, t, "big"))
    assert.matches("expected nst.Tensor", err_of(nst.image.resize, {}, 4))
  end)

  it("preserves the mean and a constant image, enlarging and shrinking", function()
    nst.manual_seed(4)
    local t = nst.rand(1, 3, 32, 48)
    for _, size in ipairs({{16, 24}, {8, 8}, {64, 96}, {45, 17}}) do
      local r = nst.image.resize(t, size)
      assert.is_true(math.abs(r:mean():item() - t:mean():item()) < 0.02)
    end
    local c = nst.ones(1, 3, 17, 13) * 0.3
    for _, size in ipairs({{5, 4}, {40, 50}, {17, 13}}) do
      local r = nst.image.resize(c, size)
      assert.is_true((r - 0.3):abs():max():item() < 1e-6)
    end
    -- same size is the identity
    assert.is_true((nst.image.resize(t, {32, 48}) - t):abs():max():item() < 1e-6)
  end)

  it("antialiases when shrinking: a 1-pixel checkerboard becomes gray", function()
    local rows = {}
    for y = 1, 64 do
      local row = {}
      for x = 1, 64 do row[x] = (x + y) % 2 end
      rows[y] = row
    end
    local board = nst.tensor({{rows}})
    local r = nst.image.resize(board, {16, 16})
    assert.is_true((r - 0.5):abs():max():item() < 0.01)
  end)

  local have_torch = python_has("torch")
  local test = have_torch and it or pending
  test("matches torch.nn.functional.interpolate(bilinear, antialias=True)", function()
    nst.manual_seed(5)
    local t = nst.rand(1, 3, 37, 53)
    write_file(dir .. "/in.f32", t:bytes())
    local sizes = {{12, 20}, {80, 101}, {37, 26}, {5, 160}}
    for i, s in ipairs(sizes) do
      local cmd = string.format([[
import torch
x = torch.frombuffer(bytearray(open("%s/in.f32", "rb").read()), dtype=torch.float32).reshape(1, 3, 37, 53)
y = torch.nn.functional.interpolate(x, size=(%d, %d), mode="bilinear", align_corners=False, antialias=True)
open("%s/out%d.f32", "wb").write(y.contiguous().numpy().tobytes())
]], dir, s[1], s[2], dir, i)
      assert.is_true(os.execute(PY .. " -c '" .. cmd .. "'") == true)
      local ref = nst.from_bytes(read_file(dir .. "/out" .. i .. ".f32"), 1, 3, s[1], s[2])
      local r = nst.image.resize(t, s)
      assert.is_true((r - ref):abs():max():item() < 1e-5, "size " .. s[1] .. "x" .. s[2])
    end
  end)
end)

describe("nst.image colours", function()
  it("rgb_to_yuv and yuv_to_rgb invert each other", function()
    nst.manual_seed(6)
    local t = nst.rand(1, 3, 6, 5)
    local yuv = nst.image.rgb_to_yuv(t)
    assert.is_true((nst.image.yuv_to_rgb(yuv) - t):abs():max():item() < 1e-4)
    local gray = nst.ones(3, 2, 2) * 0.25
    local g = floats(nst.image.rgb_to_yuv(gray))
    for i = 1, 4 do assert.is_true(math.abs(g[i] - 0.25) < 1e-6) end
    for i = 5, 12 do assert.is_true(math.abs(g[i]) < 1e-5) end
  end)

  it("original_colors keeps the luma of generated and the chroma of content", function()
    nst.manual_seed(7)
    local content, generated = nst.rand(1, 3, 4, 6), nst.rand(1, 3, 4, 6)
    local out = nst.image.original_colors(content, generated)
    local yo, yc, yg = floats(nst.image.rgb_to_yuv(out)), floats(nst.image.rgb_to_yuv(content)),
                       floats(nst.image.rgb_to_yuv(generated))
    local hw = 24
    for i = 1, hw do
      assert.is_true(math.abs(yo[i] - yg[i]) < 1e-4)
      assert.is_true(math.abs(yo[hw + i] - yc[hw + i]) < 1e-4)
      assert.is_true(math.abs(yo[2 * hw + i] - yc[2 * hw + i]) < 1e-4)
    end
    -- a gray content makes the output gray
    local gray = nst.image.original_colors(nst.ones(1, 3, 4, 6) * 0.5, generated)
    local v = floats(gray)
    for i = 1, hw do assert.is_true(math.abs(v[i] - v[hw + i]) < 1e-4 and math.abs(v[i] - v[2 * hw + i]) < 1e-4) end
    assert.matches("differ in shape", err_of(nst.image.original_colors, content, nst.rand(1, 3, 4, 5)))
    assert.matches("expected an image tensor", err_of(nst.image.original_colors, nst.rand(1, 2, 4, 6), generated))
  end)
end)
