-- CUDA vs CPU on the same weights and input, per precision mode: features, losses and
-- the input gradient of the benchmark's objective. Prints one line per mode.
-- usage: lua5.4 spec/device/precision.lua [size]
local nst = require "nst"
local weights = require "helpers.weights"
local S = tonumber(arg[1]) or 128
local path = weights.vgg("vgg16", nil, {layers = 10})
local STYLE = {"relu1_2", "relu2_2", "relu3_3", "relu4_3"}

local function rel(a, b)
  a, b = a:cpu(), b:cpu()
  return ((a - b):abs():max() / b:abs():max()):item()
end

local function run(device)
  local vgg = nst.vgg16{weights = path, pooling = "avg", device = device}
  nst.manual_seed(5)
  local img = nst.rand(1, 3, S, S):to(device)
  local F = vgg:forward(img, STYLE)
  local P = F.relu4_3:clone()
  P:mul_(0.9)
  local grads, losses = {}, {}
  local lc, gc = nst.mse_loss(F.relu4_3, P)
  grads.relu4_3, losses.content = gc, lc
  for _, name in ipairs(STYLE) do
    local A = nst.gram(F[name]):reshape(F[name]:shape()[2], -1) * 0.8
    local ls, gs = nst.style_loss(F[name], A, 1e3)
    grads[name] = grads[name] and grads[name] + gs or gs
    losses[name] = ls
  end
  return F, losses, vgg:backward(grads)
end

local Fc, Lc, Gc = run("cpu")
for _, mode in ipairs{"fp32", "tf32", "bf16"} do
  nst.cuda_set_precision(mode)
  local Fg, Lg, Gg = run("cuda")
  local worst_f, worst_l, flips = 0, 0, 0
  for _, name in ipairs(STYLE) do
    worst_f = math.max(worst_f, rel(Fg[name], Fc[name]))
    -- ReLU units on different sides of zero on the two devices (each moves the gradient)
    flips = flips + (Fg[name]:cpu():sign() - Fc[name]:sign()):abs():sum():item()
  end
  for k in pairs(Lc) do worst_l = math.max(worst_l, rel(Lg[k], Lc[k])) end
  print(("precision %s size %d: features %.3g, losses %.3g, input gradient %.3g (max relative error vs CPU); %d ReLU sign flips in the taps")
    :format(mode, S, worst_f, worst_l, rel(Gg, Gc), flips))
end
