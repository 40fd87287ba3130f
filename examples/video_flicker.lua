-- Flicker of a stylized clip with known motion, with and without the temporal term: a
-- crop window moving across examples/images/leuven.jpg by (DX, DY) whole pixels per frame,
-- stylized with starry_night by nst video (real VGG19, CPU) three ways:
--   independent   each frame from its own content (-warp_init 0 -temporal_weight 0)
--   warp start    each frame from the warped previous result (-temporal_weight 0)
--   temporal      the warped start and the temporal term (-temporal_weight W)
-- For consecutive stylized frames S_t, S_{t-1} the scene point at pixel p of frame t is
-- at p + (DX, DY) in frame t-1, so the printed figure is mean |S_t(p) - S_{t-1}(p + d)|
-- over the pixels both frames show, in grey levels (0..255), averaged over t.
--   nice lua5.4 examples/video_flicker.lua [frames [iterations [size [temporal_weight]]]]
-- A benchmark, not a test: it prints, it asserts nothing.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("NST_BUILD") or "build") .. "/?.so;" .. package.cpath
local nst = require("nst")
local video_cmd = require("nst.cmd.video")

local F, ITERS = tonumber(arg[1]) or 6, arg[2] or "100"
local W = tonumber(arg[3]) or 128
local TW = arg[4] or "1000"
local H, DX, DY = W * 3 // 4, 4, 1

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir .. "/in"))

-- the clip: window t at (DX·t, DY·t) of leuven at 2.5 times the window's width
local scene = nst.image.load("examples/images/leuven.jpg", {size = W * 5 // 2})
local s = scene:shape()
assert(W + DX * F <= s[4] and H + DY * F <= s[3], "the scene is too small for this clip")
local rows = scene:reshape(3 * s[3], s[4]):totable()
for t = 0, F - 1 do
  local planes = {}
  for c = 1, 3 do
    local plane = {}
    for y = 1, H do
      local src, row = rows[(c - 1) * s[3] + DY * t + y], {}
      for x = 1, W do row[x] = src[DX * t + x] end
      plane[y] = row
    end
    planes[c] = plane
  end
  nst.image.save(nst.tensor({planes}), ("%s/in/%03d.png"):format(dir, t + 1))
end

-- mean |S_t(p) - S_{t-1}(p + d)| in grey levels over the common pixels, averaged over t
local function flicker(pattern)
  local total = 0
  for t = 2, F do
    local a = nst.image.load(pattern:format(t)):totable()[1]
    local b = nst.image.load(pattern:format(t - 1)):totable()[1]
    local sum, n = 0, 0
    for c = 1, 3 do
      for y = 1, H - DY do
        for x = 1, W - DX do
          sum, n = sum + math.abs(a[c][y][x] - b[c][y + DY][x + DX]), n + 1
        end
      end
    end
    total = total + sum / n
  end
  return total / (F - 1) * 255
end

local common = {"-content_video", dir .. "/in/%03d.png", "-style_image", "examples/images/starry_night.jpg",
                "-model", "vgg19", "-gpu", "-1", "-image_size", tostring(W), "-num_iterations", ITERS,
                "-print_iter", "0", "-seed", "1"}
local runs = {
  {"independent", {"-warp_init", "0", "-temporal_weight", "0"}},
  {"warp start", {"-temporal_weight", "0"}},
  {"temporal", {"-temporal_weight", TW}},
}
print(("clip: %d frames %dx%d moving (%d, %d) px per frame; %s iterations per frame; VGG19 on the CPU"):format(
  F, W, H, DX, DY, ITERS))
print(("  content frames, aligned     %7.3f grey levels"):format(flicker(dir .. "/in/%03d.png")))
for i, r in ipairs(runs) do
  local out = ("%s/out%d"):format(dir, i)
  os.execute("mkdir -p " .. out)
  local args = {}
  for _, v in ipairs(common) do args[#args + 1] = v end
  for _, v in ipairs(r[2]) do args[#args + 1] = v end
  args[#args + 1], args[#args + 2] = "-output_video", out .. "/%03d.png"
  local t0 = nst.clock()
  assert(video_cmd.main(args) == 0, r[1] .. " failed")
  print(("  %-12s %s  %7.3f grey levels  (%.0f s)"):format(r[1], table.concat(r[2], " "), flicker(out .. "/%03d.png"),
                                                          nst.clock() - t0))
end
os.execute("rm -rf " .. dir)
