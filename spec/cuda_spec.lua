-- CUDA backend against the CPU backend (ground truth), same random inputs on both.
-- Tagged #cuda: needs a GPU, so CI without one runs `busted --exclude-tags=cuda`.
-- Run on the GPU machine: `make && busted --lua=lua5.4 --tags=cuda`.
--
-- Tolerance: in fp32 mode every element must satisfy
--   |gpu - cpu| <= rtol * |cpu| + rtol * max|cpu|
-- (the second term absorbs elements that are sums cancelling to near zero).
local nst = require("nst")

local RTOL = 1e-4

-- Largest violation of the bound above; <= 0 means every element passes.
local function excess(got, ref, rtol)
  local g = got:cpu()
  assert.are.same(ref:shape(), g:shape())
  local scale = ref:abs():max():item()
  local over = g:sub(ref):abs():sub(ref:abs():mul(rtol)):max():item()
  return over - rtol * scale, scale
end

local function assert_close(got, ref, what, rtol)
  rtol = rtol or RTOL
  local over, scale = excess(got, ref, rtol)
  assert.is_true(over <= 0, string.format("%s: off by %.3g beyond rtol %g (max|ref| %.3g)",
                                          what, over, rtol, scale))
end

-- One-element results: bound relative to a magnitude the sum is made of (sum |x|).
local function assert_close_scalar(got, ref, mag, what, rtol)
  rtol = rtol or RTOL
  local g, r = got:item(), ref:item()
  assert.is_true(math.abs(g - r) <= rtol * (math.abs(r) + mag),
                 string.format("%s: cuda %.9g cpu %.9g (magnitude %.3g)", what, g, r, mag))
end

local function randn(...) return nst.randn(...) end

-- conv forward (bias, relu) and backward-data (plain and through a ReLU) in one layout;
-- odd channel counts exercise the channels-last padding (to multiples of 8)
local function check_convs(layout)
  nst.cuda_set_conv_layout(layout)
  for _, s in ipairs {{1, 3, 7, 5, 4}, {2, 16, 13, 17, 8}, {1, 64, 32, 32, 32}, {3, 5, 9, 40, 13}} do
    local n, c, h, w, k = s[1], s[2], s[3], s[4], s[5]
    local x, wt, b = randn(n, c, h, w), randn(k, c, 3, 3):mul(0.2), randn(k)
    local gx, gw, gb = x:cuda(), wt:cuda(), b:cuda()
    local tag = layout .. " " .. table.concat(s, "x")
    assert_close(nst.conv3x3(gx, gw), nst.conv3x3(x, wt), "conv " .. tag)
    assert_close(nst.conv3x3(gx, gw, gb), nst.conv3x3(x, wt, b), "conv+bias " .. tag)
    assert_close(nst.conv3x3(gx, gw, gb, true), nst.conv3x3(x, wt, b, true), "conv+bias+relu " .. tag)
    assert_close(nst.conv3x3(gx, gw, nil, true), nst.conv3x3(x, wt, nil, true), "conv+relu " .. tag)
    local dy = randn(n, k, h, w)
    assert_close(nst.conv3x3_backward(dy:cuda(), gw), nst.conv3x3_backward(dy, wt), "conv bwd " .. tag)
    local y = nst.conv3x3(x, wt, b, true)
    assert_close(nst.conv3x3_backward(dy:cuda(), gw, y:cuda()), nst.conv3x3_backward(dy, wt, y),
                 "conv+relu bwd " .. tag)
  end
  nst.cuda_set_conv_layout("auto")
end

-- VGG16 taps and input gradient, CUDA vs CPU, for {pooling, layout} cases
local function check_vgg(cases)
  local weights = require("helpers.weights")
  local path = weights.vgg("vgg16", nil, {layers = 4})
  local taps = {"relu1_2", "pool1", "relu2_2"}
  local img = nst.rand(1, 3, 40, 36)
  for _, case in ipairs(cases) do
    local pooling = case[1]
    nst.cuda_set_conv_layout(case[2])
    local cpu = nst.vgg16 {weights = path, pooling = pooling, device = "cpu"}
    local gpu = nst.vgg16 {weights = path, pooling = pooling, device = "cuda"}
    local F, GF = cpu:forward(img, taps), gpu:forward(img:cuda(), taps)
    local grads, ggrads = {}, {}
    for _, name in ipairs(taps) do
      assert_close(GF[name], F[name], pooling .. " " .. case[2] .. " " .. name, 1e-3)
      local d = randn(F[name]:shape())
      grads[name], ggrads[name] = d, d:cuda()
    end
    assert_close(gpu:backward(ggrads), cpu:backward(grads), pooling .. " " .. case[2] .. " input gradient", 1e-3)
  end
  nst.cuda_set_conv_layout("auto")
end

describe("cuda backend #cuda", function()
  setup(function()
    assert.is_truthy(nst.cuda_available, "core.cuda_available binding missing")
    assert.is_true(nst.cuda_available(), "no CUDA device")
    nst.cuda_set_precision("fp32")
    nst.manual_seed(1234)
  end)

  teardown(function()
    if nst.cuda_set_precision then nst.cuda_set_precision("tf32") end
    if nst.cuda_set_conv_layout then nst.cuda_set_conv_layout("auto") end
  end)

  it("round-trips data and reports the device", function()
    local x = randn(3, 5, 7)
    local y = x:cuda()
    assert.are.equal("cuda", y:device())
    assert_close(y:cpu(), x, "upload/download", 0)
    assert_close(x:to("cuda"):clone():cpu(), x, "device copy", 0)
    assert.is_string(nst.cuda_device_name())
  end)

  it("fills", function()
    local t = nst.full({4, 1000}, 2.5, {device = "cuda"})
    assert_close(t, nst.full({4, 1000}, 2.5), "full", 0)
    t:fill(-1)
    assert_close(t, nst.full({4, 1000}, -1), "fill", 0)
  end)

  it("binary ops, with tensors, device scalars and numbers", function()
    local a, b = randn(3, 333), randn(3, 333):abs():add(0.5)
    local s = nst.tensor(1.75)
    local ga, gb, gs = a:cuda(), b:cuda(), s:cuda()
    for _, op in ipairs {"add", "sub", "mul", "div", "maximum", "minimum"} do
      assert_close(ga[op](ga, gb), a[op](a, b), op)
      assert_close(ga[op](ga, gs), a[op](a, s), op .. " tensor-scalar")
      assert_close(gs[op](gs, gb), s[op](s, b), op .. " scalar-tensor")
      assert_close(ga[op](ga, 0.3), a[op](a, 0.3), op .. " number")
    end
    assert_close(3 - ga, 3 - a, "reversed number")
    assert_close(ga:clone():add_(gb, -0.5), a:clone():add_(b, -0.5), "axpy")
  end)

  it("unary ops and clamp", function()
    local a = randn(7, 131)
    local pos = a:abs():add(1e-3)
    local ga, gp = a:cuda(), pos:cuda()
    for _, op in ipairs {"neg", "abs", "exp", "square", "sign"} do
      assert_close(ga[op](ga), a[op](a), op)
    end
    assert_close(gp:sqrt(), pos:sqrt(), "sqrt")
    assert_close(gp:log(), pos:log(), "log")
    assert_close(ga:clamp(-0.5, 0.25), a:clamp(-0.5, 0.25), "clamp")
    assert_close(nst.relu(ga), nst.relu(a), "relu")
    local dy = randn(7, 131)
    assert_close(nst.relu_backward(dy:cuda(), nst.relu(ga)), nst.relu_backward(dy, nst.relu(a)),
                 "relu backward")
  end)

  it("reductions and dot, small and large", function()
    for _, n in ipairs {1, 37, 4096, 1000003} do
      local a, b = randn(n), randn(n)
      local ga, gb = a:cuda(), b:cuda()
      local mag = a:abs():sum():item()
      assert_close_scalar(ga:sum(), a:sum(), mag, "sum " .. n)
      assert_close_scalar(ga:mean(), a:mean(), mag / n, "mean " .. n)
      assert_close_scalar(ga:sumsq(), a:sumsq(), 0, "sumsq " .. n)
      assert.are.equal(a:min():item(), ga:min():item())
      assert.are.equal(a:max():item(), ga:max():item())
      assert_close_scalar(ga:dot(gb), a:dot(b), a:mul(b):abs():sum():item(), "dot " .. n)
    end
  end)

  it("matmul with every transpose combination", function()
    local m, k, n = 37, 53, 29
    local a, at = randn(m, k), randn(k, m)
    local b, bt = randn(k, n), randn(n, k)
    for _, c in ipairs {{a, b, false, false}, {at, b, true, false}, {a, bt, false, true},
                        {at, bt, true, true}} do
      local ref = nst.matmul(c[1], c[2], c[3], c[4])
      local got = nst.matmul(c[1]:cuda(), c[2]:cuda(), c[3], c[4])
      assert_close(got, ref, string.format("matmul ta=%s tb=%s", c[3], c[4]))
    end
  end)

  it("gram matrices, batched and scaled", function()
    local f = randn(2, 16, 9, 11)
    assert_close(nst.gram(f:cuda(), 0.125), nst.gram(f, 0.125), "gram (N,C,H,W)")
    local f3 = randn(64, 7, 5)
    assert_close(nst.gram(f3:cuda()), nst.gram(f3), "gram (C,H,W)")
  end)

  it("3x3 convolution forward (bias, relu) and backward-data (plain and through a ReLU), NCHW", function()
    check_convs("nchw")
  end)

  it("pooling forward and backward, odd sizes included", function()
    for _, s in ipairs {{1, 3, 8, 8}, {2, 5, 7, 9}, {1, 2, 3, 2}, {1, 1, 65, 33}} do
      local x = randn(s[1], s[2], s[3], s[4])
      local gx = x:cuda()
      for _, mode in ipairs {"max", "avg"} do
        local tag = mode .. " " .. table.concat(s, "x")
        local y = nst.pool(x, mode)
        assert_close(nst.pool(gx, mode), y, "pool " .. tag)
        local dy = randn(y:shape())
        assert_close(nst.pool_backward(dy:cuda(), gx, mode), nst.pool_backward(dy, x, mode),
                     "pool backward " .. tag)
      end
    end
    -- Ties: the gradient goes to the first maximum in row-major order, on both devices.
    local tie = nst.tensor({{{{1, 1}, {1, 1}}}})
    local g = nst.pool_backward(nst.ones(1, 1, 1, 1, {device = "cuda"}), tie:cuda(), "max")
    assert.are.same({{{{1, 0}, {0, 0}}}}, g:totable())
  end)

  it("channel_affine, including a permutation in place of RGB->BGR", function()
    local x = randn(2, 3, 5, 7)
    local perm, scale, shift = {3, 1, 2}, {0.5, 2, -1}, {0.1, -0.2, 0.3}
    assert_close(nst.channel_affine(x:cuda(), perm, scale, shift),
                 nst.channel_affine(x, perm, scale, shift), "channel_affine")
  end)

  it("fused Adam over several steps", function()
    local n = 10007
    local x, m, v = randn(n), nst.zeros(n), nst.zeros(n)
    local gx, gm, gv = x:cuda(), m:cuda(), v:cuda()
    for t = 1, 5 do
      local g = randn(n)
      nst.adam_step(x, g, m, v, 0.1, 0.9, 0.999, 1e-8, t)
      nst.adam_step(gx, g:cuda(), gm, gv, 0.1, 0.9, 0.999, 1e-8, t)
    end
    assert_close(gx, x, "adam x")
    assert_close(gm, m, "adam m")
    assert_close(gv, v, "adam v")
    -- the step count kept on the device (graph-safe form), from step 6 on
    local steps, gsteps = nst.full({1}, 5), nst.full({1}, 5, {device = "cuda"})
    for _ = 1, 3 do
      local g = randn(n)
      nst.adam_step(x, g, m, v, 0.1, 0.9, 0.999, 1e-8, steps)
      nst.adam_step(gx, g:cuda(), gm, gv, 0.1, 0.9, 0.999, 1e-8, gsteps)
    end
    assert.are.equal(8, gsteps:item())
    assert_close(gx, x, "counted adam x")
  end)

  it("losses: mse, tv (squared and l1), style", function()
    local f, p = randn(1, 8, 13, 11), randn(1, 8, 13, 11)
    local l, g = nst.mse_loss(f, p, 0.7)
    local gl, gg = nst.mse_loss(f:cuda(), p:cuda(), 0.7)
    assert_close_scalar(gl, l, 0, "mse loss")
    assert_close(gg, g, "mse grad")
    local x = randn(2, 3, 9, 14)
    for _, kind in ipairs {"squared", "l1"} do
      local tl, tg = nst.tv_loss(x, kind, 0.3)
      local ctl, ctg = nst.tv_loss(x:cuda(), kind, 0.3)
      assert_close_scalar(ctl, tl, 0, "tv loss " .. kind)
      assert_close(ctg, tg, "tv grad " .. kind)
    end
    local A = nst.gram(randn(1, 8, 13, 11))
    local sl, sg = nst.style_loss(f, A, 2)
    local csl, csg = nst.style_loss(f:cuda(), A:cuda(), 2)
    assert_close_scalar(csl, sl, 0, "style loss", 1e-3)
    assert_close(csg, sg, "style grad", 1e-3)
  end)

  it("VGG16 forward taps and input gradient match the CPU", function()
    check_vgg {{"max", "nchw"}, {"avg", "nchw"}}
  end)

  it("tf32 and bf16 modes stay close to fp32 (NCHW)", function()
    local LAYOUTS = {"nchw"}
    local x, wt = randn(1, 32, 24, 24), randn(16, 32, 3, 3):mul(0.1)
    local ref = nst.conv3x3(x, wt)
    local dy = randn(1, 16, 24, 24)
    local dref = nst.conv3x3_backward(dy, wt)
    for mode, rtol in pairs {tf32 = 5e-3, bf16 = 3e-2} do
      nst.cuda_set_precision(mode)
      for _, layout in ipairs(LAYOUTS) do
        nst.cuda_set_conv_layout(layout)
        assert_close(nst.conv3x3(x:cuda(), wt:cuda()), ref, mode .. " " .. layout .. " conv", rtol)
        assert_close(nst.conv3x3_backward(dy:cuda(), wt:cuda()), dref, mode .. " " .. layout .. " conv bwd", rtol)
      end
      nst.cuda_set_conv_layout("auto")
      local a, b = randn(64, 96), randn(96, 48)
      assert_close(nst.matmul(a:cuda(), b:cuda()), nst.matmul(a, b), mode .. " matmul", rtol)
    end
    nst.cuda_set_precision("fp32")
    assert.has_error(function() nst.cuda_set_precision("fp8") end)
  end)

  it("stops calling cudaMalloc once shapes repeat (caching allocator)", function()
    local x, wt = randn(1, 16, 32, 32):cuda(), randn(16, 16, 3, 3):cuda()
    local function iteration()
      local y = nst.conv3x3(x, wt, nil, true)
      local l, g = nst.mse_loss(y, y:mul(0.5))
      local dx = nst.conv3x3_backward(g, wt)
      return l:item() + dx:sum():item()
    end
    iteration()
    collectgarbage()
    collectgarbage()
    local before = nst.cuda_memory_stats()
    for _ = 1, 3 do
      iteration()
      collectgarbage()
      collectgarbage()
    end
    local after = nst.cuda_memory_stats()
    assert.are.equal(before.reserved, after.reserved)
    assert.is_true(after.peak >= after.in_use)
    nst.cuda_reset_peak()
    assert.are.equal(nst.cuda_memory_stats().in_use, nst.cuda_memory_stats().peak)
  end)

  it("reports out-of-memory as an error, not a crash", function()
    local ok, err = pcall(nst.zeros, {1, 1, 1}, {device = "cuda"})
    assert.is_true(ok, err)
    local saved = nst.limits().max_tensor_bytes
    nst.set_limits {max_tensor_bytes = 1 << 50}
    -- 2^47 bytes (128 TiB): more than any GPU has.
    ok, err = pcall(nst.zeros, {1 << 15, 1 << 15, 1 << 15}, {device = "cuda"})
    nst.set_limits {max_tensor_bytes = saved}
    assert.is_false(ok)
    assert.matches("out of memory", tostring(err))
  end)
end)

-- For the describe blocks below: fp32 and a seed first, the defaults back after.
local function fp32_setup(seed)
  return function()
    assert.is_true(nst.cuda_available(), "no CUDA device")
    nst.cuda_set_precision("fp32")
    nst.manual_seed(seed)
  end
end

local function restore_defaults()
  nst.cuda_set_precision("tf32")
  nst.cuda_set_conv_layout("auto")
end

-- Channels-last convolutions and the chain, tagged apart so that a device fault there
-- (sticky for the process) cannot hide the results above: the GPU checks run
-- `--tags=cuda --exclude-tags=nhwc,chain`, then `--tags=nhwc`, then `--tags=chain`.
describe("cuda channels-last convolutions #cuda #nhwc", function()
  setup(fp32_setup(4321))
  teardown(restore_defaults)

  it("3x3 convolution forward and backward-data, NHWC", function() check_convs("nhwc") end)

  it("VGG16 with NHWC convolutions matches the CPU", function() check_vgg {{"max", "nhwc"}} end)

  it("tf32 and bf16 NHWC convolutions stay close to fp32", function()
    local x, wt = randn(1, 32, 24, 24), randn(16, 32, 3, 3):mul(0.1)
    local ref, dy = nst.conv3x3(x, wt), randn(1, 16, 24, 24)
    local dref = nst.conv3x3_backward(dy, wt)
    nst.cuda_set_conv_layout("nhwc")
    for mode, rtol in pairs {tf32 = 5e-3, bf16 = 3e-2} do
      nst.cuda_set_precision(mode)
      assert_close(nst.conv3x3(x:cuda(), wt:cuda()), ref, mode .. " nhwc conv", rtol)
      assert_close(nst.conv3x3_backward(dy:cuda(), wt:cuda()), dref, mode .. " nhwc conv bwd", rtol)
    end
    nst.cuda_set_precision("fp32")
    nst.cuda_set_conv_layout("auto")
  end)
end)

-- The chain: activations stay channels-last (NHWC, padded channels) between layers.
describe("cuda channels-last chain #cuda #chain", function()
  setup(fp32_setup(4321))
  teardown(restore_defaults)

  it("VGG16 chained matches the CPU (fp32, both poolings)", function()
    check_vgg {{"max", "chain"}, {"avg", "chain"}}
  end)

  it("VGG16 channels-last chain: conv taps, gradients at untapped layers, bf16", function()
    local weights = require("helpers.weights")
    local path = weights.vgg("vgg16", nil, {layers = 4})
    local img = nst.rand(2, 3, 33, 30) -- a batch of 2, odd sizes (pool drops a row)
    local cpu = nst.vgg16 {weights = path, pooling = "max", device = "cpu"}
    local gpu = nst.vgg16 {weights = path, pooling = "max", device = "cuda"}
    nst.cuda_set_conv_layout("chain")
    -- forward taps compared within rtol; random gradients at the taps (and at `extra`,
    -- a layer that was run but not tapped) compared at the input within grad_rtol
    local function compare(taps, rtol, grad_rtol, extra)
      local F, GF = cpu:forward(img, taps), gpu:forward(img:cuda(), taps)
      local grads, ggrads = {}, {}
      for _, name in ipairs(taps) do
        assert_close(GF[name], F[name], nst.cuda_get_precision() .. " chain " .. name, rtol)
        local d = randn(F[name]:shape())
        grads[name], ggrads[name] = d, d:cuda()
      end
      if extra then
        local d = randn(table.unpack(extra[2]))
        grads[extra[1]], ggrads[extra[1]] = d, d:cuda()
      end
      assert_close(gpu:backward(ggrads), cpu:backward(grads),
                   nst.cuda_get_precision() .. " chain gradient, taps " .. table.concat(taps, " "), grad_rtol)
    end
    -- a conv output as a tap: the network runs unchained; then chained again; conv2_1
    -- (before relu2_1) gets a gradient without being a tap
    local shape = cpu:forward(img, {"relu2_1"}).relu2_1:shape()
    compare({"conv1_2", "relu2_1"}, 1e-3, 1e-3, {"conv2_1", shape})
    compare({"relu1_1", "relu2_1"}, 1e-3, 1e-3, {"conv2_1", shape})
    -- bf16 storage of activations and gradients: about 8 bits of mantissa per layer
    nst.cuda_set_precision("bf16")
    compare({"relu1_2", "relu2_2"}, 3e-2, 1e-1)
    nst.cuda_set_precision("fp32")
    nst.cuda_set_conv_layout("auto")
  end)
end)

-- CUDA graphs (nst.cuda_graph): tagged apart too.
describe("cuda graphs #cuda #graph", function()
  setup(fp32_setup(777))
  teardown(restore_defaults)

  it("replays an Adam iteration as the eager loop runs it", function()
    local x0, w, target = randn(1, 8, 12, 12), randn(8, 8, 3, 3):mul(0.2), randn(1, 8, 12, 12)
    local function make()
      local x, adam = x0:cuda(), nst.optim.adam {lr = 0.05}
      local gw, gt = w:cuda(), target:cuda()
      local function step()
        local y = nst.conv3x3(x, gw, nil, true)
        local loss, g = nst.mse_loss(y, gt)
        adam:step(x, nst.conv3x3_backward(g, gw, y))
        return loss
      end
      return x, step
    end
    local xe, step_e = make()
    for _ = 1, 6 do step_e() end
    local xg, step_g = make()
    step_g() -- eager once: plans exist, Adam's state is allocated
    local graph, loss = nst.cuda_graph(step_g)
    for _ = 1, 5 do graph:replay() end
    assert_close(xg, xe:cpu(), "x after 1 eager + 5 replayed steps", 1e-5)
    assert.is_true(loss:item() > 0)
    graph:close()
    graph:close() -- harmless
    assert.has_error(function() graph:replay() end, "cuda graph is closed")
  end)

  it("refuses what cannot be captured, with a message, and stays usable", function()
    local x = randn(64):cuda()
    local ok, err = pcall(nst.cuda_graph, function() return x:sum():item() end)
    assert.is_false(ok)
    assert.matches("reading device memory while a CUDA graph is being captured", err)
    ok, err = pcall(nst.cuda_graph, function() return nst.randn(3):cuda() end)
    assert.matches("copying from the host", err)
    local xi, wi = randn(1, 8, 5, 7):cuda(), randn(8, 8, 3, 3):cuda() -- a shape without a plan
    ok, err = pcall(nst.cuda_graph, function() return nst.conv3x3(xi, wi) end)
    assert.is_false(ok)
    assert.matches("no cuDNN plan yet", err)
    -- the device still works after abandoned captures
    assert.is_true(math.abs(x:sum():item() - x:cpu():sum():item()) < 1e-3)
    ok, err = pcall(nst.cuda_graph, function() error("boom") end)
    assert.matches("boom", err)
  end)
end)
