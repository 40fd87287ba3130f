-- Single-scale against coarse-to-fine, the style losses, iterate averaging: runs of
-- nst.transfer on the CPU (VGG19, nst's defaults otherwise), each result's Gram style
-- loss measured at 128 px and at its own size, the time of each run.
--   nice lua5.4 examples/measure_scales.lua PHASE OUTDIR SIZE N [content] [style]
-- PHASE: compare SIZE ITERS   one scale vs scales = "auto", ITERS at each scale
--        losses SIZE ITERS    scales = "auto", style_loss gram / mean_cov / w2, ema 0 / 0.9
--        cost SIZE REPS       CPU seconds per iteration at each scale of "auto", in turns
-- Writes OUTDIR/<name>.png and prints one line per run (also appended to OUTDIR/results.txt).
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = "build/?.so;" .. package.cpath
local nst = require("nst")
local options = require("nst.transfer_options")
local transfer = require("nst.transfer")
local objective = require("nst.objective")
local scales = require("nst.scales")
local loops = require("nst.transfer_loops")

local phase, outdir = arg[1], arg[2]
local size, iters = tonumber(arg[3]), tonumber(arg[4])
local content = arg[5] or "/work/shared/images/leuven.jpg"
local style = arg[6] or "/work/shared/images/starry_night.jpg"
local net = nst.vgg19{pooling = "avg"}

local function now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("a"))
  p:close()
  return t
end

-- The Gram style loss (neural-style's normalization, weight 1, VGG19's five layers) of
-- img against the style image, both at longer side s.
local function gram_loss(img, s)
  local o = options.check{content_image = img, style_images = {style}, net = net,
    image_size = s, scales = {s}, style_weight = 1, content_weight = 0, tv_weight = 0, printer = false,
    handle_signals = false}
  local run = transfer.new_run(o)
  local _, grad, parts = objective.evaluate(run.objective, net, run.content:clone(), o)
  grad:close()
  local sum = 0
  for _, v in pairs(parts.style) do sum = sum + v:item() end
  return sum
end

local function report(line)
  print(line)
  io.stdout:flush()
  local f = assert(io.open(outdir .. "/results.txt", "a"))
  f:write(line, "\n")
  f:close()
end

local function run(name, opts)
  opts.content_image, opts.style_images, opts.net = content, {style}, net
  opts.image_size, opts.print_iter, opts.handle_signals = size, 0, false
  local t0, c0 = now(), os.clock()
  local img = nst.transfer(opts)
  local secs, cpu = now() - t0, os.clock() - c0
  nst.image.save(img, ("%s/%s.png"):format(outdir, name))
  local sizes = opts.scales == "auto" and table.concat(scales.auto(size), ",") or tostring(size)
  report(("%-22s scales %-16s iterations %d each  time %7.1f s (cpu %7.1f s)  gram@128 %.4g  gram@%d %.4g"):format(
    name, sizes, opts.num_iterations, secs, cpu, gram_loss(img, 128), size, gram_loss(img, size)))
end

if phase == "compare" then
  run("single_" .. size, {num_iterations = iters, scales = {size}})
  run("multi_" .. size, {num_iterations = iters, scales = "auto"})
elseif phase == "losses" then
  for _, kind in ipairs{"gram", "mean_cov", "w2"} do
    for _, e in ipairs{0, 0.9} do
      run(("%s_ema%g_%d"):format(kind, e, size), {num_iterations = iters, scales = "auto", style_loss = kind, ema = e})
    end
  end
elseif phase == "cost" then
  -- seconds per iteration at each scale of "auto", measured in turns (warm-up first), and
  -- what a run of ITERS at each scale costs against ITERS at the last scale alone
  local sizes, runs, best = scales.auto(size), {}, {}
  for k, s in ipairs(sizes) do
    runs[k] = transfer.new_run(options.check{content_image = content, style_images = {style}, net = net,
      image_size = s, scales = {s}, printer = false, handle_signals = false, num_iterations = 1000})
    loops.adam(runs[k], 1)
    best[k] = math.huge
  end
  for rep = 1, iters do
    for k = 1, #sizes do
      local c0 = os.clock()
      loops.adam(runs[k], rep + 1)
      best[k] = math.min(best[k], os.clock() - c0)
    end
  end
  local total = 0
  for k, s in ipairs(sizes) do
    total = total + best[k]
    report(("cost  %4d px  %.3f cpu s per iteration (best of %d)"):format(s, best[k], iters))
  end
  report(("cost  scales %s: a run of N at each scale / N at %d px alone = %.3f"):format(
    table.concat(sizes, ","), size, total / best[#sizes]))
else
  error("usage: measure_scales.lua compare|losses OUTDIR SIZE ITERS [content] [style]")
end
