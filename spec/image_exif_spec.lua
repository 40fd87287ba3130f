-- JPEG EXIF orientation: a JPEG with an orientation tag (an APP1 "Exif" segment written
-- here byte by byte, after SOI) loads as displayed, each of the 8 orientations exactly
-- the same pixels as the file without the tag turned in Lua; info gives the displayed
-- size; the command line's output of a turned photo is turned too.
local nst = require("nst")
local h = require("helpers.kit")
local files, cli, tiny = h.files, h.cli, h.tiny

-- APP1 with a big-endian ("MM") TIFF header and one IFD0 entry: 0x0112 SHORT = o.
local function exif_app1(o)
  local tiff = "MM\0\42" .. string.pack(">I4", 8) .. string.pack(">I2", 1)
    .. string.pack(">I2I2I4I2I2", 0x0112, 3, 1, o, 0) .. string.pack(">I4", 0)
  local payload = "Exif\0\0" .. tiff
  return "\255\225" .. string.pack(">I2", #payload + 2) .. payload
end

local function with_orientation(src, dst, o)
  local data = files.read(src)
  assert(data:sub(1, 2) == "\255\216")
  files.write(dst, data:sub(1, 2) .. exif_app1(o) .. data:sub(3))
end

-- t (1,3,H,W) as a table turned as EXIF orientation o says (PIL's exif_transpose)
local function turned(t, o)
  local a = t:totable()[1]
  local H, W = #a[1], #a[1][1]
  local swap = o >= 5
  local oh, ow = swap and W or H, swap and H or W
  local out = {}
  for k = 1, 3 do
    out[k] = {}
    for i = 1, oh do
      out[k][i] = {}
      for j = 1, ow do
        local i0, j0 = i - 1, j - 1
        local r, c = ({
          [1] = function() return i0, j0 end, [2] = function() return i0, W - 1 - j0 end,
          [3] = function() return H - 1 - i0, W - 1 - j0 end, [4] = function() return H - 1 - i0, j0 end,
          [5] = function() return j0, i0 end, [6] = function() return H - 1 - j0, i0 end,
          [7] = function() return H - 1 - j0, W - 1 - i0 end, [8] = function() return j0, W - 1 - i0 end,
        })[o]()
        out[k][i][j] = a[k][r + 1][c + 1]
      end
    end
  end
  return {out}
end

describe("JPEG EXIF orientation", function()
  local dir
  files.tmpdir_each(function(d) dir = d end)

  it("loads each of the 8 orientations as displayed, with info's size the displayed one", function()
    nst.manual_seed(5)
    local base = dir .. "/base.jpg"
    nst.image.save(nst.rand(1, 3, 5, 7), base, {quality = 100})
    local plain = nst.image.load(base)
    for o = 1, 8 do
      local p = ("%s/o%d.jpg"):format(dir, o)
      with_orientation(base, p, o)
      local img = nst.image.load(p)
      assert.are.same(turned(plain, o), img:totable(), "orientation " .. o)
      local info = nst.image.info(p)
      assert.are.same(o >= 5 and {7, 5} or {5, 7}, {info.height, info.width}, "orientation " .. o)
    end
    -- a tag out of range, or an APP1 that is not EXIF, leaves the image as stored
    with_orientation(base, dir .. "/o9.jpg", 9)
    assert.are.same(plain:totable(), nst.image.load(dir .. "/o9.jpg"):totable())
    local data = files.read(base)
    files.write(dir .. "/xmp.jpg", data:sub(1, 2) .. "\255\225\0\10http:/" .. data:sub(3))
    assert.are.same(plain:totable(), nst.image.load(dir .. "/xmp.jpg"):totable())
  end)

  it("turns the output of nst for a photo taken turned", function()
    local base = dir .. "/c.jpg"
    nst.manual_seed(3)
    nst.image.save(nst.rand(1, 3, 24, 32), base, {quality = 95})
    with_orientation(base, dir .. "/c6.jpg", 6)
    local status, log = cli.run(tiny.flags({"-content_image", dir .. "/c6.jpg", "-output_image", dir .. "/o.png"}))
    assert.are.equal(0, status, log)
    assert.are.same({1, 3, 32, 24}, nst.image.load(dir .. "/o.png"):shape())
  end)
end)
