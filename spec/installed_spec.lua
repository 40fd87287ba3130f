-- nst installed by LuaRocks into a clean tree, run as a user would: `env -i` (no
-- LUA_PATH, no LUA_CPATH, a fresh HOME), from an unrelated folder. The rock's build is
-- CPU-only (NVCC empty) and goes to build-rock/ of the checkout, so a second run of this
-- spec only relinks and installs; the tree itself is new each time. Under make asan the
-- rock is still a plain build (LD_PRELOAD dropped).
local files = require("helpers.files")
local weights = require("helpers.weights")

local ROOT = os.getenv("PWD")
local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function abs(p) return p:sub(1, 1) == "/" and p or ROOT .. "/" .. p end

local function shell(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"status $?\"")
  local out = p:read("a")
  p:close()
  return tonumber(out:match("status (%d+)%s*$")), (out:gsub("status %d+%s*$", ""))
end

describe("nst from a LuaRocks tree", function()
  local tree, home, work, built, build_log
  setup(function()
    tree, home, work = files.tmpdir(), files.tmpdir(), files.tmpdir()
    built, build_log = shell(("cd %s && env -u LD_PRELOAD NVCC= MAKEFLAGS=-j2 nice luarocks --lua-version=5.4 make --tree=%s "
      .. "rockspec/nst-scm-1.rockspec"):format(q(ROOT), q(tree)))
  end)
  teardown(function() os.execute(("rm -rf %s %s %s"):format(q(tree), q(home), q(work))) end)

  -- nst args in the bare environment, from the unrelated folder: status, output
  local function nst(args)
    local words = {}
    for i, a in ipairs(args) do words[i] = q(a) end
    return shell(("cd %s && env -i HOME=%s PATH=%s nst %s"):format(q(work), q(home), q(tree .. "/bin:/usr/bin:/bin"),
      table.concat(words, " ")))
  end

  it("builds offline and installs the command, the modules, the core and convert.py", function()
    assert.are.equal(0, built, build_log)
    for _, p in ipairs{"bin/nst", "share/lua/5.4/nst/cli.lua", "share/lua/5.4/nst/weights.lua",
                       "share/lua/5.4/nst/cmd/weights.lua", "lib/lua/5.4/nst/core.so",
                       "lib/luarocks/rocks-5.4/nst/scm-1/share/nst/convert.py"} do
      assert.truthy(files.exists(tree .. "/" .. p), p)
    end
    local status, log = nst({"--version"})
    assert.are.equal(0, status, log)
    assert.are.equal("nst " .. require("nst").version .. "\n", log)
  end)

  it("says where weights go when there are none, adds them, then runs with only the two images", function()
    assert.are.equal(0, built, build_log)
    local content, style = abs("examples/images/leuven.jpg"), abs("examples/images/starry_night.jpg")
    local run = {"-content_image", content, "-style_image", style, "-image_size", "64", "-num_iterations", "2"}
    local status, log = nst(run)
    assert.are.equal(1, status)
    local store = home .. "/.local/share/nst/weights"
    assert.are.equal(("nst: no VGG16 or VGG19 weights found (looked in %s, %s/share/nst/weights, weights, "
      .. "../shared/weights); give a file with -model_file (Lua: weights = PATH), set NST_WEIGHTS to a file or "
      .. "folder, or install weights with `nst weights download vgg19` or `nst weights add FILE`\n"):format(store, tree),
      log)

    status, log = nst({"weights", "add", abs(weights.vgg19_real())})
    assert.are.equal(0, status, log)
    assert.are.equal(("nst weights: added %s/vgg19.safetensors: vgg19, F16, 40.1 MB, preprocess caffe\n"):format(store),
                     log)
    status, log = nst(run)
    assert.are.equal(0, status, log)
    assert.truthy(log:find("nst: no CUDA device here; running on the CPU", 1, true) or
                  log:find("Iteration 2/2", 1, true), log)
    assert.truthy(log:find(("nst: using vgg19 weights %s/vgg19.safetensors (-model_file to choose)\n"):format(store),
                           1, true), log)
    assert.truthy(log:find("wrote out.png, out.csv, out.svg, out.state.safetensors\n", 1, true), log)
    local img = require("nst").image.load(work .. "/out.png")
    assert.are.same({1, 3, 48, 64}, img:shape())
  end)

  it("converts with the installed convert.py, a one-line reason on a bad file", function()
    assert.are.equal(0, built, build_log)
    files.write(work .. "/vgg16-bad.pth", "not a checkpoint")
    local status, log = nst({"weights", "convert", "vgg16-bad.pth"})
    assert.are.equal(1, status)
    assert.truthy(log:match("^nst weights: cannot convert vgg16%-bad%.pth: vgg16%-bad%.pth is not a PyTorch checkpoint "
      .. "torch can read %([^\n]+%)\n$"), log)
  end)
end)
