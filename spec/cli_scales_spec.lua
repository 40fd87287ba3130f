-- The command line's coarse-to-fine, averaging, colour and size flags: what they parse
-- to, their exact messages for bad values, the progress line of a multi-scale run.
local cli = require("nst.cli")

local parse = require("helpers.parse")
local parse_error, with = parse.error, parse.with

describe("nst.cli: -scales, -num_iterations, -ema, -color, -image_size", function()
  it("reads them into nst.transfer's options", function()
    assert.are.equal("auto", cli.parse(with("-scales", "auto")).scales)
    assert.are.same({96, 192, 384}, cli.parse(with("-scales", "96, 192,384")).scales)
    assert.are.equal(150, cli.parse(with("-num_iterations", "150")).num_iterations)
    assert.are.same({200, 100, 150}, cli.parse(with("-num_iterations", "200,100,150")).num_iterations)
    assert.are.equal(0.95, cli.parse(with("-ema", "0.95")).ema)
    assert.are.equal("luminance", cli.parse(with("-color", "luminance")).color)
    assert.are.equal("match", cli.parse(with("-color", "match")).color)
    assert.are.equal(300, cli.parse(with("-image_size", "300")).image_size)
    local o = cli.parse({"-style_image", "s.jpg", "-content_weight", "0", "-image_size", "640x360"})
    assert.are.equal("640x360", o.image_size)
    assert.is_nil(o.content_image)
  end)

  it("refuses bad values with exact messages", function()
    local want_scales = "-scales: expected auto or sizes in pixels, increasing, separated by commas (96,192,384), got '%s'"
    for _, v in ipairs{"192,96", "96,,192", "x", "0,10", "96,96", "1.5,3"} do
      assert.are.equal(want_scales:format(v), parse_error(with("-scales", v)))
    end
    local want_iters = "-num_iterations: expected an integer >= 0, or one per scale separated by commas " ..
                       "(100,100,200), got '%s'"
    for _, v in ipairs{"10,x", "10,-1", "10,", "1.5,2"} do
      assert.are.equal(want_iters:format(v), parse_error(with("-num_iterations", v)))
    end
    assert.are.equal("-num_iterations: expected a number, got 'many'", parse_error(with("-num_iterations", "many")))
    assert.are.equal("-num_iterations must be >= 0, got -1", parse_error(with("-num_iterations", "-1")))
    assert.are.equal("-ema must be in [0, 1), got 1", parse_error(with("-ema", "1")))
    assert.are.equal("-ema must be in [0, 1), got -0.5", parse_error(with("-ema", "-0.5")))
    assert.are.equal("-color: expected luminance|match, got 'grey'", parse_error(with("-color", "grey")))
    local want_size = "-image_size: expected a size in pixels (512) or WxH for a texture (640x360), each 1..16384, got '%s'"
    for _, v in ipairs{"640x", "0x10", "10x20000", "axb"} do
      assert.are.equal(want_size:format(v), parse_error(with("-image_size", v)))
    end
    assert.are.equal("-content_image is required (see --help)", parse_error({"-style_image", "s.jpg"}))
  end)

  it("the transfer names a schedule that does not fit, in the command line's words", function()
    local nst = require("nst")
    local ok, err = pcall(nst.transfer, {content_image = "c.jpg", style_images = {"s.jpg"}, scales = {96, 192},
                                         num_iterations = {1, 2, 3}})
    assert.is_false(ok)
    assert.are.equal("num_iterations has 3 entries for 2 scales (96,192)", cli.error_message(err))
  end)

  it("shows the scale in the progress line and an ETA for the whole run", function()
    local sched = require("nst.transfer_options").check{content_image = "c.jpg", style_images = {"s.jpg"},
                                                         scales = {100, 200}, num_iterations = 10}.schedule
    -- 10 at 100 px done in 10 s (a quarter of the work of one at 200 px each): the 10 left
    -- at 200 px take 4x as long per iteration, 40 s, not the 10 s a plain rate would say
    local line = cli.progress_line({iteration = 10, scale = 1, content = 1, style = {a = 2}, tv = 0, total = 3},
                                   20, 10, 0, sched)
    assert.are.equal("Iteration 10/20  scale 1/2  content 1  style 2  tv 0  total 3  1.00 it/s  ETA 40s", line)
    assert.truthy(cli.help():find("\n  -scales               coarse to fine: auto", 1, true))
  end)
end)
