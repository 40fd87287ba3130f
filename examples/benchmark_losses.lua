-- The style losses side by side: the cost of an iteration (VGG19 forward and backward,
-- the losses, an Adam step) with style_loss gram, mean_cov and w2, guided or not, and the
-- time the style term's losses take inside it; then two style images blended against the
-- same two on the image's halves (style_masks, through nst.transfer's own terms), with and
-- without a content mask.
--   nice lua5.4 examples/benchmark_losses.lua [size=256] [iterations=5] [device=cpu] [weights] [masks]
-- masks: only gram and the two-style rows (blended, masked), for a shorter run.
-- weights: a VGG19 safetensors file (default: looked up, e.g. ../shared/weights). Each
-- configuration runs one warm-up iteration, then `iterations` timed ones, taking turns;
-- prints the best seconds per iteration, of the losses in it, and the ratios to gram.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local nst = require("nst")
local options = require("nst.transfer_options")
local transfer = require("nst.transfer")
local objective = require("nst.objective")

local size, iters, device, weights = tonumber(arg[1]) or 256, tonumber(arg[2]) or 5, arg[3] or "cpu", arg[4]
local net = nst.vgg19{weights = weights, pooling = "avg", device = device}

-- One configuration, ready to iterate: step() runs one iteration and returns its seconds
-- and those of its style losses.
local function setup(kind, guided, extra)
  local user = {content_image = "examples/images/leuven.jpg", net = net, image_size = size, scales = {size},
                style_images = {"examples/images/starry_night.jpg"}, style_loss = kind,
                normalization = "gatys", printer = false, handle_signals = false}
  for k, v in pairs(extra or {}) do user[k] = v end
  local o = options.check(user)
  local run = transfer.new_run(o)
  local term = run.objective.terms[2] -- content, style, tv
  assert(term.name == "style")
  local inner, spent = term.loss, 0
  if guided then -- an all-ones guide costs what any guide costs; Gram through the moments
    local s = run.image:shape()
    local guides = nst.loss.guide(net, nst.ones(1, 1, s[3], s[4]), o.style_layers)
    local style = nst.image.load(o.style_images[1], {size = size}):to(device)
    local spec = {style_layers = o.style_layers, style_loss = kind}
    local T = nst.terms.style_stats_targets(spec, {net:forward(style, o.style_layers)})
    inner = nst.terms.style_stats(kind, T, o.style_layers, term.weight, function() return 1 end, guides).loss
  end
  term.loss = function(F, l)
    local t0 = nst.clock()
    local a, b = inner(F, l)
    nst.sync(device)
    spent = spent + nst.clock() - t0
    return a, b
  end
  local adam = nst.optim.adam{lr = 1 / 255}
  return function()
    spent = 0
    local t0 = nst.clock()
    local _, grad = objective.evaluate(run.objective, net, run.image)
    adam:step(run.image, grad)
    run.image:clamp_(0, 1)
    nst.sync(device)
    return nst.clock() - t0, spent
  end
end

-- The configurations take turns, one iteration each per round, so that a machine shared
-- with other work slows them alike; the best round of each is reported.
-- Halves of the content image at this size ((1,1,H,W), left then right) for style_masks.
local function halves()
  local c = nst.image.load("examples/images/leuven.jpg", {size = size})
  local h, w, v = c:shape()[3], c:shape()[4], {}
  for _ = 1, h do
    for x = 1, w do v[#v + 1] = x <= w / 2 and 1 or 0 end
  end
  local L = nst.tensor(v):reshape(1, 1, h, w)
  return {L, nst.ones(1, 1, h, w) - L}
end
local two = {"examples/images/starry_night.jpg", "examples/images/leuven.jpg"}
local configs = {{"gram"}, {"mean_cov"}, {"w2"}, {"gram", true}, {"mean_cov", true}, {"w2", true}}
if arg[5] == "masks" then configs = {{"gram"}} end
for _, kind in ipairs{"gram", "mean_cov", "w2"} do
  local m = halves()
  configs[#configs + 1] = {kind, false, {style_images = two}, name = kind .. " 2 blended", base = #configs + 1}
  configs[#configs + 1] = {kind, false, {style_images = two, style_masks = m}, name = kind .. " 2 masked",
                           base = #configs}
  configs[#configs + 1] = {kind, false, {style_images = two, style_masks = m, content_mask = m[1]},
                           name = kind .. " 2 masked+cm", base = #configs - 1}
end
for _, c in ipairs(configs) do
  c.step, c.it, c.loss = setup(c[1], c[2], c[3]), math.huge, math.huge
  c.step() -- warm-up
end
for _ = 1, iters do
  for _, c in ipairs(configs) do
    local it, l = c.step()
    c.it, c.loss = math.min(c.it, it), math.min(c.loss, l)
  end
end
print(("VGG19 %d px on %s, best of %d iterations each"):format(size, device, iters))
print(("%-20s %10s %12s %10s %12s"):format("style_loss", "s/iter", "losses s", "iter/base", "losses/base"))
for _, c in ipairs(configs) do -- base: gram, or for the two-style rows the blended one
  local b = configs[c.base or 1]
  print(("%-20s %10.3f %12.4f %10.3f %12.2f"):format(c.name or c[1] .. (c[2] and " guided" or ""), c.it, c.loss,
                                                   c.it / b.it, c.loss / b.loss))
end
