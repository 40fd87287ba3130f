-- The workload of ../shared/bench/torch_gatys.py in nst: VGG16 to relu4_3, avg pooling,
-- content loss at relu4_3, style loss at relu1_2 relu2_2 relu3_3 relu4_3 (weight 1e3/L),
-- Adam lr 1 on the image, random SIZE x SIZE content and style, random weights.
-- usage: lua5.4 examples/benchmark.lua [--size 256] [--iters 20] [--warmup 3]
--                                      [--device cpu|cuda] [--mode fp32|tf32|bf16]
--                                      [--layout auto|nchw|nhwc|chain] [--profile N]
--                                      [--graph 0|1]
-- Prints one JSON line like torch_gatys.py: ms_per_iter and peak memory, plus host_ms
-- (time the host takes to queue one iteration; with CUDA the device runs behind it).
-- --profile N first prints, on stderr, where the time of N more iterations went (per
-- layer and direction, losses, Adam; nst.profile_*). --graph 1 (CUDA) captures one
-- iteration as a CUDA graph after the warm-up and times its replays.
local nst = require("nst")
local fs = require("nst.fs")

local opts = {size = 256, iters = 20, warmup = 3, device = "cpu", mode = "tf32", layout = "auto",
              profile = 0, graph = 0}
local i = 1
while i <= #arg do
  local k = arg[i]:match("^%-%-(.+)$")
  if not k or opts[k] == nil or arg[i + 1] == nil then
    io.stderr:write("usage: benchmark.lua [--size N] [--iters N] [--warmup N] [--device cpu|cuda] [--mode fp32|tf32|bf16] [--layout auto|nchw|nhwc|chain] [--profile N] [--graph 0|1]\n")
    os.exit(2)
  end
  opts[k] = type(opts[k]) == "number" and assert(tonumber(arg[i + 1]), "bad number for --" .. k) or arg[i + 1]
  i = i + 2
end
if opts.device == "cuda" then
  nst.cuda_set_precision(opts.mode)
  nst.cuda_set_conv_layout(opts.layout)
end

-- Random VGG16 weights up to conv4_3 (timing only), He init, written once.
local convs = {{0, 3, 64}, {2, 64, 64}, {5, 64, 128}, {7, 128, 128}, {10, 128, 256}, {12, 256, 256},
               {14, 256, 256}, {17, 256, 512}, {19, 512, 512}, {21, 512, 512}}
local path = os.tmpname()
nst.manual_seed(0)
local params = {}
for _, c in ipairs(convs) do
  params[("features.%d.weight"):format(c[1])] = nst.randn(c[3], c[2], 3, 3) * math.sqrt(2 / (9 * c[2]))
  params[("features.%d.bias"):format(c[1])] = nst.zeros(c[3])
end
nst.safetensors.save(path, params, {arch = "vgg16", preprocess = "none"})
local vgg = nst.vgg16{weights = path, pooling = "avg", device = opts.device, preprocess = "none"}
os.remove(path)

local S = opts.size
local STYLE = {"relu1_2", "relu2_2", "relu3_3", "relu4_3"}
local content = nst.rand(1, 3, S, S, {device = opts.device})
local style = nst.rand(1, 3, S, S, {device = opts.device})
local P = vgg:forward(content, {"relu4_3"}).relu4_3
local A = {}
for name, F in pairs(vgg:forward(style, STYLE)) do A[name] = nst.gram(F) end
local img = content:clone()
local adam = nst.optim.adam{lr = 1}
local sw = 1e3 / #STYLE

local dev = opts.device
local function step()
  nst.profile_mark("(host gap before the iteration)", dev)
  local F = vgg:forward(img, STYLE)
  local total, grads = nst.mse_loss(F.relu4_3, P)
  grads = {relu4_3 = grads}
  for _, name in ipairs(STYLE) do
    local ls, gs = nst.style_loss(F[name], A[name], sw)
    total = total + ls
    grads[name] = grads[name] and grads[name] + gs or gs
  end
  nst.profile_mark("losses", dev)
  local g = vgg:backward(grads)
  adam:step(img, g)
  -- Free the iteration's big temporaries now rather than when the collector runs.
  for _, t in pairs(F) do t:close() end
  for _, t in pairs(grads) do t:close() end
  g:close()
  nst.profile_mark("adam", dev)
  return total
end

local now = nst.clock -- wall clock; os.clock() would add up both cores' CPU time

local last
for _ = 1, opts.warmup do last = step() end
last:item()
if opts.graph == 1 then
  -- One iteration captured (cuDNN plans exist after the warm-up); replays rewrite `loss`.
  local graph, loss = nst.cuda_graph(step)
  step = function() graph:replay() return loss end
  last = step()
  last:item()
end
if opts.device == "cuda" then nst.cuda_reset_peak() end
local t0 = now()
for _ = 1, opts.iters do last = step() end
last:item() -- waits for the device
local dt = (now() - t0) / opts.iters

-- Host time to queue one iteration (the device idle at the start), median of 5.
local host = {}
for r = 1, 5 do
  local h0 = now()
  last = step()
  host[r] = now() - h0
  last:item()
end
table.sort(host)

if opts.profile > 0 then
  nst.profile_start()
  for _ = 1, opts.profile do last = step() end
  last:item()
  local marks, sum, order = nst.profile_stop(), {}, {}
  for _, m in ipairs(marks) do
    if not sum[m.label] then sum[m.label] = 0; order[#order + 1] = m.label end
    sum[m.label] = sum[m.label] + m.ms / opts.profile
  end
  local total = 0
  for _, l in ipairs(order) do total = total + sum[l] end
  io.stderr:write(("profile (%s, %dpx, %s, layout %s): ms per iteration, %d iterations\n")
    :format(dev, S, opts.mode, dev == "cuda" and nst.cuda_get_conv_layout() or "-", opts.profile))
  for _, l in ipairs(order) do
    io.stderr:write(("  %-34s %8.3f  %5.1f%%\n"):format(l, sum[l], 100 * sum[l] / total))
  end
  io.stderr:write(("  %-34s %8.3f\n"):format("total", total))
  if dev == "cuda" then
    io.stderr:write("cuDNN plans (Find's choice per shape):\n")
    for _, p in ipairs(nst.cuda_conv_plans()) do
      io.stderr:write(("  %-13s %s %s n%d c%d %dx%d k%d: algo %d, workspace %.1f MiB, %.3f ms\n")
        :format(p.direction, p.precision, p.layout, p.n, p.c, p.h, p.w, p.k, p.algo,
                p.workspace / 2 ^ 20, p.ms))
    end
  end
end
local peak
if opts.device == "cuda" then peak = nst.cuda_memory_stats().peak / 2 ^ 20 else peak = fs.memory_mib("VmHWM") end
local gflop = 4 * 278208 * S * S / 1e9
print(('{"impl": "nst", "device": "%s", "size": %d, "mode": "%s", "layout": "%s", "graph": %d, "ms_per_iter": %.3f, "host_ms": %.3f, "tflops": %.3f, "peak_mib": %d, "peak_kind": "%s"}')
  :format(opts.device, S, opts.device == "cuda" and opts.mode or "fp32",
          opts.device == "cuda" and nst.cuda_get_conv_layout() or "-", opts.graph, dt * 1e3, host[3] * 1e3,
          gflop / dt / 1e3, math.floor(peak + 0.5),
          opts.device == "cuda" and "device allocations" or "process RSS"))
