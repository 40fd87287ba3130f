-- The workload of ../shared/bench/torch_gatys.py in nst: VGG16 to relu4_3, avg pooling,
-- content loss at relu4_3, style loss at relu1_2 relu2_2 relu3_3 relu4_3 (weight 1e3/L),
-- Adam lr 1 on the image, random SIZE x SIZE content and style, random weights.
-- usage: lua5.4 examples/benchmark.lua [--size 256] [--iters 20] [--warmup 3]
--                                      [--device cpu|cuda] [--mode fp32|tf32|bf16]
-- Prints one JSON line like torch_gatys.py: ms_per_iter and peak memory.
local nst = require "nst"

local opts = {size = 256, iters = 20, warmup = 3, device = "cpu", mode = "tf32"}
local i = 1
while i <= #arg do
  local k = arg[i]:match("^%-%-(.+)$")
  if not k or opts[k] == nil or arg[i + 1] == nil then
    io.stderr:write("usage: benchmark.lua [--size N] [--iters N] [--warmup N] [--device cpu|cuda] [--mode fp32|tf32|bf16]\n")
    os.exit(2)
  end
  opts[k] = type(opts[k]) == "number" and assert(tonumber(arg[i + 1]), "bad number for --" .. k) or arg[i + 1]
  i = i + 2
end
if opts.device == "cuda" then nst.cuda_set_precision(opts.mode) end

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

local function step()
  local F = vgg:forward(img, STYLE)
  local total, grads = nst.mse_loss(F.relu4_3, P)
  grads = {relu4_3 = grads}
  for _, name in ipairs(STYLE) do
    local ls, gs = nst.style_loss(F[name], A[name], sw)
    total = total + ls
    grads[name] = grads[name] and grads[name] + gs or gs
  end
  adam:step(img, vgg:backward(grads))
  return total
end

local now = nst.clock -- wall clock; os.clock() would add up both cores' CPU time

local function peak_rss_mib()
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^VmHWM:%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end

local last
for _ = 1, opts.warmup do last = step() end
last:item()
if opts.device == "cuda" then nst.cuda_reset_peak() end
local t0 = now()
for _ = 1, opts.iters do last = step() end
last:item() -- waits for the device
local dt = (now() - t0) / opts.iters
local peak
if opts.device == "cuda" then peak = nst.cuda_memory_stats().peak / 2 ^ 20 else peak = peak_rss_mib() end
local gflop = 4 * 278208 * S * S / 1e9
print(('{"impl": "nst", "device": "%s", "size": %d, "mode": "%s", "ms_per_iter": %.3f, "tflops": %.3f, "peak_mib": %d, "peak_kind": "%s"}')
  :format(opts.device, S, opts.device == "cuda" and opts.mode or "fp32", dt * 1e3, gflop / dt / 1e3, math.floor(peak + 0.5),
          opts.device == "cuda" and "device allocations" or "process RSS"))
