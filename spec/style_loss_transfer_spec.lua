-- style_loss in nst.transfer, nst.terms and the run state, on tiny images with the real
-- VGG19 (the flags -style_loss and -style_layer_weights: spec/cli_spec.lua).
local nst = require("nst")
local weights = require("helpers.weights")
local options = require("nst.transfer_options")
local run_state = require("nst.run_state")

describe("style_loss in a transfer", function()
  local vgg, content, style
  setup(function()
    vgg = nst.vgg19{weights = weights.vgg19_real(), pooling = "avg"}
    nst.manual_seed(1)
    content = nst.image.load("examples/images/leuven.jpg", {size = 32})
    style = nst.image.load("examples/images/starry_night.jpg", {size = 40})
  end)

  local function base(extra)
    local o = {net = vgg, content_image = content, style_images = {style, content}, style_blend_weights = {3, 1},
               image_size = false, content_layers = {"relu3_1"}, style_layers = {"relu1_1", "relu2_1", "relu3_1"},
               num_iterations = 12, print_iter = 0, learning_rate = 10}
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end

  for _, kind in ipairs{"mean_cov", "w2"} do
    for _, norm in ipairs{"neural_style", "gatys"} do
      it(("%s (%s normalization) lowers the style loss with Adam and L-BFGS"):format(kind, norm), function()
        for _, opt in ipairs{"adam", "lbfgs"} do
          local _, h = nst.transfer(base{style_loss = kind, normalization = norm, optimizer = opt,
                                         num_iterations = opt == "lbfgs" and 6 or 12})
          local s1, sn = 0, 0
          for _, v in pairs(h[1].style) do s1 = s1 + v end
          for _, v in pairs(h[#h].style) do sn = sn + v end
          assert.is_true(sn < 0.8 * s1, ("%s %s: style %g -> %g"):format(kind, opt, s1, sn))
          assert.is_true(h[#h].total < h[1].total)
        end
      end)
    end
  end

  it("style terms are on the Gram loss's footing: first-iteration style within 3x of gram's", function()
    local first = {}
    for _, kind in ipairs{"gram", "mean_cov", "w2"} do
      for _, norm in ipairs{"neural_style", "gatys"} do
        local _, h = nst.transfer(base{style_loss = kind, normalization = norm, num_iterations = 1})
        local s = 0
        for _, v in pairs(h[1].style) do s = s + v end
        first[kind .. norm] = s
      end
    end
    for _, kind in ipairs{"mean_cov", "w2"} do
      for _, norm in ipairs{"neural_style", "gatys"} do
        local ratio = first[kind .. norm] / first["gram" .. norm]
        assert.is_true(ratio > 1 / 3 and ratio < 3, ("%s %s: %g x gram"):format(kind, norm, ratio))
      end
    end
  end)

  it("layer_weights weigh each style layer", function()
    local _, h1 = nst.transfer(base{style_loss = "w2", num_iterations = 1})
    local _, h2 = nst.transfer(base{style_loss = "w2", num_iterations = 1, layer_weights = {2, 0, 0.5}})
    local a, b = h1[1].style, h2[1].style
    assert.is_true(math.abs(b.relu1_1 - 2 * a.relu1_1) <= 1e-5 * a.relu1_1)
    assert.are.equal(0, b.relu2_1)
    assert.is_true(math.abs(b.relu3_1 - 0.5 * a.relu3_1) <= 1e-5 * a.relu3_1)
  end)

  it("checks style_loss and layer_weights, and the run state records a style_loss other than gram", function()
    -- the model is the weights file's: a VGG16 file, 4 style layers by default
    local o = {content_image = "c.jpg", style_images = {"s.jpg"}, weights = weights.vgg("vgg16")}
    local function err(extra)
      local t = {}
      for k, v in pairs(o) do t[k] = v end
      for k, v in pairs(extra) do t[k] = v end
      local ok, msg = pcall(options.check, t)
      assert.is_false(ok)
      return msg
    end
    assert.are.equal('nst.transfer: style_loss must be "gram", "mean_cov" or "w2", got bures', err{style_loss = "bures"})
    assert.are.equal("nst.transfer: layer_weights[2] must be a number >= 0, got -1",
                     err{layer_weights = {1, -1, 1, 1}})
    assert.are.equal("gram", options.check(o).style_loss)
    local run = {opts = options.check{content_image = "examples/images/leuven.jpg", style_weight = 0},
                 net = {arch = "vgg16"}}
    assert.is_nil((run_state.definition(run)).style_loss) -- states from before style_loss still resume
    run.opts.style_loss = "w2"
    assert.are.equal("w2", (run_state.definition(run)).style_loss)
  end)
end)
