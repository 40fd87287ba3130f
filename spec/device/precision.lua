-- CUDA vs CPU on the same weights and input, per precision mode and conv layout:
-- features, losses and the input gradient of the benchmark's objective (VGG16 to
-- relu4_3, avg pooling, content relu4_3, style relu1_2/2_2/3_3/4_3).
--
-- A ReLU unit whose pre-activation lands on different sides of zero on the two devices
-- (float rounding near 0) switches its gradient on or off, so the end-to-end input
-- gradient can differ by far more than the arithmetic does. Two more figures separate
-- the two effects: the number of such units over every ReLU, and "same-mask gradient":
-- the CUDA backward run with the CPU's ReLU outputs as masks, layer by layer
-- (nst.conv3x3_backward with a ReLU output, nst.pool_backward), against the CPU's.
-- Errors are max|a - b| / max|b| and, for gradients, also ||a - b||_2 / ||b||_2.
-- usage: lua5.4 spec/device/precision.lua [size]
local nst = require("nst")
local weights = require("helpers.weights")
local S = tonumber(arg[1]) or 128
local path = weights.vgg("vgg16", nil, {layers = 10})
local STYLE = {"relu1_2", "relu2_2", "relu3_3", "relu4_3"}

local function rel(a, b)
  a, b = a:cpu(), b:cpu()
  return ((a - b):abs():max() / b:abs():max()):item()
end
local function rel2(a, b)
  a, b = a:cpu(), b:cpu()
  return math.sqrt((a - b):sumsq():item() / b:sumsq():item())
end

local probe = nst.vgg16{weights = path, pooling = "avg", preprocess = "none"}
local NAMES = {}
for _, name in ipairs(probe:layers()) do
  NAMES[#NAMES + 1] = name
  if name == "relu4_3" then break end
end
local RELUS = {}
for _, name in ipairs(NAMES) do if name:match("^relu") then RELUS[#RELUS + 1] = name end end
local W = nst.safetensors.load(path)
local CONV_INDEX = {conv1_1 = 0, conv1_2 = 2, conv2_1 = 5, conv2_2 = 7, conv3_1 = 10, conv3_2 = 12,
                    conv3_3 = 14, conv4_1 = 17, conv4_2 = 19, conv4_3 = 21}

nst.manual_seed(5)
local IMG = nst.rand(1, 3, S, S)

local function run(device)
  local vgg = nst.vgg16{weights = path, pooling = "avg", device = device, preprocess = "none"}
  local F = vgg:forward_raw(IMG:to(device), RELUS) -- every ReLU: taps for flips and masks
  local P = F.relu4_3:cpu():to(device)
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
  -- vgg:backward wants only gradients at the loss taps
  return F, losses, vgg:backward_raw(grads), grads
end

-- The backward of the network on `device` with the masks (ReLU outputs) of F, starting
-- from gradients at some ReLU outputs.
local function backward_with(F, grads, device)
  local g
  for i = #NAMES, 1, -1 do
    local name = NAMES[i]
    if grads[name] then
      local d = grads[name]:cpu():to(device)
      g = g and g + d or d
    end
    if g and name:match("^conv") then
      local relu = NAMES[i + 1] -- every conv here is followed by its ReLU
      local w = W[("features.%d.weight"):format(CONV_INDEX[name])]:to(device)
      g = nst.conv3x3_backward(g, w, F[relu]:cpu():to(device))
    elseif g and name:match("^pool") then
      g = nst.pool_backward(g, F[NAMES[i - 1]]:cpu():to(device), "avg")
    end
  end
  return g
end

local Fc, Lc, Gc, gradsc = run("cpu")
local Gc_same = backward_with(Fc, gradsc, "cpu")
print(("size %d: CPU chain check (same-mask backward on the CPU vs vgg:backward): %.3g")
  :format(S, rel(Gc_same, Gc)))
for _, case in ipairs{{"fp32", "nchw"}, {"fp32", "chain"}, {"tf32", "chain"}, {"bf16", "nchw"}, {"bf16", "chain"}} do
  local mode, layout = case[1], case[2]
  do
    nst.cuda_set_precision(mode)
    nst.cuda_set_conv_layout(layout)
    local Fg, Lg, Gg = run("cuda")
    local worst_f, worst_l, flips, units = 0, 0, 0, 0
    for _, name in ipairs(RELUS) do
      worst_f = math.max(worst_f, rel(Fg[name], Fc[name]))
      local a, b = Fg[name]:cpu():sign(), Fc[name]:sign()
      flips = flips + (a - b):abs():sum():item()
      units = units + #b
    end
    for k in pairs(Lc) do worst_l = math.max(worst_l, rel(Lg[k], Lc[k])) end
    local Gsame = backward_with(Fc, gradsc, "cuda")
    print(("precision %s layout %s size %d: features %.3g, losses %.3g, input gradient %.3g (L2 %.3g); ReLU units on different sides of zero: %d of %d; same-mask gradient %.3g (L2 %.3g)")
      :format(mode, layout, S, worst_f, worst_l, rel(Gg, Gc), rel2(Gg, Gc), flips, units, rel(Gsame, Gc), rel2(Gsame, Gc)))
  end
end
nst.cuda_set_conv_layout("auto")
