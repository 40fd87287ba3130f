-- How close each half of an image is to each of two styles: the Gram loss (Gatys's
-- normalization) of the image's left and right halves, each under a half mask
-- (nst.loss.guide), against each style image's Gram target Â, at VGG19's relu1_1 …
-- relu5_1; printed as the mean over the layers of the relative error |Ĝ − Â|² / |Â|²
-- (0: the style's statistics; 1: as far as features of zero), which compares styles of
-- different feature magnitudes, and as the plain sum of the losses.
--   lua5.4 examples/two_styles_measure.lua style1 style2 size image...
-- Every image is loaded with its longer side `size`, the style images as nst.transfer loads them.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local nst = require("nst")

local style1, style2, size = arg[1], arg[2], tonumber(arg[3])
local layers = {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"}
local net = nst.vgg19{pooling = "avg"}
local T = {}
for k, s in ipairs{style1, style2} do
  local F = net:forward(nst.image.load(s, {size = size}), layers)
  T[k] = nst.loss.style_stats({F}, {kind = "gram"})
end

local half = require("nst.masks").half

print(("%-24s %-6s %10s %10s %9s   %10s %10s"):format("image", "half", "rel 1", "rel 2", "own/other",
                                                 "loss 1", "loss 2"))
for i = 4, #arg do
  local img = nst.image.load(arg[i], {size = size}) -- a result is at this size already
  local s = img:shape()
  local F = net:forward(img, layers)
  for own, side in ipairs{"left", "right"} do
    local G = nst.loss.guide(net, half(s[3], s[4], side), layers)
    local E, rel = {}, {}
    for k = 1, 2 do
      E[k], rel[k] = 0, 0
      for _, l in ipairs(layers) do
        local e = nst.loss.gram(F[l], T[k][l], {guide = G[l]}):item()
        local c = T[k][l].c -- the loss is |Ĝ − Â|² / (4C²)
        E[k], rel[k] = E[k] + e, rel[k] + e * 4 * c * c / T[k][l].gram:sumsq():item() / #layers
      end
    end
    print(("%-24s %-6s %10.4f %10.4f %9.3f   %10.4g %10.4g"):format(arg[i]:match("[^/]*$"), side, rel[1], rel[2],
                                                               rel[own] / rel[3 - own], E[1], E[2]))
  end
end
