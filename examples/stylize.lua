-- The Gatys loop written out (DESIGN.md's sketch) with the real VGG19:
--   lua5.4 examples/stylize.lua [content] [style] [size] [iterations]  -> out/stylized.png
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local nst = require("nst")

local size, iters = tonumber(arg[3]) or 256, tonumber(arg[4]) or 300
local vgg = nst.vgg19{pooling = "avg"}
local content = nst.image.load(arg[1] or "examples/images/leuven.jpg", {size = size}):to(vgg.device)
local H, W = content:shape()[3], content:shape()[4] -- style at the same size: Grams compare
local style = nst.image.load(arg[2] or "examples/images/starry_night.jpg", {size = {H, W}}):to(vgg.device)
local content_layer, style_layers = "relu4_2", {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"}
local alpha, beta = 5, 0.1 / #style_layers -- nst.transfer's defaults

local P = vgg:forward(content, {content_layer})[content_layer]
local A = {}
for name, F in pairs(vgg:forward(style, style_layers)) do A[name] = nst.gram(F) end
local all_layers = {content_layer, table.unpack(style_layers)}

local img, adam = content:clone(), nst.optim.adam{lr = 1 / 255} -- one grey level per step
for it = 1, iters do
  local F = vgg:forward(img, all_layers)
  local lc, gc = nst.loss.content(F[content_layer], P, {mean = true})
  local grads, total = {[content_layer] = gc * alpha}, lc * alpha
  for name, Al in pairs(A) do
    local ls, gs = nst.loss.style(F[name], Al)
    grads[name] = grads[name] and grads[name] + gs * beta or gs * beta
    total = total + ls * beta
  end
  adam:step(img, vgg:backward(grads))
  img:clamp_(0, 1)
  if it % 50 == 0 then print(("iteration %d  loss %.4g"):format(it, total:item())) end
end
os.execute("mkdir -p out")
nst.image.save(img:cpu(), "out/stylized.png")
print("wrote out/stylized.png")
