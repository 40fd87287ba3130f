-- CPU baseline: GFLOP/s of the 3x3 convolution (forward and input gradient) and of
-- sgemm, next to PyTorch's on the same machine when /usr/bin/python3 has torch.
--   lua5.4 examples/benchmark_cpu.lua [iterations] [--no-torch]
-- Threads: OMP_NUM_THREADS (nst) and torch.set_num_threads (same count) — default 2.
-- A benchmark, not a test: it prints, it asserts nothing.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("NST_BUILD") or "build") .. "/?.so;" .. package.cpath
local nst = require("nst")

local iters, with_torch = 5, true
for _, a in ipairs(arg) do
  if a == "--no-torch" then with_torch = false else iters = tonumber(a) or iters end
end
local threads = tonumber(os.getenv("OMP_NUM_THREADS") or "2")

-- Wall clock (monotonic).
local now = nst.clock

-- Best of `iters` runs after one warm-up, in seconds.
local function best(f)
  f()
  local t = math.huge
  for _ = 1, iters do
    local t0 = now()
    f()
    t = math.min(t, now() - t0)
  end
  return t
end

local convs = { -- c, k, size: the 64-channel case of the brief, then VGG16's shapes at 256x256
  {64, 64, 256}, {3, 64, 256}, {64, 128, 128}, {128, 128, 128}, {128, 256, 64},
  {256, 256, 64}, {256, 512, 32}, {512, 512, 32}, {512, 512, 16},
}

local function torch_figures()
  local py = {"import torch, time", "torch.set_num_threads(" .. threads .. ")",
    "F = torch.nn.functional",
    "def best(f):\n    f()\n    t = 1e9\n    for _ in range(" .. iters .. "):\n" ..
    "        t0 = time.time(); f(); t = min(t, time.time() - t0)\n    return t"}
  for _, s in ipairs(convs) do
    local c, k, n = s[1], s[2], s[3]
    py[#py + 1] = string.format([[
x = torch.randn(1, %d, %d, %d, requires_grad=True); w = torch.randn(%d, %d, 3, 3); b = torch.randn(%d)
with torch.no_grad(): tf = best(lambda: F.conv2d(x, w, b, padding=1).relu_())
y = F.conv2d(x, w, b, padding=1); g = torch.randn_like(y)
tb = best(lambda: torch.autograd.grad(y, x, g, retain_graph=True))
print(tf, tb)]], c, n, n, k, c, k)
  end
  py[#py + 1] = "a = torch.randn(1024, 1024); bb = torch.randn(1024, 1024)\nprint(best(lambda: a @ bb))"
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(table.concat(py, "\n"), "\n")
  f:close()
  local p = io.popen("/usr/bin/python3 " .. path .. " 2>/dev/null")
  local out = p:read("a")
  p:close()
  os.remove(path)
  local res = {}
  for line in out:gmatch("[^\n]+") do
    local vals = {}
    for v in line:gmatch("%S+") do vals[#vals + 1] = tonumber(v) end
    res[#res + 1] = vals
  end
  return #res == #convs + 1 and res or nil
end

local peer = with_torch and torch_figures() or nil
print(string.format("nst CPU benchmark, %d thread(s), best of %d%s", threads, iters,
                    peer and "; ratio = PyTorch time / nst time" or ""))
local tot_nst, tot_torch = 0, 0
for i, s in ipairs(convs) do
  local c, k, n = s[1], s[2], s[3]
  nst.manual_seed(1)
  local x, w, b = nst.randn(1, c, n, n), nst.randn(k, c, 3, 3), nst.randn(k)
  local dy = nst.randn(1, k, n, n)
  local flops = 2 * k * c * 9 * n * n
  local tf = best(function() nst.conv3x3(x, w, b, true) end)
  local tb = best(function() nst.conv3x3_backward(dy, w) end)
  local line = string.format("conv3x3 %3d->%3d %3dx%-3d  fwd %7.2f ms %6.1f GFLOP/s   bwd-data %7.2f ms %6.1f GFLOP/s",
                             c, k, n, n, tf * 1e3, flops / tf / 1e9, tb * 1e3, flops / tb / 1e9)
  tot_nst = tot_nst + tf + tb
  if peer then
    local pf, pb = peer[i][1], peer[i][2]
    tot_torch = tot_torch + pf + pb
    line = line .. string.format("   torch %6.1f / %6.1f GFLOP/s  ratio %.2f / %.2f",
                                 flops / pf / 1e9, flops / pb / 1e9, pf / tf, pb / tb)
  end
  print(line)
end
if peer then
  print(string.format("all convolutions above: nst %.1f ms, torch %.1f ms, ratio %.2f",
                      tot_nst * 1e3, tot_torch * 1e3, tot_torch / tot_nst))
end
local a, bm = nst.randn(1024, 1024), nst.randn(1024, 1024)
local tg = best(function() nst.matmul(a, bm) end)
local line = string.format("sgemm 1024^3  %7.2f ms %6.1f GFLOP/s", tg * 1e3, 2 * 1024 ^ 3 / tg / 1e9)
if peer then
  local pg = peer[#peer][1]
  line = line .. string.format("   torch %6.1f GFLOP/s  ratio %.2f", 2 * 1024 ^ 3 / pg / 1e9, pg / tg)
end
print(line)
local f = nst.randn(1, 64, 256, 256)
local tgr = best(function() nst.gram(f) end)
print(string.format("gram 64x65536 %7.2f ms %6.1f GFLOP/s (as F F^T, 2*C*C*M)", tgr * 1e3,
                    2 * 64 * 64 * 65536 / tgr / 1e9))
