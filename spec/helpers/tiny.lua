-- Fast runs for the batch, submit and video specs: nst flags for a few iterations of a
-- tiny random VGG16 (its first 4 convolutions) on the CPU, and small images.
--   local tiny = require("helpers.tiny")
--   local args = tiny.flags({"-content_image", "a.png"})   -- + the common flags
--   tiny.images(dir, 3)                                     -- dir/c1.png ... dir/c3.png
local nst = require("nst")
local weights = require("helpers.weights")
local cli = require("helpers.cli_process")

local M = {}

-- The flags every tiny run shares (the style image is examples' starry_night).
function M.common(size)
  return {"-style_image", "examples/images/starry_night.jpg", "-model_file", weights.vgg("vgg16", nil, {layers = 4}),
          "-gpu", "-1", "-image_size", tostring(size or 32), "-content_layers", "relu2_2",
          "-style_layers", "relu1_2,relu2_2", "-num_iterations", "3", "-print_iter", "0"}
end

-- extra, then the common flags.
function M.flags(extra, size)
  local a = {}
  for _, v in ipairs(extra or {}) do a[#a + 1] = v end
  for _, v in ipairs(M.common(size)) do a[#a + 1] = v end
  return a
end

-- n random 24x32 PNG images dir/c<i>.png (seeded); returns their paths.
function M.images(dir, n)
  nst.manual_seed(11)
  local paths = {}
  for i = 1, n do
    paths[i] = ("%s/c%d.png"):format(dir, i)
    nst.image.save(nst.rand(1, 3, 24, 32), paths[i])
  end
  return paths
end

-- Flags for a short run of the real VGG19 (helpers.weights) at 32 px, leuven x starry night,
-- on the CPU, writing out; extra after them (of a flag given twice, the later one counts).
function M.real(out, style_layers, extra)
  local a = {"-content_image", "examples/images/leuven.jpg", "-style_image", "examples/images/starry_night.jpg",
             "-model", "vgg19", "-model_file", weights.vgg19_real(), "-gpu", "-1", "-image_size", "32",
             "-content_layers", "relu3_1", "-style_layers", style_layers, "-print_iter", "0",
             "-output_image", out}
  for _, v in ipairs(extra or {}) do a[#a + 1] = v end
  return a
end

-- Runs nst with an environment prefix ("A=1 B=2 "): exit status, output.
function M.run_env(env, args)
  local p = io.popen(env .. cli.command(args) .. " 2>&1; echo \"status $?\"")
  local out = p:read("a")
  p:close()
  return tonumber(out:match("status (%d+)%s*$")), (out:gsub("status %d+%s*$", ""))
end

return M
