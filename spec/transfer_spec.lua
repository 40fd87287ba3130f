-- nst.transfer on tiny images with the real VGG19, and the loss-history plots.
local nst = require("nst")
local files = require("helpers.files")
local exists, read = files.exists, files.read
local weights = require("helpers.weights")

describe("nst.transfer", function()
  local vgg, content, style, dir
  setup(function()
    vgg = nst.vgg19{weights = weights.vgg19_real(), pooling = "avg"}
    nst.manual_seed(1)
    content = nst.image.load("examples/images/leuven.jpg", {size = 32})
    style = nst.image.load("examples/images/starry_night.jpg", {size = 32})
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p '" .. dir .. "'"))
  end)
  teardown(function() files.rm_rf(dir) end)

  local function base(extra)
    local o = {net = vgg, model = "vgg19", content_image = content, style_images = {style},
               image_size = false, content_layers = {"relu3_1"},
               style_layers = {"relu1_1", "relu2_1", "relu3_1"}, num_iterations = 20, print_iter = 0}
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end

  it("20 Adam iterations lower the total loss and record every term", function()
    local img, h = nst.transfer(base{learning_rate = 10, save_iter = 10, output = dir .. "/out.png"})
    assert.are.same(content:shape(), img:shape())
    assert.are.equal(20, #h)
    assert.is_true(h[20].total < 0.8 * h[1].total, ("total %g -> %g"):format(h[1].total, h[20].total))
    local r = h[20]
    local sum = r.content + r.tv
    for _, l in ipairs{"relu1_1", "relu2_1", "relu3_1"} do
      assert.is_true(r.style[l] > 0)
      sum = sum + r.style[l]
    end
    assert.is_true(math.abs(sum - r.total) <= 1e-4 * r.total)
    assert.is_true(img:min():item() >= 0 and img:max():item() <= 1)
    -- checkpoint at 10, final output at 20
    assert.is_true(exists(dir .. "/out_10.png"))
    assert.is_true(exists(dir .. "/out.png"))
    assert.is_false(exists(dir .. "/out_20.png"))
  end)

  it("L-BFGS lowers the loss too; printer and on_iter are called", function()
    local printed, calls = 0, 0
    local _, h = nst.transfer(base{optimizer = "lbfgs", num_iterations = 8, print_iter = 4, init = "noise",
                                   seed = 3, printer = function(r) printed = printed + 1; assert.is_number(r.total) end,
                                   on_iter = function() calls = calls + 1 end})
    assert.are.equal(2, printed)
    assert.are.equal(8, calls)
    assert.is_true(h[8].total < h[1].total)
  end)

  it("normalize_gradients scales each loss's gradient to unit L1 norm before its weight", function()
    -- a stand-in network that records the L1 norm of the gradients given to backward
    local seen = {}
    local proxy = setmetatable({}, {__index = function(_, k)
      local v = vgg[k]
      if type(v) ~= "function" then return v end
      return function(_, a, ...)
        if k == "backward" then for name, g in pairs(a) do seen[name] = g:abs():sum():item() end end
        return v(vgg, a, ...)
      end
    end})
    nst.transfer(base{net = proxy, num_iterations = 1, content_weight = 2, style_weight = 3, tv_weight = 0,
                      content_layers = {"relu3_1"}, style_layers = {"relu1_1", "relu2_1"},
                      normalize_gradients = true, init = "noise", seed = 5}) -- (from the content: no content gradient)
    -- neural-style's weights: style weight 3 at each style layer, content weight 2
    assert.is_true(math.abs(seen.relu1_1 - 3) < 1e-3, tostring(seen.relu1_1))
    assert.is_true(math.abs(seen.relu2_1 - 3) < 1e-3, tostring(seen.relu2_1))
    assert.is_true(math.abs(seen.relu3_1 - 2) < 1e-3, tostring(seen.relu3_1))
    nst.transfer(base{net = proxy, num_iterations = 1, content_layers = {"relu3_1"}, style_layers = {"relu1_1"}})
    assert.is_true(math.abs(seen.relu1_1 - 0.1) > 1e-2) -- without it: the raw gradient's size
  end)

  it("L-BFGS synthesizes texture (style only) with its line search; the fixed step is kept", function()
    local _, h = nst.transfer(base{optimizer = "lbfgs", num_iterations = 15, init = "noise", seed = 4,
                                   content_weight = 0})
    assert.is_true(h[15].total < 0.2 * h[1].total, ("style loss %g -> %g"):format(h[1].total, h[15].total))
    -- the recorded losses are those of the accepted steps: they never go up
    for i = 2, #h do assert.is_true(h[i].total <= h[i - 1].total, "iteration " .. i) end
    local _, h2 = nst.transfer(base{optimizer = "lbfgs", num_iterations = 2, lbfgs = {line_search = "none"}})
    assert.are.equal(2, #h2)
    assert.has_error(function() nst.transfer(base{optimizer = "lbfgs", lbfgs = {line_search = "armijo"}}) end,
                     'nst.transfer: lbfgs.line_search must be "wolfe" or "none", got armijo')
  end)

  it("inits from style and file, blends two styles, keeps original colours", function()
    local _, h = nst.transfer(base{init = "style", num_iterations = 2, style_images = {style, content},
                                   style_blend_weights = {3, 1}, original_colors = true})
    assert.are.equal(2, #h)
    local img = nst.transfer(base{init_image = content, num_iterations = 1, style_weight = 0,
                                  style_images = {}})
    assert.are.same(content:shape(), img:shape())
  end)

  it("rejects unknown options and bad values", function()
    assert.has_error(function() nst.transfer(base{styel_weight = 1}) end,
                     "nst.transfer: unknown option 'styel_weight'")
    assert.has_error(function() nst.transfer(base{init = "zeros"}) end,
                     "nst.transfer: init must be content, noise, style or file, got zeros")
    assert.has_error(function() nst.transfer(base{num_iterations = 1.5}) end,
                     "nst.transfer: num_iterations must be an integer >= 0, got 1.5")
    assert.has_error(function() nst.transfer(base{layer_weights = {1}}) end,
                     "nst.transfer: layer_weights has 1 entries for 3 style layers")
  end)

  it("says what is wrong with the weights, the model, the output and the layers", function()
    assert.has_error(function() nst.transfer(base{content_weight = 0, style_weight = 0, tv_weight = 0}) end,
                     "nst.transfer: content_weight, style_weight and tv_weight are all 0: nothing to optimize")
    assert.has_error(function() nst.transfer(base{model = "vgg16"}) end,
                     "nst.transfer: model is vgg16 but net is a vgg19 network")
    assert.has_error(function() nst.transfer(base{output = dir .. "/x.bmp"}) end,
                     ("nst.transfer: output %s/x.bmp: unknown image format '.bmp' (use .png, .jpg or .jpeg)"):format(dir))
    assert.has_error(function() nst.transfer(base{style_layers = {"relu1_1", "relu1_1"}, layer_weights = {1, 1}}) end,
                     "nst.transfer: style_layers names a layer twice; with layer_weights each layer is named once")
    assert.has_error(function() nst.transfer(base{normalization = "l2"}) end,
                     "nst.transfer: normalization must be \"neural_style\" or \"gatys\", got l2")
  end)

  it("takes the layers from the network's arch; a layer named twice counts once", function()
    local o = base{num_iterations = 1}
    o.model, o.content_layers, o.style_layers = nil, nil, nil
    local _, h = nst.transfer(o) -- net is a VGG19: relu4_2 and relu1_1 .. relu5_1
    assert.are.same({"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"}, h.style_layers)
    assert.are.same({"relu4_2"}, h.content_layers)
    local _, once = nst.transfer(base{num_iterations = 1, style_layers = {"relu1_1"}})
    local _, twice = nst.transfer(base{num_iterations = 1, style_layers = {"relu1_1", "relu1_1"}})
    assert.are.same({"relu1_1"}, twice.style_layers)
    assert.are.equal(once[1].total, twice[1].total)
    for _, norm in ipairs{"gatys", "neural_style"} do
      local _, a = nst.transfer(base{num_iterations = 1, normalization = norm, style_layers = {"relu1_1"}})
      local _, b = nst.transfer(base{num_iterations = 1, normalization = norm, style_layers = {"relu1_1", "relu1_1"}})
      assert.are.equal(a[1].style.relu1_1, b[1].style.relu1_1, norm)
    end
  end)

  it("writes the history as CSV and SVG, atomically", function()
    local h = {style_layers = {"relu1_1", "relu2_1"},
               {iteration = 1, content = 0, style = {relu1_1 = 10, relu2_1 = 100}, tv = 0.5, total = 110.5},
               {iteration = 2, content = 2, style = {relu1_1 = 5, relu2_1 = 50}, tv = 0.6, total = 57.6}}
    nst.plot.csv(h, dir .. "/h.csv")
    nst.plot.svg(h, dir .. "/h.svg")
    local csv = read(dir .. "/h.csv")
    assert.are.equal("iteration,content,style_relu1_1,style_relu2_1,tv,total\n" ..
                     "1,0,10,100,0.5,110.5\n2,2,5,50,0.6,57.6\n", csv)
    local svg = read(dir .. "/h.svg")
    assert.truthy(svg:match("^<svg"))
    assert.truthy(svg:match("</svg>\n$"))
    assert.truthy(svg:find("style_relu2_1", 1, true))
    assert.truthy(svg:find('<path fill="none"', 1, true))
    assert.is_false(exists(dir .. "/h.csv.tmp"))
    assert.has_error(function() nst.plot.csv(h, dir .. "/no/such/dir/h.csv") end)
  end)
end)
