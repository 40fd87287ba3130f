-- nst.image: PNG/JPEG loading and saving, resizing, colour transfer, bad input.
-- PNG fixtures are written here byte by byte (stored-deflate zlib, own CRC32), so every
-- colour type and bit depth is tested against exactly known values without any tool.
-- JPEG variants (grayscale, progressive, CMYK) and the resize reference come from
-- /usr/bin/python3 (PIL, torch) when present.
local nst = require("nst")

local IMAGES = "examples/images/"
-- Debian's python3 (PIL, torch), without an AddressSanitizer preload (make asan) that
-- would fail it on its own leaks.
local PY = "env -u LD_PRELOAD /usr/bin/python3"

-- CRC32 (IEEE, reflected), as PNG chunks need.
local crc_table = {}
for i = 0, 255 do
  local c = i
  for _ = 1, 8 do c = (c & 1) ~= 0 and (0xEDB88320 ~ (c >> 1)) or (c >> 1) end
  crc_table[i] = c
end
local function crc32(s)
  local c = 0xFFFFFFFF
  for i = 1, #s do c = crc_table[(c ~ s:byte(i)) & 0xFF] ~ (c >> 8) end
  return c ~ 0xFFFFFFFF
end

local function adler32(s)
  local a, b = 1, 0
  for i = 1, #s do a = (a + s:byte(i)) % 65521; b = (b + a) % 65521 end
  return (b << 16) | a
end

-- zlib stream of uncompressed ("stored") deflate blocks.
local function zlib_stored(data)
  local out, pos = {"\x78\x01"}, 1
  repeat
    local piece = data:sub(pos, pos + 65534)
    pos = pos + #piece
    local final = pos > #data and 1 or 0
    out[#out + 1] = string.pack("<BI2I2", final, #piece, (~#piece) & 0xFFFF) .. piece
  until pos > #data
  out[#out + 1] = string.pack(">I4", adler32(data))
  return table.concat(out)
end

local function chunk(kind, data)
  return string.pack(">I4", #data) .. kind .. data .. string.pack(">I4", crc32(kind .. data))
end

local SIG = "\x89PNG\r\n\x1a\n"
local function ihdr(w, h, depth, ctype, interlace)
  return chunk("IHDR", string.pack(">I4I4BBBBB", w, h, depth, ctype, 0, 0, interlace or 0))
end

-- rows: raw scanlines (packed samples, no filter byte). extra: chunks before IDAT.
local function make_png(w, h, depth, ctype, rows, extra, interlace)
  local lines = {}
  for i, r in ipairs(rows) do lines[i] = "\0" .. r end
  return SIG .. ihdr(w, h, depth, ctype, interlace) .. (extra or "") ..
         chunk("IDAT", zlib_stored(table.concat(lines))) .. chunk("IEND", "")
end

local files = require("helpers.files")
local write_file, read_file, exists = files.write, files.read, files.exists
local listdir = files.ls

-- All values of a tensor as a flat Lua array.
local function floats(t)
  local s, v, pos = t:bytes(), {}, 1
  for i = 1, t:numel() do v[i], pos = string.unpack("<f", s, pos) end
  return v
end

-- Value of channel c (1..3) at (x, y), 0-based, of a (1,3,H,W) tensor's floats.
local function at(v, shape, c, x, y)
  local h, w = shape[3], shape[4]
  return v[(c - 1) * h * w + y * w + x + 1]
end

-- A failing call's message (asserts that it fails).
local function err_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

local function python_has(module)
  return os.execute(PY .. " -c 'import " .. module .. "' >/dev/null 2>&1") == true
end

local dir
setup(function() dir = io.popen("mktemp -d"):read("l") end)
teardown(function() if dir then files.rm_rf(dir) end end)

-- Deterministic sample values for fixtures.
local function sample(x, y, c, maxv) return (x * 37 + y * 101 + c * 59 + x * y * 7) % (maxv + 1) end

describe("nst.image PNG loading", function()
  local W, H = 7, 5

  -- Builds a PNG of the given type, loads it and checks every pixel against expect(x, y, c).
  local function check(name, depth, ctype, spp, extra, expect, rowfn)
    local rows = {}
    for y = 0, H - 1 do
      local bytes = {}
      if rowfn then
        rows[y + 1] = rowfn(y)
      else
        for x = 0, W - 1 do
          for c = 0, spp - 1 do
            local v = sample(x, y, c, depth == 16 and 65535 or 255)
            bytes[#bytes + 1] = depth == 16 and string.pack(">I2", v) or string.char(v)
          end
        end
        rows[y + 1] = table.concat(bytes)
      end
    end
    local png = make_png(W, H, depth, ctype, rows, extra)
    local path = dir .. "/" .. name .. ".png"
    write_file(path, png)
    local t = nst.image.load(path)
    local shape = t:shape()
    assert.are.same({1, 3, H, W}, shape)
    local v = floats(t)
    for y = 0, H - 1 do
      for x = 0, W - 1 do
        for c = 1, 3 do
          local want = expect(x, y, c)
          assert.is_true(math.abs(at(v, shape, c, x, y) - want) < 1e-6,
            string.format("%s at (%d,%d,c%d): got %g want %g", name, x, y, c, at(v, shape, c, x, y), want))
        end
      end
    end
    return path
  end

  it("reads 8-bit RGB exactly", function()
    local path = check("rgb8", 8, 2, 3, nil, function(x, y, c) return sample(x, y, c - 1, 255) / 255 end)
    assert.are.same({width = W, height = H, channels = 3, bits = 8, format = "png"}, nst.image.info(path))
  end)

  it("reads 16-bit RGB exactly", function()
    local path = check("rgb16", 16, 2, 3, nil, function(x, y, c) return sample(x, y, c - 1, 65535) / 65535 end)
    assert.are.equal(16, nst.image.info(path).bits)
  end)

  it("drops alpha of RGBA (8 and 16 bits)", function()
    check("rgba8", 8, 6, 4, nil, function(x, y, c) return sample(x, y, c - 1, 255) / 255 end)
    check("rgba16", 16, 6, 4, nil, function(x, y, c) return sample(x, y, c - 1, 65535) / 65535 end)
  end)

  it("replicates gray into R, G, B (8 and 16 bits, with alpha, with tRNS)", function()
    local g8 = function(x, y) return sample(x, y, 0, 255) / 255 end
    check("gray8", 8, 0, 1, nil, g8)
    check("gray8trns", 8, 0, 1, chunk("tRNS", string.pack(">I2", 3)), g8)
    check("gray16", 16, 0, 1, nil, function(x, y) return sample(x, y, 0, 65535) / 65535 end)
    check("graya8", 8, 4, 2, nil, g8)
    local path = check("graya16", 16, 4, 2, nil, function(x, y) return sample(x, y, 0, 65535) / 65535 end)
    local info = nst.image.info(path)
    assert.are.equal(2, info.channels)
  end)

  it("expands 1-bit gray", function()
    -- 7 pixels in one byte, most significant bit first: pixel x is on when (x + y) odd.
    check("gray1", 1, 0, 1, nil, function(x, y) return (x + y) % 2 end, function(y)
      local b = 0
      for x = 0, W - 1 do if (x + y) % 2 == 1 then b = b | (1 << (7 - x)) end end
      return string.char(b)
    end)
  end)

  local palette = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}}
  local plte = chunk("PLTE", string.char(255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30))
  local function pal(x, y, c) return palette[(x + 2 * y) % 4 + 1][c] / 255 end

  it("expands 8-bit and 2-bit palettes, with transparency dropped", function()
    check("pal8", 8, 3, 1, plte .. chunk("tRNS", "\0\128"), pal, function(y)
      local b = {}
      for x = 0, W - 1 do b[#b + 1] = string.char((x + 2 * y) % 4) end
      return table.concat(b)
    end)
    local path = check("pal2", 2, 3, 1, plte, pal, function(y)
      local bytes = {0, 0}
      for x = 0, W - 1 do
        local i = x // 4 + 1
        bytes[i] = bytes[i] | (((x + 2 * y) % 4) << (6 - 2 * (x % 4)))
      end
      return string.char(bytes[1], bytes[2])
    end)
    assert.are.same({width = W, height = H, channels = 3, bits = 2, format = "png"}, nst.image.info(path))
  end)

  it("reads Adam7-interlaced PNGs", function()
    -- Interlaced layout: 7 passes, each a sub-image of scanlines with filter bytes.
    local passes = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
    local lines = {}
    for _, p in ipairs(passes) do
      local x0, y0, dx, dy = p[1], p[2], p[3], p[4]
      if x0 < W then
        for y = y0, H - 1, dy do
          local line = {"\0"}
          for x = x0, W - 1, dx do
            for c = 0, 2 do line[#line + 1] = string.char(sample(x, y, c, 255)) end
          end
          lines[#lines + 1] = table.concat(line)
        end
      end
    end
    local png = SIG .. ihdr(W, H, 8, 2, 1) .. chunk("IDAT", zlib_stored(table.concat(lines))) .. chunk("IEND", "")
    local path = dir .. "/adam7.png"
    write_file(path, png)
    local t = nst.image.load(path)
    local v, shape = floats(t), t:shape()
    for y = 0, H - 1 do
      for x = 0, W - 1 do
        for c = 1, 3 do
          assert.is_true(math.abs(at(v, shape, c, x, y) - sample(x, y, c - 1, 255) / 255) < 1e-6)
        end
      end
    end
  end)
end)

describe("nst.image save and round trips", function()
  it("8-bit PNG round trip is exact after quantization; values clamped, NaN -> 0", function()
    nst.manual_seed(1)
    local t = nst.rand(1, 3, 9, 13) * 1.4 - 0.2 -- some values outside [0, 1]
    local path = dir .. "/rt8.png"
    nst.image.save(t, path)
    local back = nst.image.load(path)
    assert.are.same({1, 3, 9, 13}, back:shape())
    local a, b = floats(t), floats(back)
    for i = 1, #a do
      local want = math.floor(math.min(math.max(a[i], 0), 1) * 255 + 0.5) / 255
      assert.is_true(math.abs(b[i] - want) < 1e-6)
    end
    -- A (3,H,W) tensor and NaN (0/0) are accepted too.
    local nan = nst.zeros(3, 2, 2) / nst.zeros(3, 2, 2)
    nst.image.save(nan, path)
    assert.are.equal(0, nst.image.load(path):max():item())
  end)

  it("16-bit PNG round trip has error below 1/65535", function()
    nst.manual_seed(2)
    local t = nst.rand(1, 3, 8, 6)
    local path = dir .. "/rt16.png"
    nst.image.save(t, path, {bits = 16})
    local info = nst.image.info(path)
    assert.are.same({width = 6, height = 8, channels = 3, bits = 16, format = "png"}, info)
    local back = nst.image.load(path)
    assert.is_true((back - t):abs():max():item() < 1 / 65535)
  end)

  it("JPEG round trip at quality 95 is close; lower quality is smaller", function()
    local img = nst.image.load(IMAGES .. "leuven.jpg", {size = 256})
    assert.are.same({1, 3, 192, 256}, img:shape())
    local hi, lo = dir .. "/q95.jpg", dir .. "/q30.JPEG"
    nst.image.save(img, hi)
    nst.image.save(img, lo, {quality = 30})
    local back = nst.image.load(hi)
    assert.are.same(img:shape(), back:shape())
    assert.is_true((back - img):abs():mean():item() < 0.02)
    assert.is_true(#read_file(lo) < #read_file(hi))
    assert.are.same({width = 256, height = 192, channels = 3, bits = 8, format = "jpeg"}, nst.image.info(hi))
  end)

  it("loads the example images", function()
    for _, name in ipairs({"leuven.jpg", "starry_night.jpg", "building.jpg"}) do
      local info = nst.image.info(IMAGES .. name)
      local t = nst.image.load(IMAGES .. name)
      assert.are.same({1, 3, info.height, info.width}, t:shape())
      assert.is_true(t:min():item() >= 0 and t:max():item() <= 1)
    end
    assert.are.same({1, 3, 563, 751}, nst.image.load(IMAGES .. "leuven.jpg"):shape())
  end)

  it("rejects bad save arguments", function()
    local t = nst.rand(1, 3, 4, 4)
    assert.matches("cannot tell the image format", err_of(nst.image.save, t, dir .. "/x.gif"))
    assert.matches("cannot tell the image format", err_of(nst.image.save, t, dir .. "/noext"))
    assert.matches("1x3xHxW or 3xHxW, got 1x4x4x4", err_of(nst.image.save, nst.rand(1, 4, 4, 4), dir .. "/x.png"))
    assert.matches("got 2x3x4x4", err_of(nst.image.save, nst.rand(2, 3, 4, 4), dir .. "/x.png"))
    assert.matches("quality must be an integer in %[1, 100%]", err_of(nst.image.save, t, dir .. "/x.jpg", {quality = 0}))
    assert.matches("bits must be 8 or 16", err_of(nst.image.save, t, dir .. "/x.png", {bits = 12}))
    assert.matches("JPEG files are 8%-bit", err_of(nst.image.save, t, dir .. "/x.jpg", {bits = 16}))
    assert.matches("unknown option 'qualty'", err_of(nst.image.save, t, dir .. "/x.jpg", {qualty = 90}))
    assert.matches("expected nst.Tensor, got string", err_of(nst.image.save, "t", dir .. "/x.png"))
    assert.matches("bad argument #2", err_of(nst.image.save, t, {}))
    assert.matches("expected a table of options, got number", err_of(nst.image.save, t, dir .. "/x.png", 8))
    assert.matches("bits must be an integer", err_of(nst.image.save, t, dir .. "/x.png", {bits = "8"}))
  end)
end)

describe("nst.image atomic save", function()
  it("writes nothing when the directory does not exist", function()
    local target = dir .. "/missing/out.png"
    assert.matches("cannot create a temporary file", err_of(nst.image.save, nst.rand(3, 4, 4), target))
    assert.is_false(exists(dir .. "/missing"))
  end)

  it("fails when the parent is a regular file", function()
    write_file(dir .. "/plain", "x")
    assert.matches("plain/out.png: cannot create a temporary file",
      err_of(nst.image.save, nst.rand(3, 4, 4), dir .. "/plain/out.png"))
  end)

  it("keeps an existing file and leaves no temporary files on failure", function()
    local sub = dir .. "/atomic"
    os.execute("mkdir '" .. sub .. "'")
    local target = sub .. "/keep.png"
    local good = nst.rand(1, 3, 5, 5)
    nst.image.save(good, target)
    local before = read_file(target)
    -- a bad tensor: refused before anything is written
    err_of(nst.image.save, nst.rand(1, 1, 5, 5), target)
    -- a write that fails at rename: the target is a directory
    os.execute("mkdir '" .. sub .. "/dir.png'")
    assert.matches("cannot replace it", err_of(nst.image.save, good, sub .. "/dir.png"))
    -- a JPEG too large for the format fails inside the writer
    assert.matches("each side at most", err_of(nst.image.save, nst.zeros(1, 3, 1, 70000), sub .. "/keep.jpg"))
    assert.are.equal(before, read_file(target))
    local names = listdir(sub)
    table.sort(names)
    assert.are.same({"dir.png", "keep.png"}, names)
    -- a successful save replaces the file (readable by everyone, like any output)
    nst.image.save(nst.zeros(1, 3, 5, 5), target)
    assert.are.equal(0, nst.image.load(target):max():item())
    assert.are.same({"dir.png", "keep.png"}, (function() local n = listdir(sub); table.sort(n); return n end)())
  end)
end)

describe("nst.image bad input", function()
  local function good_png()
    local path = dir .. "/good.png"
    nst.manual_seed(3)
    nst.image.save(nst.rand(1, 3, 40, 50), path)
    return read_file(path)
  end

  it("reports a missing file", function()
    assert.matches("nope%.png: cannot open: No such file", err_of(nst.image.load, dir .. "/nope.png"))
    assert.matches("cannot open", err_of(nst.image.info, dir .. "/nope.png"))
  end)

  it("detects the format from content, not the name", function()
    local path = dir .. "/image.png"
    write_file(path, "hello, I am text\n")
    assert.matches("image%.png: not a PNG or JPEG file", err_of(nst.image.load, path))
    assert.matches("not a PNG or JPEG file", err_of(nst.image.info, path))
    write_file(dir .. "/empty.jpg", "")
    assert.matches("empty file", err_of(nst.image.load, dir .. "/empty.jpg"))
    -- a PNG named .jpg loads as a PNG
    write_file(dir .. "/png.jpg", good_png())
    assert.are.same({1, 3, 40, 50}, nst.image.load(dir .. "/png.jpg"):shape())
    assert.are.equal("png", nst.image.info(dir .. "/png.jpg").format)
  end)

  it("rejects truncated and corrupt PNGs", function()
    local s = good_png()
    local path = dir .. "/bad.png"
    write_file(path, s:sub(1, #s // 2))
    assert.matches("bad%.png: bad PNG file: truncated", err_of(nst.image.load, path))
    write_file(path, s:sub(1, 20))
    assert.matches("truncated", err_of(nst.image.load, path))
    write_file(path, s:sub(1, #s - 12)) -- all image data, but no IEND
    assert.matches("truncated", err_of(nst.image.load, path))
    local m = #s // 2
    write_file(path, s:sub(1, m) .. string.rep("\0", 16) .. s:sub(m + 17))
    assert.matches("bad%.png: bad PNG file: IDAT", err_of(nst.image.load, path))
  end)

  it("rejects a 0x0 PNG", function()
    local path = dir .. "/zero.png"
    write_file(path, SIG .. ihdr(0, 0, 8, 2) .. chunk("IEND", ""))
    assert.matches("zero%.png: image is 0x0", err_of(nst.image.load, path))
    assert.matches("image is 0x0", err_of(nst.image.info, path))
  end)

  it("rejects a huge PNG before allocating", function()
    local path = dir .. "/huge.png"
    -- Only a header and a few bytes of data: loading must fail on the declared size.
    write_file(path, SIG .. ihdr(100000, 100000, 8, 2) .. chunk("IDAT", zlib_stored("\0\0\0\0")) .. chunk("IEND", ""))
    local err = err_of(nst.image.load, path)
    assert.matches("huge%.png: image is 100000x100000 %(10000000000 pixels%), more than the limit", err)
    -- info only reads the header
    local info = nst.image.info(path)
    assert.are.equal(100000, info.width)
    -- the limit is configurable; then missing pixel data is the error
    local limits = nst.limits()
    nst.set_limits{max_image_pixels = 20}
    local ok, e2 = pcall(nst.image.load, dir .. "/good.png")
    local ok3, e3 = pcall(nst.image.load, IMAGES .. "leuven.jpg")
    nst.set_limits{max_image_pixels = limits.max_image_pixels}
    assert.is_false(ok)
    assert.matches("50x40 %(2000 pixels%), more than the limit of 20 pixels", e2)
    assert.is_false(ok3)
    assert.matches("leuven%.jpg: image is 751x563", e3)
    write_file(path, SIG .. ihdr(300, 200, 8, 2) .. chunk("IDAT", zlib_stored("\0\1\2\3")) .. chunk("IEND", ""))
    assert.matches("bad PNG file", err_of(nst.image.load, path))
  end)

  it("rejects truncated and corrupt JPEGs", function()
    local s = read_file(IMAGES .. "leuven.jpg")
    local path = dir .. "/bad.jpg"
    write_file(path, s:sub(1, #s // 2))
    assert.matches("bad%.jpg: bad JPEG file: Premature end of JPEG file", err_of(nst.image.load, path))
    write_file(path, s:sub(1, 300))
    assert.matches("bad JPEG file", err_of(nst.image.load, path))
    local m = #s // 2
    write_file(path, s:sub(1, m) .. string.rep("\0", 64) .. s:sub(m + 65))
    assert.matches("bad JPEG file: Corrupt JPEG data", err_of(nst.image.load, path))
    write_file(path, s:sub(1, 3) .. string.rep("A", 50) .. s:sub(54)) -- a broken header
    assert.matches("bad JPEG file", err_of(nst.image.load, path))
    assert.matches("bad JPEG file", err_of(nst.image.info, path))
  end)

  it("checks argument types", function()
    assert.matches("bad argument #1", err_of(nst.image.load, {}))
    assert.matches("bad argument #1", err_of(nst.image.info, nil))
    assert.matches("expected a table of options, got number", err_of(nst.image.load, IMAGES .. "leuven.jpg", 5))
    assert.matches("unknown option 'sise'", err_of(nst.image.load, IMAGES .. "leuven.jpg", {sise = 5}))
    assert.matches("size must be an integer", err_of(nst.image.load, IMAGES .. "leuven.jpg", {size = 0}))
    assert.matches("size must be an integer", err_of(nst.image.load, IMAGES .. "leuven.jpg", {size = 2.5}))
  end)
end)

describe("nst.image JPEG variants", function()
  local have_pil = python_has("PIL")
  local function pil(code)
    assert.is_true(os.execute(PY .. " -c '" .. code .. "'") == true)
  end
  local test = have_pil and it or pending

  test("reads grayscale, progressive and rejects CMYK JPEGs (fixtures from PIL)", function()
    local src = IMAGES .. "leuven.jpg"
    pil(string.format([[
from PIL import Image
im = Image.open("%s").resize((64, 48))
im.convert("L").save("%s/gray.jpg", quality=95)
im.save("%s/prog.jpg", quality=95, progressive=True)
im.convert("CMYK").save("%s/cmyk.jpg", quality=95)
im.save("%s/ref.png")
]], src, dir, dir, dir, dir))
    local gray = nst.image.load(dir .. "/gray.jpg")
    assert.are.same({1, 3, 48, 64}, gray:shape())
    assert.are.same({width = 64, height = 48, channels = 1, bits = 8, format = "jpeg"}, nst.image.info(dir .. "/gray.jpg"))
    local g = gray:reshape(3, 48 * 64)
    local v = floats(g)
    for i = 1, 48 * 64 do assert.are.equal(v[i], v[i + 48 * 64]); assert.are.equal(v[i], v[i + 2 * 48 * 64]) end
    local prog, ref = nst.image.load(dir .. "/prog.jpg"), nst.image.load(dir .. "/ref.png")
    assert.is_true((prog - ref):abs():mean():item() < 0.03)
    assert.matches("cmyk%.jpg: CMYK JPEG files are not supported", err_of(nst.image.load, dir .. "/cmyk.jpg"))
    assert.are.equal(4, nst.image.info(dir .. "/cmyk.jpg").channels)
  end)
end)
