-- The VGG's channels-last chain code path (src/model/vgg_chain.c, used by the CUDA backend) run on
-- the CPU (nst.cpu_set_chain, src/cpu/cpu_chain.c) against the plain NCHW path: same taps,
-- same input gradients. Covers padded channels (3 -> 8), batches, odd sizes, both
-- poolings, taps at pools, a conv tap (the network then runs unchained), and gradients
-- arriving at layers that were run but not tapped.
local nst = require("nst")
local weights = require("helpers.weights")

local function rel(a, b) return ((a - b):abs():max() / b:abs():max()):item() end

describe("VGG channels-last chain (on the CPU)", function()
  local path
  setup(function() path = weights.vgg("vgg16", nil, {layers = 7}) end)
  teardown(function() nst.cpu_set_chain(false) end)

  local function run(vgg, chain, img, taps, extra)
    nst.cpu_set_chain(chain)
    local F = vgg:forward(img, taps)
    nst.manual_seed(99)
    local grads = {}
    for _, name in ipairs(taps) do grads[name] = nst.randn(F[name]:shape()) end
    for name, shape in pairs(extra or {}) do grads[name] = nst.randn(table.unpack(shape)) end
    local g = vgg:backward(grads)
    nst.cpu_set_chain(false)
    return F, g
  end

  for _, case in ipairs {
    {pooling = "max", taps = {"relu1_2", "relu2_2", "relu3_3"}, size = {1, 3, 40, 36}},
    {pooling = "avg", taps = {"relu1_1", "pool1", "relu3_1"}, size = {2, 3, 33, 30}},
    {pooling = "max", taps = {"pool2"}, size = {1, 3, 21, 19}},
    {pooling = "avg", taps = {"conv1_2", "relu2_1"}, size = {1, 3, 24, 24}}, -- conv tap: unchained
  } do
    it(case.pooling .. " pooling, taps " .. table.concat(case.taps, " "), function()
      local vgg = nst.vgg16 {weights = path, pooling = case.pooling}
      nst.manual_seed(3)
      local img = nst.rand(table.unpack(case.size))
      local F0, g0 = run(vgg, false, img, case.taps)
      local F1, g1 = run(vgg, true, img, case.taps)
      for _, name in ipairs(case.taps) do
        assert.are.same(F0[name]:shape(), F1[name]:shape())
        assert.is_true(rel(F1[name], F0[name]) <= 1e-6, name .. ": " .. rel(F1[name], F0[name]))
      end
      local err = rel(g1, g0)
      assert.is_true(err <= 1e-6, "input gradient: " .. err)
      assert.is_true(g0:abs():max():item() > 0)
    end)
  end

  it("takes gradients at layers that were run but not tapped (a conv, a pool)", function()
    local vgg = nst.vgg16 {weights = path, pooling = "max"}
    nst.manual_seed(4)
    local img = nst.rand(1, 3, 20, 22)
    local extra = {conv2_1 = {1, 128, 10, 11}, pool1 = {1, 64, 10, 11}, relu1_1 = {1, 64, 20, 22}}
    local _, g0 = run(vgg, false, img, {"relu2_2"}, extra)
    local _, g1 = run(vgg, true, img, {"relu2_2"}, extra)
    assert.is_true(rel(g1, g0) <= 1e-6, "input gradient: " .. rel(g1, g0))
  end)

  it("reports errors from inside the chain as on the plain path", function()
    local vgg = nst.vgg16 {weights = path}
    nst.cpu_set_chain(true)
    local ok, err = pcall(vgg.forward, vgg, nst.rand(1, 3, 1, 3), {"relu2_1"})
    nst.cpu_set_chain(false)
    assert.is_false(ok)
    assert.matches("input too small: pool1 gets 1x3", err)
    assert.has_error(function() nst.cpu_set_chain("yes") end)
  end)
end)
