-- Texture synthesis (Gatys et al., fig. 1): from white noise, match only the Gram
-- matrices of the style image at relu1_1 ... relu5_1 of VGG19.
--   lua5.4 examples/reconstruct_style.lua [style image] [iterations=300] [size=256]
-- Writes out/texture.png and prints how much the style loss fell.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local nst = require("nst")

local path, iters, size = arg[1] or "examples/images/starry_night.jpg", tonumber(arg[2]) or 300,
  tonumber(arg[3]) or 256
os.execute("mkdir -p out")
local _, history = nst.transfer{
  model = "vgg19", content_image = path, style_images = {path}, image_size = size,
  content_weight = 0, style_weight = 1, tv_weight = 0, init = "noise", seed = 1,
  -- Adam, 10 grey levels per step, halved every 100 (L-BFGS without a line search makes
  -- no progress on these unnormalized losses: see nst.optim.lbfgs)
  optimizer = "adam", learning_rate = 10, lr_decay = {every = 100, gamma = 0.5}, num_iterations = iters, print_iter = 50, output = "out/texture.png",
}
local first, last = history[1], history[#history]
local s0, s1 = first.total, last.total -- content and tv weights are 0: total = style
print(("style loss %.4g -> %.4g: %.0fx lower; wrote out/texture.png"):format(s0, s1, s0 / s1))
for _, l in ipairs(history.style_layers) do
  print(("  %-8s %.4g -> %.4g"):format(l, first.style[l], last.style[l]))
end
