-- Content reconstruction (Gatys et al., fig. 1): from white noise, match only the VGG19
-- features of one layer; the shallower the layer, the closer the image.
--   lua5.4 examples/reconstruct_content.lua [layer=relu2_2] [iterations=200] [size=256]
-- Writes out/content_<layer>.png and prints the PSNR against the content image.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local nst = require("nst")

local layer, iters, size = arg[1] or "relu2_2", tonumber(arg[2]) or 200, tonumber(arg[3]) or 256
local path = "examples/images/leuven.jpg"
os.execute("mkdir -p out")
local out = ("out/content_%s.png"):format(layer)
local img, history = nst.transfer{
  model = "vgg19", content_image = path, image_size = size, content_layers = {layer},
  style_weight = 0, tv_weight = 0, init = "noise", seed = 1, optimizer = "lbfgs",
  num_iterations = iters, print_iter = 50, output = out,
}
local content = nst.image.load(path, {size = size})
local mse = (img - content):sumsq():item() / img:numel()
print(("content loss %.4g -> %.4g"):format(history[1].content, history[#history].content))
print(("%s: PSNR %.2f dB against the content image; wrote %s"):format(layer, 10 * math.log(1 / mse, 10), out))
