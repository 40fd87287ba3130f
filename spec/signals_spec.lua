-- Ctrl-C and SIGTERM during a CLI run: a final checkpoint written atomically and a
-- non-zero exit; a second signal exits at once without a partial file.
local nst = require "nst"

local BUILD = os.getenv("NST_BUILD") or "build"
local ENV = ("LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='%s/?.so;;'"):format(BUILD)
local RUN = [[lua5.4 -e 'os.exit(require("nst.cli").main{"-content_image", "examples/images/leuven.jpg",
  "-style_image", "examples/images/starry_night.jpg", "-model", "vgg19", "-image_size", "48",
  "-num_iterations", "100000", "-print_iter", "0", "-save_iter", "3", "-output_image", "DIR/out.png"})']]

local function shell(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

local function run_and_signal(signals)
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p " .. dir)
  -- start, wait for the first checkpoint, send the signals, report the exit status
  local script = ([[
%s %s > %s/log 2>&1 &
P=$!
for i in $(seq 1 600); do ls %s/out_*.png >/dev/null 2>&1 && break; sleep 0.1; done
for s in %s; do kill -$s $P; sleep 0.05; done
wait $P
echo "status $?"
]]):format(ENV, RUN:gsub("DIR", dir), dir, dir, signals)
  local out = shell(script)
  return dir, tonumber(out:match("status (%d+)")), shell("cat " .. dir .. "/log"), shell("ls " .. dir)
end

describe("signals during a run", function()
  it("SIGINT writes a final checkpoint and exits with 130", function()
    local dir, status, log, files = run_and_signal("INT")
    assert.equal(130, status, log)
    local it, path = log:match("interrupted by SIGINT at iteration (%d+); wrote (%S+)")
    assert.is_not_nil(it, log)
    assert.equal(dir .. "/out_" .. it .. ".png", path)
    local img = nst.image.load(path) -- whole and readable
    assert.same({1, 3, 36, 48}, img:shape())
    assert.is_nil(files:find("tmp"), files)
    -- the CSV, SVG and state of the interrupted iteration
    local rows = 0
    for _ in io.lines(dir .. "/out.csv") do rows = rows + 1 end
    assert.equal(tonumber(it) + 1, rows)
    assert.truthy(files:find("out.svg", 1, true), files)
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
    local dir, status, _, files = run_and_signal("INT INT")
    assert.is_true(status == 130, "status " .. tostring(status))
    assert.is_nil(files:find("tmp"), files)
    for name in files:gmatch("%S+%.png") do nst.image.load(dir .. "/" .. name) end
    os.execute("rm -rf " .. dir)
  end)
end)
