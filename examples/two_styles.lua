-- Two styles on the two halves of a photo (style_masks): style 1 on the left, style 2 on
-- the right, the masks crossing over in a band of 1/16 of the width.
--   lua5.4 examples/two_styles.lua [content] [style1] [style2|pattern] [size] [iterations] [out] [blend]
-- style2 "pattern" (default) draws a bold pattern of coloured stripes (saved beside out);
-- blend = 1 runs both styles blended over the whole image instead, for comparison.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local nst = require("nst")

local content = arg[1] or "examples/images/leuven.jpg"
local style1, style2 = arg[2] or "examples/images/starry_night.jpg", arg[3] or "pattern"
local size, iters, out = tonumber(arg[4]) or 256, tonumber(arg[5]) or 300, arg[6] or "out/two_styles.png"
local blend = arg[7] == "1"
os.execute("mkdir -p '" .. (out:match("^(.*)/") or ".") .. "'")

-- A (1,3,n,n) pattern: diagonal red, yellow and green bands crossed by thick dark lines.
local function pattern(n)
  local colours, v = {{0.9, 0.1, 0.1}, {1.0, 0.85, 0.1}, {0.1, 0.6, 0.2}}, {}
  for c = 1, 3 do
    for y = 0, n - 1 do
      for x = 0, n - 1 do
        local dark = (x - y) % 32 < 6
        v[#v + 1] = dark and 0.05 or colours[(x + y) // 24 % 3 + 1][c]
      end
    end
  end
  return nst.tensor(v):reshape(1, 3, n, n)
end
if style2 == "pattern" then
  style2 = out:gsub("%.[^./]+$", "") .. "_pattern.png"
  nst.image.save(pattern(size), style2)
end

-- Left and right masks (H,W) in the content's frame: 1 inside, a linear ramp across the
-- middle band (any size would do: masks are resized to the image).
local info = nst.image.info(content)
local s = size / math.max(info.width, info.height)
local H, W = math.floor(info.height * s + 0.5), math.floor(info.width * s + 0.5)
local left, band = {}, W / 16
for y = 1, H do
  for x = 1, W do left[#left + 1] = math.min(1, math.max(0, (W / 2 + band / 2 - x) / band)) end
end
local L = nst.tensor(left):reshape(H, W)
local R = nst.ones(H, W) - L

nst.transfer{content_image = content, style_images = {style1, style2}, model = "vgg19",
                         style_masks = not blend and {L, R} or nil, image_size = size,
                         num_iterations = iters, print_iter = 50, output = out}
print(("wrote %s (%s): left %s, right %s"):format(out, blend and "blended" or "masked", style1, style2))
