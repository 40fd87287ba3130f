-- Coarse-to-fine by hand: what nst.transfer{scales = "auto"} does, as a loop.
--   lua5.4 examples/high_res.lua [content] [style] [size=768] [iterations=150] [out=out/high_res.png]
-- Scale by scale (96, 192, 384, 768 px for 768): the targets at that size, the image
-- (and Adam's moments, and the average of the iterates) upsampled from the last scale.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local nst = require("nst")
local options = require("nst.transfer_options")
local transfer = require("nst.transfer")
local carry = require("nst.transfer_scales")
local loops = require("nst.transfer_loops")
local images = require("nst.transfer_images")
local ema = require("nst.ema")

local o = options.check{
  content_image = arg[1] or "examples/images/leuven.jpg", style_images = {arg[2] or "examples/images/starry_night.jpg"},
  model = "vgg19", image_size = tonumber(arg[3]) or 768, scales = "auto", num_iterations = tonumber(arg[4]) or 150,
  ema = 0, print_iter = 50, handle_signals = false,
}
local run = transfer.new_run(o)              -- scale 1: the content, the targets, the start image
for k, scale in ipairs(o.schedule) do
  if k > 1 then
    transfer.at_scale(run, k)                -- content and style targets at this size
    local s = run.content:shape()
    carry.carry(run, s[3], s[4])             -- image, Adam's m and v, the average: upsampled
  end
  print(("scale %d/%d: %dx%d px, iterations %d..%d"):format(k, #o.schedule, run.image:shape()[4],
                                                            run.image:shape()[3], scale.first, scale.last))
  loops.adam(run, scale.last)                -- Adam, its state kept in run.adam
end
local out = arg[5] or "out/high_res.png"
os.execute("mkdir -p \"$(dirname '" .. out .. "')\"")
nst.image.save(images.output(ema.image(run), run.content, o), out)
print("wrote " .. out)
