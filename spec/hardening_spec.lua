-- Hardening: concurrent writers never tear a file; limits are enforced before large
-- allocations; memory held by dropped tensors is collected.
local nst = require("nst")
local files = require("helpers.files")
local tmpdir, rss_mib = files.tmpdir, files.rss_mib

local LUA = "LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='" .. (os.getenv("NST_BUILD") or "build") .. "/?.so;;' lua5.4"

describe("atomic saves", function()
  it("two processes writing the same path at once never leave a torn file", function()
    local dir = tmpdir()
    local target = dir .. "/out.png"
    -- each writer saves its own constant image 30 times
    local writer = [[local nst = require "nst"; local v = tonumber(arg[2]); local img = nst.full({1, 3, 96, 128}, v)
      for i = 1, 30 do nst.image.save(img, arg[1]) end]]
    local script = dir .. "/writer.lua"
    local f = assert(io.open(script, "w")); f:write(writer); f:close()
    assert(os.execute(("%s %s %s 0.25 & %s %s %s 0.75 & wait"):format(LUA, script, target, LUA, script, target)))
    -- and a reader in this process while two more writers run
    os.execute(("(%s %s %s 0.25 & %s %s %s 0.75 & wait) >/dev/null 2>&1 &"):format(LUA, script, target, LUA, script, target))
    local loads = 0
    local t0 = nst.clock()
    while nst.clock() - t0 < 2 do
      local img = nst.image.load(target) -- must always be one whole image
      local m = img:mean():item()
      assert.is_true(math.abs(m - 0.25) < 0.01 or math.abs(m - 0.75) < 0.01, "mixed image, mean " .. m)
      loads = loads + 1
    end
    os.execute("sleep 1")
    assert.is_true(loads > 5)
    local p = io.popen("ls '" .. dir .. "'")
    local names = p:read("a")
    p:close()
    assert.is_nil(names:find("tmp"), "temporary files left: " .. names)
    files.rm_rf(dir)
  end)
end)

describe("limits", function()
  it("are configurable from Lua and refuse tensors past them before allocating", function()
    local old = nst.limits()
    nst.set_limits{max_tensor_bytes = 1024}
    local ok, err = pcall(nst.zeros, 16, 17)
    nst.set_limits(old)
    assert.is_false(ok)
    assert.matches("tensor too large: more than the limit of 1024 bytes", err)
    assert.equal(old.max_tensor_bytes, nst.limits().max_tensor_bytes)
  end)
  it("refuse an image with more pixels than allowed", function()
    local old = nst.limits()
    nst.set_limits{max_image_pixels = 1000}
    local ok, err = pcall(nst.image.load, "examples/images/leuven.jpg")
    nst.set_limits(old)
    assert.is_false(ok)
    assert.matches("751x563 %(422813 pixels%), more than the limit of 1000 pixels", err)
  end)
  it("refuse non-integer and negative limits", function()
    assert.has_error(function() nst.set_limits{max_tensor_bytes = -1} end)
    assert.has_error(function() nst.set_limits{max_image_pixels = 1.5} end)
  end)
end)

describe("memory", function()
  it("collects dropped tensors when they hold much memory", function()
    collectgarbage()
    local before = rss_mib()
    -- 200 x 16 MiB: 3.2 GiB if nothing were collected before the loop ends
    for i = 1, 200 do
      local t = nst.zeros(4, 1024, 1024)
      t:fill(i)
    end
    local grown = rss_mib() - before
    assert.is_true(grown < 1024, ("resident memory grew by %.0f MiB"):format(grown))
  end)
end)

describe("non-finite losses", function()
  it("stop the run naming the iteration, and keep the last good checkpoint", function()
    local dir = tmpdir()
    local ok, err = pcall(nst.transfer, {
      content_image = "examples/images/leuven.jpg", style_images = {"examples/images/starry_night.jpg"},
      model = "vgg19", image_size = 32, num_iterations = 10, print_iter = 0, save_iter = 2,
      output = dir .. "/out.png", handle_signals = false,
      on_iter = function(it, img) if it == 3 then img:fill(0 / 0) end end, -- poison the image
    })
    assert.is_false(ok)
    assert.matches("the loss became %-?nan at iteration 4", err)
    assert.matches("the last checkpoint is kept", err)
    local good = nst.image.load(dir .. "/out_2.png")
    assert.is_true(good:mean():item() > 0.05)
    assert.is_nil(io.open(dir .. "/out_4.png"), "a checkpoint of the bad image was written")
    assert.is_nil(io.open(dir .. "/out.png"), "a final image of the bad run was written")
    files.rm_rf(dir)
  end)
end)
