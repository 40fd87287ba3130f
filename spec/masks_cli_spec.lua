-- -style_masks, -style_guides, -content_mask through the nst command, as a process: every
-- bad mask refused before any work with the flag and the file named (a missing weights
-- file would fail later: the mask's error comes first), a masked run written, and a
-- resume with other masks refused, saying what differs.
local nst = require("nst")
local files = require("helpers.files")
local weights = require("helpers.weights")
local cli = require("helpers.cli_process")

local function args(out, extra)
  local a = {"-content_image", "examples/images/leuven.jpg",
             "-style_image", "examples/images/starry_night.jpg,examples/images/leuven.jpg",
             "-model", "vgg19", "-gpu", "-1", "-image_size", "32",
             "-content_layers", "relu3_1", "-style_layers", "relu1_1,relu2_1", "-print_iter", "0",
             "-num_iterations", "4", "-output_image", out}
  for _, v in ipairs(extra or {}) do a[#a + 1] = v end
  return a
end

-- A grey (or coloured: rgb) PNG h×w at path: the left half v, the right half 1 − v.
local function mask(path, h, w, v, rgb)
  local t = {}
  for c = 1, 3 do
    for _ = 1, h do
      for x = 1, w do
        local g = x <= w / 2 and v or 1 - v
        t[#t + 1] = rgb and (c == 1 and g or 0) or g
      end
    end
  end
  nst.image.save(nst.tensor(t):reshape(1, 3, h, w), path)
  return path
end

describe("masks on the command line", function()
  it("parses -style_masks, -style_guides, -content_mask and -mask_mode into nst.transfer's options", function()
    local o = require("nst.cli").parse{"-content_image", "c.jpg", "-style_image", "a.jpg,b.jpg",
      "-style_masks", "ma.png, mb.png", "-style_guides", "ga.png,gb.png", "-content_mask", "face.png",
      "-mask_mode", "inside"}
    assert.are.same({"ma.png", "mb.png"}, o.style_masks)
    assert.are.same({"ga.png", "gb.png"}, o.style_guides)
    assert.are.equal("face.png", o.content_mask)
    assert.are.equal("inside", o.mask_mode)
  end)

  local dir
  files.tmpdir_each(function(d) dir = d end)

  it("refuses bad masks before any work, naming the flag and the file", function()
    local left = mask(dir .. "/left.png", 20, 30, 1)
    nst.image.save(nst.zeros(1, 3, 8, 8), dir .. "/b2.png")
    mask(dir .. "/red.png", 8, 8, 1, true)
    local text = io.open(dir .. "/notes.txt", "w")
    text:write("not an image\n")
    text:close()
    local none = {"-model_file", dir .. "/none.safetensors"} -- would fail later
    local cases = {
      {{"-style_masks", left}, "-style_masks: 1 mask for 2 style images (one per style image, in their order)"},
      {{"-style_masks", left .. "," .. dir .. "/missing.png"},
       ("-style_masks: cannot read %s/missing.png: No such file or directory"):format(dir)},
      {{"-style_masks", left .. "," .. dir .. "/notes.txt"},
       ("-style_masks: %s/notes.txt is not a mask image: not a PNG or JPEG file"):format(dir)},
      {{"-style_masks", dir .. "/red.png," .. left},
       ("-style_masks: %s/red.png is a colour image; a mask is grey (white: the style applies, black: not, "
        .. "grey: a blend)"):format(dir)},
      {{"-style_masks", left .. "," .. dir .. "/b2.png"},
       ("-style_masks: %s/b2.png is all black (the style would apply nowhere)"):format(dir)},
      {{"-style_guides", left .. "," .. left .. "," .. left},
       "-style_guides: 3 masks for 2 style images (one per style image, in their order)"},
      {{"-style_guides", dir .. "/b2.png," .. left},
       ("-style_guides: %s/b2.png is all black (no part of style image 1 to take the statistics from)"):format(dir)},
      {{"-content_mask", dir .. "/b2.png"},
       ("-content_mask: %s/b2.png is all black (the content term would apply nowhere)"):format(dir)},
      {{"-content_mask", dir .. "/nope.jpg"},
       ("-content_mask: cannot read %s/nope.jpg: No such file or directory"):format(dir)},
    }
    for _, c in ipairs(cases) do
      local a = args(dir .. "/o.png", none)
      for _, v in ipairs(c[1]) do a[#a + 1] = v end
      local status, log = cli.run(a)
      assert.are.equal(1, status, log)
      assert.are.equal("nst: " .. c[2] .. "\n", log)
      assert.is_nil(io.open(dir .. "/o.png"))
    end
    local status, log = cli.run(args(dir .. "/o.png", {"-mask_mode", "outside"}))
    assert.are.equal(2, status)
    assert.are.equal("nst: -mask_mode: expected simple|inside, got 'outside'\n", log)
  end)

  it("runs with masks of another size and refuses a resume with other masks", function()
    local a, b = mask(dir .. "/a.png", 20, 30, 1), mask(dir .. "/b.png", 20, 30, 0)
    local c = mask(dir .. "/c.png", 10, 10, 0.75)
    local w = {"-model_file", weights.vgg19_real(), "-save_iter", "2"}
    local function run(extra)
      local x = args(dir .. "/o.png", w)
      for _, v in ipairs(extra) do x[#x + 1] = v end
      return cli.run(x)
    end
    local status, log = run{"-style_masks", a .. "," .. b, "-content_mask", c}
    assert.are.equal(0, status, log)
    assert.is_not_nil(io.open(dir .. "/o.png"))
    -- the same masks: the run continues (a finished run extended)
    status, log = run{"-style_masks", a .. "," .. b, "-content_mask", c, "-resume", "-num_iterations", "6"}
    assert.are.equal(0, status, log)
    -- the masks swapped: another run
    status, log = run{"-style_masks", b .. "," .. a, "-content_mask", c, "-resume", "-num_iterations", "8"}
    assert.are.equal(1, status, log)
    local id = function(p) return require("nst.run_state").identity(p) end
    assert.are.equal(("nst: resume: %s/o.state.safetensors is the state of another run:\n"
      .. "  style_mask 1: the state has %s, this run %s\n  style_mask 2: the state has %s, this run %s\n")
      :format(dir, id(a), id(b), id(b), id(a)), log)
    -- no content mask: another run
    status, log = run{"-style_masks", a .. "," .. b, "-resume", "-num_iterations", "8"}
    assert.are.equal(1, status, log)
    assert.are.equal(("nst: resume: %s/o.state.safetensors is the state of another run:\n"
      .. "  content_mask: the state has %s, this run none\n"):format(dir, id(c)), log)
  end)
end)
