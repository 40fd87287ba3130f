-- Ctrl-C and SIGTERM during a CLI run: a final checkpoint written atomically and a
-- non-zero exit; a second signal exits at once without a partial file.
local nst = require("nst")

local files = require("helpers.files")
local cli = require("helpers.cli_process")

-- A long run at 48 px, signalled once its first checkpoint exists: the folder, the exit
-- status, the log and the folder's names (one string).
local function run_and_signal(signals)
  local dir = files.tmpdir()
  local status, log = cli.run_and_signal({"-content_image", "examples/images/leuven.jpg",
    "-style_image", "examples/images/starry_night.jpg", "-model", "vgg19", "-image_size", "48",
    "-num_iterations", "100000", "-print_iter", "0", "-save_iter", "3", "-output_image", dir .. "/out.png"},
    dir .. "/out_*.png", signals)
  return dir, status, log, table.concat(files.ls(dir), "\n")
end

describe("signals during a run", function()
  it("SIGINT writes a final checkpoint and exits with 130", function()
    local dir, status, log, names = run_and_signal("INT")
    assert.equal(130, status, log)
    local it, path = log:match("interrupted by SIGINT at iteration (%d+); wrote (%S+)")
    assert.is_not_nil(it, log)
    assert.equal(dir .. "/out_" .. it .. ".png", path)
    local img = nst.image.load(path) -- whole and readable
    assert.same({1, 3, 36, 48}, img:shape())
    assert.is_nil(names:find("tmp"), names)
    -- the CSV, SVG and state of the interrupted iteration
    local rows = 0
    for _ in io.lines(dir .. "/out.csv") do rows = rows + 1 end
    assert.equal(tonumber(it) + 1, rows)
    assert.truthy(names:find("out.svg", 1, true), names)
    assert.equal(tonumber(it), require("nst.run_state").read(dir .. "/out.state.safetensors").doc.iteration)
    os.execute("rm -rf " .. dir)
  end)
  it("SIGTERM does the same with 143", function()
    local dir, status, log = run_and_signal("TERM")
    assert.equal(143, status, log)
    assert.matches("interrupted by SIGTERM", log)
    os.execute("rm -rf " .. dir)
  end)
  it("a second SIGINT exits at once and leaves no partial file", function()
    local dir, status, _, names = run_and_signal("INT INT")
    assert.is_true(status == 130, "status " .. tostring(status))
    assert.is_nil(names:find("tmp"), names)
    for name in names:gmatch("%S+%.png") do nst.image.load(dir .. "/" .. name) end
    os.execute("rm -rf " .. dir)
  end)
end)
