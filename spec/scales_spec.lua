-- Coarse-to-fine runs: the schedule (nst.scales), the targets at each scale, Adam's
-- moments carried over, the average of the iterates (nst.ema) with its bias correction,
-- a resumed multi-scale run, textures at W x H. A tiny random VGG16 (4 convolutions) on
-- the CPU.
local nst = require("nst")
local scales = require("nst.scales")
local options = require("nst.transfer_options")
local transfer = require("nst.transfer")
local objective = require("nst.objective")
local carry = require("nst.transfer_scales")
local weights = require("helpers.weights")
local files = require("helpers.files")
local errmsg = require("helpers.expect").error

local net
local function base(extra)
  net = net or nst.vgg16{weights = weights.vgg("vgg16", nil, {layers = 4}), pooling = "avg"}
  local o = {net = net, content_image = "examples/images/leuven.jpg", style_images = {"examples/images/starry_night.jpg"},
             content_layers = {"relu2_2"}, style_layers = {"relu1_2", "relu2_2"}, print_iter = 0, learning_rate = 5,
             handle_signals = false}
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local function max_abs(a, b) return (a - b):abs():max():item() end

describe("nst.scales", function()
  it("auto: 2x steps from about 128 px up to image_size", function()
    assert.are.same({96, 192, 384}, scales.auto(384))
    assert.are.same({96, 192, 384, 768}, scales.auto(768))
    assert.are.same({128, 256, 512}, scales.auto(512))
    assert.are.same({128}, scales.auto(128))
    assert.are.same({180}, scales.auto(180))
    assert.are.same({91, 182}, scales.auto(182))
    assert.are.same({100}, scales.auto(100))
    assert.are.same({128, 256, 512, 1024, 2048}, scales.auto(2048))
  end)

  it("numbers the iterations across scales; one count for each scale or a list", function()
    local o = options.check(base{image_size = 64, scales = {16, 32, 64}, num_iterations = {3, 2, 4}})
    assert.are.equal(9, o.num_iterations)
    assert.are.equal(64, o.image_size)
    local firsts, lasts, sizes = {}, {}, {}
    for k, e in ipairs(o.schedule) do firsts[k], lasts[k], sizes[k] = e.first, e.last, e.size end
    assert.are.same({1, 4, 6}, firsts)
    assert.are.same({3, 5, 9}, lasts)
    assert.are.same({16, 32, 64}, sizes)
    o = options.check(base{image_size = 384, scales = "auto", num_iterations = 7})
    assert.are.equal(21, o.num_iterations)
    assert.are.equal(2, scales.scale_of(o.schedule, 8))
    assert.are.equal(3, scales.scale_of(o.schedule, 15))
    assert.are.equal(1, scales.scale_of(o.schedule, 7))
    -- the work of the ETA: an iteration at 96 px costs 1/16 of one at 384
    assert.are.equal(7 / 16 + 7 / 4 + 1, scales.work(o.schedule, 15))
    o = options.check(base{scales = {16, 32}, num_iterations = 2})
    assert.are.equal(32, o.image_size) -- the last scale is the output's size
    assert.is_nil(scales.definition(options.check(base{num_iterations = 2, image_size = 64}).schedule))
    assert.are.equal(3, #options.check(base{num_iterations = 2}).schedule) -- 512 px: coarse to fine by default
    assert.are.equal(1, #options.check(base{num_iterations = 2, image_size = 383}).schedule)
    assert.are.equal("16:3,32", scales.definition(options.check(base{scales = {16, 32}, num_iterations = {3, 5}}).schedule))
  end)

  it("refuses bad schedules with messages naming the option", function()
    local function err(extra) return errmsg(options.check, base(extra)) end
    assert.are.equal("nst.transfer: scales must increase, smallest first: scales[2] = 16 follows 32",
                     err{scales = {32, 16}})
    assert.are.equal("nst.transfer: the last of scales (64) is the output's size, but image_size is 128",
                     err{scales = {32, 64}, image_size = 128})
    assert.are.equal("nst.transfer: num_iterations has 2 entries for 3 scales (16,32,64)",
                     err{scales = {16, 32, 64}, num_iterations = {1, 2}})
    assert.are.equal("nst.transfer: scales must be \"auto\" or a list of sizes in pixels, smallest first, got big",
                     err{scales = "big"})
    assert.are.equal("nst.transfer: scales[1] must be an integer >= 1, got 0", err{scales = {0, 8}})
    assert.are.equal("nst.transfer: num_iterations[2] must be an integer >= 0, got -1",
                     err{scales = {16, 32}, num_iterations = {1, -1}})
    assert.are.equal("nst.transfer: ema must be a number in [0, 1), got 1", err{ema = 1})
    assert.are.equal("nst.transfer: scales: a run with temporal_weight > 0 has one scale (its warped frame is at "
                     .. "the output's size)", err{scales = {16, 32}, temporal_weight = 1})
    assert.are.equal("nst.transfer: scales = \"auto\" needs image_size (the last scale)",
                     err{scales = "auto", image_size = false})
    assert.are.equal("nst.transfer: color must be \"luminance\" or \"match\", got grey", err{color = "grey"})
    assert.are.equal("nst.transfer: image_size 40x20 (W x H) is for textures: it needs no content_image or "
                     .. "content_weight = 0", err{image_size = "40x20"})
    assert.are.equal("nst.transfer: image_size must be a size in pixels or \"WxH\", got 40x", err{image_size = "40x"})
  end)
end)

describe("a coarse-to-fine run", function()
  it("has at each scale the targets of a one-scale run at that size (style at style_scale x size)", function()
    local o = options.check(base{scales = {16, 40}, num_iterations = 1, style_scale = 0.75})
    local run = transfer.new_run(o)
    nst.manual_seed(4)
    local x = nst.rand(1, 3, 12, 16)
    for k, size in ipairs{16, 40} do
      if k > 1 then transfer.at_scale(run, k) end
      local one = transfer.new_run(options.check(base{image_size = size, num_iterations = 1, style_scale = 0.75}))
      assert.are.same(one.content:shape(), run.content:shape())
      assert.are.equal(0, max_abs(one.content, run.content))
      local xs = nst.image.resize(x, {one.content:shape()[3], one.content:shape()[4]})
      local f1, g1 = objective.evaluate(run.objective, net, xs, o)
      local f2, g2 = objective.evaluate(one.objective, net, xs, o)
      assert.are.equal(f2:item(), f1:item())
      assert.are.equal(0, max_abs(g1, g2))
      -- and not the targets of the other size
      if k == 2 then
        local other = transfer.new_run(options.check(base{image_size = 16, num_iterations = 1, style_scale = 0.75}))
        local _, _, p = objective.evaluate(other.objective, net, nst.image.resize(xs, 16), o)
        local _, _, q = objective.evaluate(run.objective, net, xs, o)
        assert.is_true(math.abs(p.style.relu1_2:item() - q.style.relu1_2:item()) > 1e-6 * q.style.relu1_2:item())
      end
    end
  end)

  it("carries Adam's moments over, resized and scaled by the pixel ratio, its step count kept", function()
    local o = options.check(base{scales = {16, 32}, num_iterations = 3})
    local run = transfer.new_run(o)
    require("nst.transfer_loops").adam(run, 3)
    local m, v, t = run.adam.m:clone(), run.adam.v:clone(), run.adam.t
    local s0 = m:shape()
    transfer.at_scale(run, 2)
    local s = run.content:shape()
    carry.carry(run, s[3], s[4])
    local r = (s[3] * s[4]) / (s0[3] * s0[4])
    assert.is_true(r > 3.5 and r < 4.5)
    assert.are.same(s, run.adam.m:shape())
    assert.is_true(max_abs(run.adam.m, nst.image.resize(m, {s[3], s[4]}) / r) < 1e-12 + 1e-6 * m:abs():max():item())
    assert.is_true(max_abs(run.adam.v, nst.image.resize(v, {s[3], s[4]}) / (r * r)) < 1e-6 * v:max():item())
    assert.are.equal(t, run.adam.t)
    assert.are.equal(3, run.adam.steps:item())
    assert.are.same(s, run.image:shape())
    assert.is_nil(run.lbfgs)
  end)

  it("runs every scale in turn: image sizes, rows with their scale, the CSV's scale column", function()
    local dir = files.tmpdir()
    local shapes = {}
    local img, h = nst.transfer(base{scales = {16, 32}, num_iterations = {2, 3}, output = dir .. "/o.png", plots = true,
      on_iter = function(it, x) shapes[it] = x:shape()[4] end})
    assert.are.same({16, 16, 32, 32, 32}, shapes)
    assert.are.equal(5, #h)
    assert.are.same({1, 1, 2, 2, 2}, {h[1].scale, h[2].scale, h[3].scale, h[4].scale, h[5].scale})
    assert.are.equal(32, img:shape()[4])
    local csv = files.read(dir .. "/o.csv")
    assert.truthy(csv:match("^iteration,scale,content,"), csv)
    assert.truthy(csv:match("\n3,2,"), csv)
    files.rm_rf(dir)
  end)

  it("L-BFGS restarts its history at each scale", function()
    local sizes = {}
    local _, h = nst.transfer(base{scales = {16, 32}, num_iterations = 3, optimizer = "lbfgs", init = "noise", seed = 2,
      on_iter = function(it) sizes[it] = true end})
    assert.are.equal(6, #h)
    assert.is_true(h[6].total < h[4].total)
  end)
end)

describe("ema", function()
  -- x̄_t = Σ (1 − β) β^{t−i} x_i / (1 − β^t), computed from the iterates the run shows
  it("outputs the bias-corrected moving average of the iterates", function()
    local b = 0.6
    local xs = {}
    local img = nst.transfer(base{image_size = 24, num_iterations = 5, ema = b, learning_rate = 20,
      on_iter = function(it, x) xs[it] = x:clone() end})
    local acc = nst.zeros(xs[1]:shape())
    for i = 1, 5 do acc = acc + xs[i] * ((1 - b) * b ^ (5 - i)) end
    local want = (acc / (1 - b ^ 5)):clamp(0, 1)
    assert.is_true(max_abs(img, want) < 1e-6)
    -- the plain last iterate differs (the average is what is returned)
    assert.is_true(max_abs(img, xs[5]:clamp(0, 1)) > 1e-3)
    -- without the correction the image would be (1 − β^5) times as bright
    assert.is_true(max_abs(img, (acc):clamp(0, 1)) > 1e-2)
  end)

  it("carries the accumulator across scales, resized, and keeps counting", function()
    local b = 0.5
    local xs = {}
    local img = nst.transfer(base{scales = {16, 32}, num_iterations = {2, 2}, ema = b, learning_rate = 20,
      on_iter = function(it, x) xs[it] = x:clone() end})
    local a = nst.zeros(xs[1]:shape())
    for i = 1, 4 do
      if i == 3 then local s = xs[3]:shape(); a = nst.image.resize(a, {s[3], s[4]}) end
      a = a * b + xs[i] * (1 - b)
    end
    assert.is_true(max_abs(img, (a / (1 - b ^ 4)):clamp(0, 1)) < 1e-6)
  end)
end)

describe("resume of a coarse-to-fine run", function()
  -- stopped by an error from on_iter after the checkpoint of iteration `at`, then resumed
  local function stopped_then_resumed(at, save_iter)
    local a, b = files.tmpdir(), files.tmpdir()
    local opts = {scales = {16, 32}, num_iterations = {6, 6}, save_iter = save_iter, seed = 1, ema = 0.8}
    local function with(extra)
      local o = base(opts)
      for k, v in pairs(extra) do o[k] = v end
      return o
    end
    nst.transfer(with{output = a .. "/out.png", plots = true})
    local ok, err = pcall(nst.transfer, with{output = b .. "/out.png", plots = true,
      on_iter = function(it) if it == at then error("stop here", 0) end end})
    assert.is_false(ok)
    assert.are.equal("stop here", err)
    local st = require("nst.run_state").read(b .. "/out.state.safetensors")
    assert.are.equal(at, st.doc.iteration)
    local scale_at = at <= 6 and 1 or 2
    assert.are.equal(scale_at, st.doc.scale)
    local its = {}
    nst.transfer(with{output = b .. "/out.png", plots = true, resume = true,
                      on_iter = function(it, x) its[#its + 1] = {it, x:shape()[4]} end})
    assert.are.same({at + 1, 32}, its[1])
    assert.are.equal(12 - at, #its)
    assert.are.equal(files.read(a .. "/out.png"), files.read(b .. "/out.png"))
    assert.are.equal(files.read(a .. "/out.csv"), files.read(b .. "/out.csv"))
    os.execute("rm -rf '" .. a .. "' '" .. b .. "'")
  end

  it("continues at the second scale from a state saved there, to the same bytes", function()
    stopped_then_resumed(8, 4)
  end)

  it("moves on to the next scale from a state saved at the end of one", function()
    stopped_then_resumed(6, 3)
  end)

  it("refuses a state of another schedule, naming it", function()
    local dir = files.tmpdir()
    nst.transfer(base{scales = {16, 32}, num_iterations = {2, 2}, output = dir .. "/out.png"})
    local ok, err = pcall(nst.transfer, base{scales = {16, 32}, num_iterations = {3, 2}, output = dir .. "/out.png",
                                             resume = true})
    assert.is_false(ok)
    assert.truthy(err:find("scales: the state has 16:2,32, this run 16:3,32", 1, true), err)
    files.rm_rf(dir)
  end)
end)

describe("a texture at W x H", function()
  it("needs no content image and has the size asked for, at every scale", function()
    local shapes = {}
    local img, h = nst.transfer(base{content_image = false, content_weight = 0, image_size = "40x18",
      scales = {20, 40}, num_iterations = 2, on_iter = function(it, x) shapes[it] = table.concat(x:shape(), "x") end})
    assert.are.same({1, 3, 18, 40}, img:shape())
    assert.are.same({"1x3x9x20", "1x3x9x20", "1x3x18x40", "1x3x18x40"}, shapes)
    assert.are.equal(0, h[4].content)
  end)

  it("keeps content_image required otherwise", function()
    local ok, err = pcall(options.check, base{content_image = false})
    assert.is_false(ok)
    assert.are.equal("nst.transfer: content_image is required (or content_weight = 0: a texture)", err)
  end)
end)
