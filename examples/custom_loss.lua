-- A loss the library does not ship, prototyped in Lua on tensor ops: style as the
-- per-channel mean and standard deviation of the features (the statistics AdaIN
-- matches, Huang & Belongie 2017) instead of Gram matrices, plus the usual content term.
--   lua5.4 examples/custom_loss.lua [content] [style] [size=256] [iterations=300]
-- Writes out/custom_loss.png.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local nst = require("nst")

-- Per-channel mean and std of F (1,C,H,W) as (C,1) columns, plus helpers for the gradient.
local function stats(F)
  local C = F:shape()[2]
  local f = F:reshape(C, -1)                                   -- (C,M)
  local M = f:shape()[2]
  local ones = nst.ones(M, 1, {device = F:device()})
  local mu = nst.matmul(f, ones) * (1 / M)                     -- (C,1)
  local var = nst.matmul(f:square(), ones) * (1 / M) - mu:square()
  local sd = (var:maximum(0) + 1e-5):sqrt()
  return {f = f, mu = mu, sd = sd, ones = ones, C = C, M = M}
end

-- L = Σ_c (μ−μ_s)² + (σ−σ_s)²;  dL/dF[c,m] = 2(μ−μ_s)/M + 2(σ−σ_s)(F[c,m]−μ)/(Mσ)
local function stat_loss(F, target)
  local s = stats(F)
  local dmu, dsd = s.mu - target.mu, s.sd - target.sd
  local loss = dmu:sumsq() + dsd:sumsq()
  local row = s.ones:reshape(1, s.M)
  local spread = nst.matmul(dsd / s.sd, row)                    -- (C,M): (σ−σ_s)/σ per row
  local centered = s.f - nst.matmul(s.mu, row)
  local grad = (nst.matmul(dmu, row) + spread * centered) * (2 / s.M)
  return loss, grad:reshape(F:shape())
end

local size, iters = tonumber(arg[3]) or 256, tonumber(arg[4]) or 300
local vgg = nst.vgg19{pooling = "avg"}
local content = nst.image.load(arg[1] or "examples/images/leuven.jpg", {size = size})
local style = nst.image.load(arg[2] or "examples/images/starry_night.jpg", {size = size})
local content_layer, style_layers = "relu4_2", {"relu1_1", "relu2_1", "relu3_1", "relu4_1"}
local alpha, beta = 1, 10

local P = vgg:forward(content, {content_layer})[content_layer]
local S = {}
for name, F in pairs(vgg:forward(style, style_layers)) do S[name] = stats(F) end
local layers = {content_layer, table.unpack(style_layers)}

local img, adam = content:clone(), nst.optim.adam{lr = 2 / 255}
for it = 1, iters do
  local F = vgg:forward(img, layers)
  local lc, gc = nst.loss.content(F[content_layer], P, {mean = true})
  local grads, total = {[content_layer] = gc * alpha}, lc * alpha
  for _, name in ipairs(style_layers) do
    local ls, gs = stat_loss(F[name], S[name])
    grads[name] = gs * (beta / #style_layers)
    total = total + ls * (beta / #style_layers)
  end
  adam:step(img, vgg:backward(grads))
  img:clamp_(0, 1)
  if it == 1 or it % 50 == 0 then print(("iteration %d  loss %.4g"):format(it, total:item())) end
end
os.execute("mkdir -p out")
nst.image.save(img, "out/custom_loss.png")
print("wrote out/custom_loss.png")
