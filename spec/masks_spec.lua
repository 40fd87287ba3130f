-- Spatial control in nst.transfer (nst.masks, nst.terms_masked) on tiny images with the
-- real VGG19: masks of all ones are the unmasked run with every style loss and both
-- normalizations; the masked content term's gradient by finite differences; each region
-- pulled to its own style with Adam and L-BFGS; the masks at each size (multi-scale);
-- the Lua options' errors. The command line's messages: spec/masks_cli_spec.lua.
local nst = require("nst")
local weights = require("helpers.weights")
local fd = require("helpers.fd")
local errmsg = require("helpers.expect").error
local masks = require("nst.masks")
local masked = require("nst.terms_masked")

local half = masks.half

local function style_sum(row)
  local s = 0
  for _, v in pairs(row.style) do s = s + v end
  return s
end

describe("masks in a transfer", function()
  local vgg, content, style, H, W
  setup(function()
    vgg = nst.vgg19{weights = weights.vgg19_real(), pooling = "avg"}
    nst.manual_seed(1)
    content = nst.image.load("examples/images/leuven.jpg", {size = 32})
    style = nst.image.load("examples/images/starry_night.jpg", {size = 40})
    H, W = content:shape()[3], content:shape()[4]
  end)

  local function base(extra)
    local o = {net = vgg, content_image = content, style_images = {style}, image_size = false,
               content_layers = {"relu3_1"}, style_layers = {"relu1_1", "relu2_1", "relu3_1"},
               num_iterations = 4, print_iter = 0, learning_rate = 10}
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end

  it("masks and guides of all ones are the unmasked run (every style loss, both normalizations)", function()
    for _, kind in ipairs{"gram", "mean_cov", "w2"} do
      for _, norm in ipairs{"neural_style", "gatys"} do
        local img1, h1 = nst.transfer(base{style_loss = kind, normalization = norm})
        local ones = nst.ones(H, W)
        local img2, h2 = nst.transfer(base{style_loss = kind, normalization = norm, style_masks = {ones},
                                           style_guides = {nst.ones(1, 1, 5, 7)}, content_mask = ones})
        for i = 1, #h1 do
          local a, b = style_sum(h1[i]), style_sum(h2[i])
          assert.is_true(math.abs(a - b) <= 1e-5 * a, ("%s %s it %d: style %.9g vs %.9g"):format(kind, norm, i, a, b))
          assert.is_true(math.abs(h1[i].content - h2[i].content) <= 1e-5 * h1[i].content)
        end
        assert.is_true((img1 - img2):abs():max():item() < 1e-4, kind .. " " .. norm)
      end
    end
  end)

  it("the masked content term: gradient by finite differences, nothing outside the mask", function()
    nst.manual_seed(3)
    local F, P = nst.randn(1, 4, 6, 5), nst.randn(1, 4, 6, 5)
    local c = nst.rand(1, 1, 6, 5)
    for _, mean in ipairs{true, false} do
      local term = masked.content({x = P}, {"x"}, {x = 1}, {x = c}, mean)
      local _, g = term.loss(F, "x")
      local worst = fd.check(function(x) return (term.loss(x, "x")) end, F, g, 20, 1e-2)
      assert.is_true(worst < 1e-3, "fd " .. worst)
      -- against the formula: Σ c (F − P)² / n, or ½ Σ c (F − P)²
      local d = F - P
      local want = 0
      local dv, cv = d:reshape(4, 30):totable(), c:reshape(30):totable()
      for k = 1, 4 do for i = 1, 30 do want = want + cv[i] * dv[k][i] ^ 2 end end
      want = mean and want / F:numel() or want / 2
      local got = term.loss(F, "x"):item()
      assert.is_true(math.abs(got - want) <= 1e-5 * want, ("%g vs %g"):format(got, want))
    end
    local zero = half(6, 5, "left")
    local term = masked.content({x = P}, {"x"}, {x = 1}, {x = zero}, true)
    local _, g = term.loss(F, "x")
    local gv = g:reshape(4, 6, 5):totable()
    for k = 1, 4 do for y = 1, 6 do for x = 3, 5 do assert.are.equal(0, gv[k][y][x]) end end end
  end)

  it("pulls each region to its own style with Adam and L-BFGS; blended, a half is not", function()
    -- starry_night on the left, a brownish noise on the right, at 48 px (a region's
    -- receptive fields at deeper layers would reach across a tiny image)
    local c48 = nst.image.load("examples/images/leuven.jpg", {size = 48})
    local s48 = nst.image.load("examples/images/starry_night.jpg", {size = 48})
    nst.manual_seed(5)
    local brown = nst.zeros(1, 3, 40, 40)
    for ch, v in ipairs{0.6, 0.3, 0.2} do brown:reshape(3, 1600):narrow(1, ch, 1):fill(v) end
    brown = brown + nst.rand(1, 3, 40, 40) * 0.2
    local h, w = c48:shape()[3], c48:shape()[4]
    local L, R = half(h, w, "left"), half(h, w, "right")
    local layers = {"relu1_1", "relu2_1"}
    local T = {}
    for k, s in ipairs{s48, brown} do T[k] = nst.loss.style_stats({vgg:forward(s, layers)}, {kind = "gram"}) end
    local function dist(img, m, k) -- relative Gram error |Ĝ − Â|²/|Â|² of img's region m against style k
      local F, G, e = vgg:forward(img, layers), nst.loss.guide(vgg, m, layers), 0
      for _, l in ipairs(layers) do
        e = e + nst.loss.gram(F[l], T[k][l], {guide = G[l]}):item() * 4 * T[k][l].c ^ 2 / T[k][l].gram:sumsq():item()
      end
      return e
    end
    for _, opt in ipairs{"adam", "lbfgs"} do
      for _, with in ipairs{true, false} do
        local img = nst.transfer(base{content_image = c48, style_images = {s48, brown}, style_layers = layers,
                                      content_layers = {"relu2_1"}, style_masks = with and {L, R} or nil,
                                      optimizer = opt, num_iterations = opt == "lbfgs" and 15 or 40,
                                      content_weight = 0.5})
        local left, right = dist(img, L, 1) / dist(img, L, 2), dist(img, R, 2) / dist(img, R, 1)
        local msg = ("%s %s: own/other left %g right %g"):format(opt, with and "masked" or "blended", left, right)
        if with then
          assert.is_true(left < 0.2 and right < 0.2, msg)
        else
          assert.is_true(math.max(left, right) > 1, msg)
        end
      end
    end
  end)

  it("resamples the masks to each size on demand (a multi-scale run calls at_size per scale)", function()
    local o = require("nst.transfer_options").check(base{style_images = {style, style}, style_masks = {half(8, 12, "left"),
      half(8, 12, "right")}, style_guides = {nst.ones(3, 3), nst.ones(3, 3)}, content_mask = nst.ones(5, 5)})
    local set = masks.of(o)
    for _, size in ipairs{{16, 24}, {32, 48}} do
      local g = masks.at_size(set, vgg, o, size[1], size[2], {{20, 20}, {40, 40}})
      assert.are.equal(size[1] * size[2], g.style[1].relu1_1:numel())
      assert.are.equal(size[1] * size[2] / 16, g.style[2].relu3_1:numel())
      assert.are.equal(400, g.source[1].relu1_1:numel())
      assert.are.equal(1600, g.source[2].relu1_1:numel())
      assert.are.same({1, 1, size[1] / 4, size[2] / 4}, g.content.relu3_1:shape())
      -- share: the mean of m²; the resampled edge is grey, where m² < m
      assert.is_true(g.share[1] > 0.45 and g.share[1] <= 0.5, tostring(g.share[1]))
      assert.is_true(math.abs(g.share[1] - g.share[2]) < 1e-6)
    end
  end)

  it("refuses bad masks in Lua's words, before any work", function()
    local function err(extra) return errmsg(nst.transfer, base(extra)) end
    assert.are.equal("nst.transfer: style_masks: mask 1 must be a grey mask (H,W), (1,H,W), (1,1,H,W) or (1,3,H,W) "
      .. "with equal channels, got 2x2x4x4", err{style_masks = {nst.ones(2, 2, 4, 4)}})
    assert.are.equal("nst.transfer: style_masks: mask 1 has values from 0 to 2; a mask is in [0, 1]",
      err{style_masks = {half(4, 4, "left") * 2}})
    assert.are.equal("nst.transfer: style_masks: mask 1 is all black (the style would apply nowhere)",
      err{style_masks = {nst.zeros(4, 4)}})
    assert.are.equal("nst.transfer: style_masks: mask 1 must be an image path or a tensor, got number",
      err{style_masks = {3}})
    assert.are.equal("nst.transfer: style_masks: 2 masks for 1 style image (one per style image, in their order)",
      err{style_masks = {nst.ones(4, 4), nst.ones(4, 4)}})
    assert.are.equal("nst.transfer: content_mask: the mask must be an image path or a tensor, got boolean",
      err{content_mask = true})
    assert.are.equal("nst.transfer: mask_mode: expected \"simple\" or \"inside\", got outside",
      err{mask_mode = "outside"})
    -- a region that vanishes once eroded (one pixel, at the first convolution): named with its size
    local dot = nst.zeros(H, W)
    dot:reshape(H * W):narrow(1, 5 * W + 5, 1):fill(1)
    assert.are.equal(("nst.transfer: style_masks: mask 1 at %dx%d: the mask is empty at layer relu1_1 (mode inside)")
      :format(W, H), err{style_masks = {dot}, mask_mode = "inside"})
  end)

  -- The same masked run (two styles on the halves, a content mask, each style loss) on
  -- `device` and on the CPU: the histories agree. Tagged cuda below; here CPU against CPU
  -- checks the comparison itself.
  local function compare(device)
    local net = device == "cpu" and vgg or nst.vgg19{weights = weights.vgg19_real(), pooling = "avg", device = device}
    local L, R = half(H, W, "left"), half(H, W, "right")
    for _, kind in ipairs{"gram", "mean_cov", "w2"} do
      local function run(n)
        local _, h = nst.transfer(base{net = n, style_images = {style, content}, style_masks = {L, R},
                                       content_mask = L, style_loss = kind, num_iterations = 3})
        return h
      end
      local a, b = run(vgg), run(net)
      for i = 1, #a do
        local x, y = style_sum(a[i]), style_sum(b[i])
        assert.is_true(math.abs(x - y) <= 2e-3 * x, ("%s %s it %d: style %.7g vs %.7g"):format(device, kind, i, x, y))
        assert.is_true(math.abs(a[i].content - b[i].content) <= 2e-3 * a[i].content)
      end
    end
  end
  it("a masked run is the same on the device as on the CPU (the comparison, CPU against CPU)", function()
    compare("cpu")
  end)
  it("a masked run is the same on CUDA as on the CPU #cuda", function() compare("cuda") end)
end)
