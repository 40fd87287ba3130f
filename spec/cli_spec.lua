-- nst.cli: flag parsing (a pure function), the progress line, and a tiny end-to-end run.
local cli = require("nst.cli")
local weights = require("helpers.weights")

local parse = require("helpers.parse")
local parse_error, with, req = parse.error, parse.with, parse.required

describe("nst.cli.parse", function()

  it("maps neural-style's flags to transfer options", function()
    local o = cli.parse(with("-style_image", "a.jpg,b.png", "-style_blend_weights", "2,1", "-image_size", "256",
      "-gpu", "-1", "-content_weight", "10", "-style_weight", "1e-1", "-tv_weight", "0", "-num_iterations", "7",
      "-init", "random", "-optimizer", "lbfgs", "-learning_rate", "0.5", "-print_iter", "0", "-save_iter", "3",
      "-output_image", "o/x.png", "-style_scale", "0.5", "-original_colors", "1", "-pooling", "max",
      "-model_file", "w.safetensors", "-model", "vgg19", "-content_layers", "relu4_2",
      "-style_layers", "relu1_1, relu2_1", "-seed", "42"))
    assert.are.equal("c.jpg", o.content_image)
    assert.are.same({"a.jpg", "b.png"}, o.style_images)
    assert.are.same({2, 1}, o.style_blend_weights)
    assert.are.equal(256, o.image_size)
    assert.are.equal("cpu", o.device)
    assert.is_nil(o.gpu)
    assert.are.equal(10, o.content_weight)
    assert.are.equal(0.1, o.style_weight)
    assert.are.equal(0, o.tv_weight)
    assert.are.equal(7, o.num_iterations)
    assert.are.equal("noise", o.init)
    assert.are.equal("lbfgs", o.optimizer)
    assert.are.equal(0.5, o.learning_rate)
    assert.are.equal(3, o.save_iter)
    assert.are.equal("o/x.png", o.output)
    assert.are.equal(0.5, o.style_scale)
    assert.is_true(o.original_colors)
    assert.are.equal("max", o.pooling)
    assert.are.equal("w.safetensors", o.weights)
    assert.are.equal("vgg19", o.model)
    assert.are.same({"relu4_2"}, o.content_layers)
    assert.are.same({"relu1_1", "relu2_1"}, o.style_layers)
    assert.are.equal(42, o.seed)
  end)

  it("has defaults and accepts --flags, -gpu 0 and -init image", function()
    local o = cli.parse(with("--gpu", "0", "-init", "image"))
    assert.are.equal("cuda", o.device)
    assert.are.equal("content", o.init)
    assert.are.equal("out.png", o.output)
    assert.is_true(cli.parse({"--help"}).help)
    assert.is_true(cli.parse({"-h"}).help)
    assert.truthy(cli.help():find("-style_image", 1, true))
    local g = cli.parse(with("-gpu", "0", "-precision", "bf16", "-cuda_graph", "1"))
    assert.are.equal("bf16", g.precision)
    assert.is_true(g.cuda_graph)
    -- neural-style's remaining flags: L-BFGS history, gradient normalization, and the
    -- backend choices that nst has no use for
    local ns = cli.parse(with("-lbfgs_num_correction", "30", "-lbfgs_line_search", "none",
                              "-normalize_gradients", "1", "-backend", "cudnn", "-cudnn_autotune", "1",
                              "-proto_file", "models/VGG_ILSVRC_19_layers_deploy.prototxt"))
    assert.are.same({nCorrection = 30, line_search = "none"}, ns.lbfgs)
    assert.is_true(ns.normalize_gradients)
    assert.is_nil(ns.backend)
    assert.is_nil(ns.proto_file)
  end)

  it("reads booleans as Torch7's CmdLine does: alone means 1; 0, 1, true, false", function()
    local o = cli.parse(with("-normalize_gradients", "-seed", "3", "-cudnn_autotune"))
    assert.is_true(o.normalize_gradients)
    assert.are.equal(3, o.seed)
    assert.is_true(cli.parse(with("-original_colors", "true", "-resume")).original_colors)
    assert.is_true(cli.parse(with("-resume")).resume)
    assert.is_false(cli.parse(with("-original_colors", "false")).original_colors)
    assert.is_false(cli.parse(with("-cuda_graph", "0")).cuda_graph)
    assert.is_true(cli.parse(with("-cuda_graph", "1", "-print_iter", "1")).cuda_graph)
  end)

  it("takes neural-style's special values", function()
    local o = cli.parse(with("-seed", "-1", "-lbfgs_num_correction", "0", "-init_image", "", "-multigpu_strategy", "",
                             "-style_blend_weights", "nil", "-init", "image"))
    assert.are.equal(-1, o.seed) -- chosen and printed when the run starts (cli.run)
    assert.is_nil(o.lbfgs)
    assert.is_nil(o.init_image)
    assert.is_nil(o.style_blend_weights)
    assert.are.equal("content", o.init)
    assert.are.same({nCorrection = 5}, cli.parse(with("-lbfgs_num_correction", "5")).lbfgs)
    assert.are.same({}, cli.parse(with("-gpu", "-1")).notices)
    assert.are.equal("cpu", cli.parse(with("-gpu", "-1")).device)
    local g = cli.parse(with("-gpu", "0,1,2,3", "-multigpu_strategy", "3,6,12"))
    assert.are.equal("cuda", g.device)
    assert.are.same({"-gpu 0,1,2,3: nst runs on one GPU; using device 0"}, g.notices)
    assert.are.same({"-gpu 1: nst uses the first visible CUDA device; to pick device 1, run with CUDA_VISIBLE_DEVICES=1"},
                    cli.parse(with("-gpu", "1")).notices)
    assert.are.equal("cuda", cli.parse(req).device) -- neural-style's default, -gpu 0
  end)

  it("accepts every flag of neural_style.lua", function()
    -- neural_style.lua's cmd:option list
    for _, flag in ipairs{"style_image", "style_blend_weights", "content_image", "image_size", "gpu",
                          "multigpu_strategy", "content_weight", "style_weight", "tv_weight", "num_iterations",
                          "normalize_gradients", "init", "init_image", "optimizer", "learning_rate",
                          "lbfgs_num_correction", "print_iter", "save_iter", "output_image", "style_scale",
                          "original_colors", "pooling", "proto_file", "model_file", "backend", "cudnn_autotune",
                          "seed", "content_layers", "style_layers"} do
      assert.is_table(cli.flags[flag], flag)
    end
  end)

  it("states each default in --help from nst.transfer's own table", function()
    local defaults = require("nst.transfer_options").defaults
    local help = cli.help()
    local function line(flag) return help:match("\n  %-" .. flag .. " [^\n]*") end
    for flag, key in pairs{image_size = "image_size", num_iterations = "num_iterations",
                           learning_rate = "learning_rate", print_iter = "print_iter", save_iter = "save_iter",
                           style_scale = "style_scale"} do
      assert.truthy(line(flag):find(("(%g)"):format(defaults[key]), 1, true), flag)
    end
    -- the defaults that are not one number of the table: each flag's line says them
    local stated = {
      tv_weight = "(neural_style: 0.001; gatys: 0.001)",
      style_weight = "(neural_style: 100; gatys: 0.1)",
      content_weight = "(neural_style: 5; gatys: 5)",
      normalization = "(neural_style)",
      gpu = "(0)",
      seed = "(a fixed seed)",
      optimizer = "(adam)",
      model = "(the weights file's arch; with no -model_file vgg16 when installed, else vgg19)",
      model_file = "(the installed weights, looked up as `nst weights list` shows)",
      init = "(content)",
      original_colors = "(0)",
      lbfgs_num_correction = "(100)",
      lbfgs_line_search = "(wolfe)",
      content_layers = "vgg16: relu4_3; vgg19: relu4_2",
      output_image = "(out.png)",
    }
    for flag, text in pairs(stated) do
      assert.truthy(line(flag):find(text, 1, true), flag)
    end
    assert.truthy(help:find("\n  --version             the version of nst\n", 1, true))
    assert.truthy(help:find("\n  weights               the VGG weights files: list, add, download, convert\n", 1, true))
    -- a changed default shows at once
    local saved = defaults.num_iterations
    defaults.num_iterations = 123
    local changed = line("num_iterations") and cli.help():match("\n  %-num_iterations [^\n]*")
    defaults.num_iterations = saved
    assert.truthy(changed:find("(123)", 1, true))
  end)

  it("reports unknown flags, bad values and missing values", function()
    assert.are.equal("unknown flag -stlye_image (see --help)", parse_error(with("-stlye_image", "x")))
    assert.are.equal("-image_size: expected a number, got 'big'", parse_error(with("-image_size", "big")))
    assert.are.equal("-image_size: expected an integer, got '1.5'", parse_error(with("-image_size", "1.5")))
    assert.are.equal("-num_iterations needs a value", parse_error(with("-num_iterations")))
    assert.are.equal("-optimizer: expected adam|lbfgs, got 'sgd'", parse_error(with("-optimizer", "sgd")))
    assert.are.equal("-precision: expected fp32|tf32|bf16, got 'fp8'", parse_error(with("-precision", "fp8")))
    assert.are.equal("-lbfgs_num_correction must be >= 0, got -1", parse_error(with("-lbfgs_num_correction", "-1")))
    assert.are.equal("-original_colors: expected 0, 1, true or false, got 'yes'",
                     parse_error(with("-original_colors", "yes")))
    assert.are.equal("-gpu: expected a device number or a comma-separated list, got 'x'", parse_error(with("-gpu", "x")))
    assert.are.equal("-content_weight, -style_weight and -tv_weight are all 0: nothing to optimize",
                     parse_error(with("-content_weight", "0", "-style_weight", "0", "-tv_weight", "0")))
    assert.are.equal("-style_blend_weights: expected numbers separated by commas, got '1,x'",
                     parse_error(with("-style_blend_weights", "1,x")))
    assert.are.equal("-style_blend_weights has 1 weights for 2 style images",
                     parse_error(with("-style_image", "a,b", "-style_blend_weights", "1")))
    assert.are.equal("-content_image is required (see --help)", parse_error({"-style_image", "s.jpg"}))
    assert.are.equal("-style_image is required (see --help)", parse_error({"-content_image", "c.jpg"}))
    assert.are.equal("-style_weight must be >= 0, got -1", parse_error(with("-style_weight", "-1")))
    assert.are.equal("unexpected argument 'extra' (flags start with -)", parse_error(with("extra")))
    assert.are.equal("-gpu must be -1 (CPU) or a device number >= 0, got -3", parse_error(with("-gpu", "-3")))
    assert.are.equal("-style_scale must be > 0, got 0", parse_error(with("-style_scale", "0")))
    assert.are.equal("-image_size must be in [1, 16384], got 20000", parse_error(with("-image_size", "20000")))
    assert.are.equal("-backend: expected nn|cudnn|clnn, got 'x'", parse_error(with("-backend", "x")))
  end)

  it("reads -style_loss and -style_layer_weights (layer_weights), one weight per style layer", function()
    local o = cli.parse(with("-style_loss", "w2", "-style_layer_weights", "1,0.5,0.25,2"))
    assert.are.equal("w2", o.style_loss)
    assert.are.same({1, 0.5, 0.25, 2}, o.layer_weights)
    assert.are.same({1, 1, 1, 1, 1}, cli.parse(with("-model", "vgg19", "-style_layer_weights", "1,1,1,1,1")).layer_weights)
    assert.is_nil(cli.parse(with()).style_loss) -- the default comes from nst.transfer
    assert.are.equal("-style_loss: expected gram|mean_cov|w2, got 'bures'", parse_error(with("-style_loss", "bures")))
    assert.are.equal("-style_layer_weights has 2 weights for 4 style layers (relu1_2,relu2_2,relu3_3,relu4_3)",
                     parse_error(with("-model", "vgg16", "-style_layer_weights", "1,2")))
    assert.are.equal("-style_layer_weights has 4 weights for 2 style layers (relu1_1,relu2_1)",
                     parse_error(with("-style_layers", "relu1_1,relu2_1", "-style_layer_weights", "1,1,1,1")))
    assert.are.equal("-style_layer_weights must be >= 0, got -1",
                     parse_error(with("-model", "vgg16", "-style_layer_weights", "1,-1,1,1")))
    -- without -model the model is the weights file's: the count is checked once it is known
    assert.are.same({1, 2}, cli.parse(with("-style_layer_weights", "1,2")).layer_weights)
    local help = cli.help()
    assert.truthy(help:find("-style_loss           gram|mean_cov|w2: ", 1, true))
    assert.truthy(help:find("(see README) (gram)", 1, true))
    assert.truthy(help:find("(gatys: 1/L each; neural_style: 1 each)", 1, true))
  end)
end)

describe("nst.cli", function()
  it("formats the progress line with speed and ETA", function()
    local line = cli.progress_line({iteration = 50, content = 1, style = {a = 2, b = 3}, tv = 0.5, total = 6.5},
                                   500, 25)
    assert.are.equal("Iteration 50/500  content 1  style 5  tv 0.5  total 6.5  2.00 it/s  ETA 3m45s", line)
    assert.truthy(cli.progress_line({iteration = 1, content = 1, style = {}, tv = 0, total = 1}, 10, 0)
                  :find("- it/s  ETA -", 1, true))
  end)

  it("main returns 2 on bad usage and runs a tiny transfer end to end", function()
    local saved = io.stderr
    local msgs = {}
    io.stderr = {write = function(_, ...) for _, s in ipairs{...} do msgs[#msgs + 1] = s end end}
    local code = cli.main({"-bogus", "1"})
    io.stderr = saved
    assert.are.equal(2, code)
    assert.are.equal("nst: unknown flag -bogus (see --help)\n", table.concat(msgs))

    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p '" .. dir .. "'"))
    local out = dir .. "/o.png"
    local saved_out = io.stdout
    io.stdout = {write = function() end, flush = function() end}
    local ok, rc = pcall(cli.main, {"-content_image", "examples/images/leuven.jpg", "-style_image",
      "examples/images/starry_night.jpg", "-image_size", "24", "-num_iterations", "2", "-print_iter", "1",
      "-model", "vgg19", "-model_file", weights.vgg19_real(), "-output_image", out, "-gpu", "-1",
      "-content_layers", "relu2_1", "-style_layers", "relu1_1,relu2_1"})
    io.stdout = saved_out
    assert.is_true(ok, tostring(rc))
    assert.are.equal(0, rc)
    for _, p in ipairs{out, dir .. "/o.csv", dir .. "/o.svg"} do
      local f = io.open(p, "rb")
      assert.truthy(f, p)
      f:close()
    end
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)

describe("nst as a process", function()
  local proc = require("helpers.cli_process")
  local base = {"-content_image", "examples/images/leuven.jpg", "-style_image", "examples/images/starry_night.jpg",
                "-gpu", "-1", "-output_image", "/tmp/nst-never-written.png"}
  local function with(...) return parse.plus(base, ...) end

  it("prints the version for --version and -version", function()
    local version = require("nst").version
    for _, flag in ipairs{"--version", "-version"} do
      local status, log = proc.run({flag})
      assert.are.equal(0, status)
      assert.are.equal("nst " .. version .. "\n", log)
    end
  end)

  it("refuses a layer named twice, naming it, before any work", function()
    local status, log = proc.run(with("-style_layers", "relu1_1,relu2_1,relu1_1"))
    assert.are.equal(2, status)
    assert.are.equal("nst: -style_layers names relu1_1 twice (relu1_1,relu2_1,relu1_1): name each layer once\n", log)
    status, log = proc.run(with("-content_layers", "relu4_2, relu4_2"))
    assert.are.equal(2, status)
    assert.are.equal("nst: -content_layers names relu4_2 twice (relu4_2,relu4_2): name each layer once\n", log)
  end)

  it("says which image is too small and the size that works; all weights 0 is refused", function()
    local status, log = proc.run(with("-model", "vgg19", "-model_file", weights.vgg19_real(), "-image_size", "16",
                                      "-num_iterations", "1"))
    assert.are.equal(1, status)
    assert.truthy(log:find("nst: the content image examples/images/leuven.jpg is 16x12 pixels at this size; layer "
      .. "relu5_1 needs at least 16x16 (-image_size 22 or more)\n", 1, true), log)
    status, log = proc.run(with("-model", "vgg19", "-model_file", weights.vgg19_real(), "-image_size", "64",
                                "-style_scale", "0.2", "-num_iterations", "1"))
    assert.are.equal(1, status)
    assert.truthy(log:find("nst: style image 1 examples/images/starry_night.jpg is 13x10 pixels at this size; layer "
      .. "relu5_1 needs at least 16x16 (-style_scale 0.328 or more)\n", 1, true), log)
    status, log = proc.run(with("-content_weight", "0", "-style_weight", "0", "-tv_weight", "0"))
    assert.are.equal(2, status)
    assert.are.equal("nst: -content_weight, -style_weight and -tv_weight are all 0: nothing to optimize\n", log)
  end)
end)
