-- The nst command's run, as a process: the output checked before any work, the CSV,
-- SVG and state written at checkpoints and on a NaN stop, a full disk, messages for
-- inputs too small, -seed -1, and -gpu on a machine without CUDA.
local nst = require("nst")
local h = require("helpers.kit")
local files, cli, tiny = h.files, h.cli, h.tiny

local function args(out, extra)
  return tiny.real(out, "relu1_1,relu2_1", {"-num_iterations", "4", table.unpack(extra or {})})
end

describe("nst's run", function()
  local dir
  files.tmpdir_each(function(d) dir = d end)

  it("checks -output_image before any work", function()
    -- a missing weights file would fail later: the output's error comes first
    local bad = args(dir .. "/nodir/o.png", {"-model_file", dir .. "/none.safetensors"})
    local status, log = cli.run(bad)
    assert.are.equal(1, status)
    assert.are.equal(("nst: -output_image %s/nodir/o.png: cannot write in folder %s/nodir: No such file or directory\n")
      :format(dir, dir), log)
    status, log = cli.run(args(dir .. "/o.gif", {"-model_file", dir .. "/none.safetensors"}))
    assert.are.equal(1, status)
    assert.are.equal(("nst: -output_image %s/o.gif: unknown image format '.gif' (use .png, .jpg or .jpeg)\n")
      :format(dir), log)
  end)

  it("appends .png to a name without extension and writes the image, CSV, SVG and state", function()
    local status, log = cli.run(args(dir .. "/o", {"-save_iter", "2"}))
    assert.are.equal(0, status, log)
    for _, name in ipairs{"o.png", "o_2.png", "o.csv", "o.svg", "o.state.safetensors"} do
      assert.truthy(files.exists(dir .. "/" .. name), name .. "\n" .. log)
    end
    assert.are.same({1, 3, 24, 32}, nst.image.load(dir .. "/o.png"):shape())
  end)

  it("writes the CSV and SVG on a NaN stop and keeps the last checkpoint", function()
    -- a fixed L-BFGS step 1e30 times too long sends the image to infinity
    local status, log = cli.run(args(dir .. "/o.png", {"-optimizer", "lbfgs", "-lbfgs_line_search", "none",
                                                       "-learning_rate", "1e30", "-save_iter", "1"}))
    assert.are.equal(1, status)
    local it = tonumber(log:match("nst: the loss became %S+ at iteration (%d+) %(try a lower learning_rate or "
      .. "weights%); the last checkpoint is kept"))
    assert.is_number(it, log)
    local rows = 0
    for _ in io.lines(dir .. "/o.csv") do rows = rows + 1 end
    assert.are.equal(it + 1, rows) -- the header and every iteration up to the NaN
    assert.truthy(files.exists(dir .. "/o.svg"))
    assert.truthy(files.exists(("%s/o_%d.png"):format(dir, it - 1)))
    assert.is_false(files.exists(("%s/o_%d.png"):format(dir, it)))
  end)

  it("names the image and the size that would work when an input is too small", function()
    local status, log = cli.run(args(dir .. "/o.png", {"-image_size", "16", "-style_layers", "relu5_1"}))
    assert.are.equal(1, status)
    assert.are.equal("nst: the content image examples/images/leuven.jpg is 16x12 pixels at this size; layer relu5_1 "
      .. "needs at least 16x16 (-image_size 22 or more)\n", log)
    status, log = cli.run(args(dir .. "/o.png", {"-style_scale", "0.25", "-style_layers", "relu4_1"}))
    assert.are.equal(1, status)
    assert.are.equal("nst: style image 1 examples/images/starry_night.jpg is 8x6 pixels at this size; layer relu4_1 "
      .. "needs at least 8x8 (-style_scale 0.344 or more)\n", log)
  end)

  it("-seed -1 picks a seed and prints it; that seed repeats the run", function()
    local status, log = cli.run(args(dir .. "/a.png", {"-seed", "-1", "-init", "random"}))
    assert.are.equal(0, status, log)
    local seed = log:match("nst: %-seed %-1: using seed (%d+) %(pass %-seed %d+ to repeat this run%)")
    assert.is_string(seed, log)
    status, log = cli.run(args(dir .. "/b.png", {"-seed", seed, "-init", "random"}))
    assert.are.equal(0, status, log)
    assert.are.equal(files.read(dir .. "/a.png"), files.read(dir .. "/b.png"))
  end)

  it("runs -gpu 0,1 on the first GPU, or on the CPU where there is none, saying so", function()
    local a = args(dir .. "/o.png", {"-gpu", "0,1", "-num_iterations", "1"})
    local status, log = cli.run(a)
    assert.are.equal(0, status, log)
    assert.truthy(log:find("nst: -gpu 0,1: nst runs on one GPU; using device 0\n", 1, true), log)
    if not nst.cuda_available() then
      assert.truthy(log:find("nst: no CUDA device here; running on the CPU (-gpu -1 says so and hides this line)\n",
                             1, true), log)
    end
  end)

  it("reports a full disk during a save and leaves the previous files whole", function()
    local is_root = io.popen("id -u"):read("l") == "0"
    if not is_root or not os.execute(("mount -t tmpfs -o size=64k tmpfs '%s' 2>/dev/null"):format(dir)) then
      pending("needs root to mount a 64 KiB tmpfs")
      return
    end
    -- each checkpoint: an image of ~2 KiB and a state of ~30 KiB; the second cannot fit beside the first
    local status, log = cli.run(args(dir .. "/o.png", {"-save_iter", "1", "-num_iterations", "20"}))
    assert.are.equal(1, status, log)
    assert.truthy(log:find("No space left on device", 1, true), log)
    local st = require("nst.run_state").read(dir .. "/o.state.safetensors")
    assert.is_true(st.doc.iteration >= 1)
    for line in io.lines(dir .. "/o.csv") do assert.truthy(line:match("^[%w_,.%-+]+$"), line) end
    local ls = io.popen("ls -a '" .. dir .. "'"):read("a")
    assert.is_nil(ls:find("tmp"), ls)
    os.execute(("umount '%s'"):format(dir))
  end)
end)
