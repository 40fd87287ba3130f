-- Timing marks (nst.profile_*) and the CUDA settings that work without a GPU.
local nst = require("nst")
local weights = require("helpers.weights")

describe("profile marks", function()
  it("times the work between marks and labels the VGG's layers", function()
    local vgg = nst.vgg16 {weights = weights.vgg("vgg16", nil, {layers = 4}), pooling = "avg"}
    local img = nst.rand(1, 3, 32, 32)
    nst.profile_start()
    nst.profile_mark("start")
    local F = vgg:forward(img, {"relu2_2"})
    nst.profile_mark("forward done")
    vgg:backward {relu2_2 = F.relu2_2}
    local marks = nst.profile_stop()
    local labels, total = {}, 0
    for _, m in ipairs(marks) do
      labels[#labels + 1] = m.label
      assert.are.equal("cpu", m.device)
      assert.is_true(m.ms >= 0)
      total = total + m.ms
    end
    assert.are.same({"start", "conv1_1+relu fwd", "conv1_2+relu fwd", "pool1 fwd", "conv2_1+relu fwd",
                     "conv2_2+relu fwd", "forward done", "conv2_2+relu bwd", "conv2_1+relu bwd",
                     "pool1 bwd", "conv1_2+relu bwd", "conv1_1+relu bwd"}, labels)
    assert.are.equal(0, marks[1].ms) -- the first mark of a device starts the clock
    assert.is_true(total > 0)
    assert.are.equal(0, marks.dropped)
  end)

  it("keeps at most capacity marks and counts the rest", function()
    nst.profile_start(2)
    for i = 1, 5 do nst.profile_mark("m" .. i) end
    local marks = nst.profile_stop()
    assert.are.equal(2, #marks)
    assert.are.equal(3, marks.dropped)
  end)

  it("is off unless started, and says so", function()
    nst.profile_mark("ignored") -- no-op when off
    assert.has_error(function() nst.profile_stop() end, "profile: not started (nst.profile_start)")
    assert.has_error(function() nst.profile_start(0) end)
    assert.has_error(function() nst.profile_start(1e7) end)
    assert.has_error(function() nst.profile_mark() end)
    nst.profile_start()
    assert.has_error(function() nst.profile_mark("x", "tpu") end)
    nst.profile_stop()
  end)
end)

describe("CUDA settings without a GPU", function()
  local built = false
  for _, b in ipairs(nst.backends()) do built = built or b == "cuda" end
  if not built then
    it("says nst was built without CUDA", function()
      assert.has_error(function() nst.cuda_set_conv_layout("nhwc") end)
    end)
    return
  end
  it("validates the conv layout", function()
    for _, l in ipairs {"nchw", "nhwc", "chain", "auto"} do
      nst.cuda_set_conv_layout(l)
      assert.are.equal(l, nst.cuda_get_conv_layout())
    end
    assert.has_error(function() nst.cuda_set_conv_layout("nhcw") end,
                     'conv layout: expected "auto", "nchw", "nhwc" or "chain", got "nhcw"')
    assert.are.equal("auto", nst.cuda_get_conv_layout())
    assert.is_table(nst.cuda_conv_plans())
  end)
end)
