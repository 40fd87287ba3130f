-- neural-style's examples/multigpu_scripts/starry_stanford.sh through nst: its five
-- command lines (multi-scale: each starts from the previous output; -cudnn_autotune
-- alone at the end, -gpu 0,1 and 0,1,2,3, -multigpu_strategy, -lbfgs_num_correction 5)
-- with only the command name, the model file and the sizes changed (tiny images and a
-- few iterations, so that it runs on the CPU in seconds).
local nst = require("nst")
local files = require("helpers.files")
local weights = require("helpers.weights")

local cli = require("helpers.cli_process")

-- The script's flags, command by command, as the script has them.
local COMMANDS = {
  [[-content_image $CONTENT_IMAGE -style_image $STYLE_IMAGE -style_scale $STYLE_SCALE -print_iter 1
    -style_weight $STYLE_WEIGHT -image_size 256 -output_image out1.png -tv_weight 0
    -backend cudnn -cudnn_autotune]],
  [[-content_image $CONTENT_IMAGE -style_image $STYLE_IMAGE -init image -init_image out1.png
    -style_scale $STYLE_SCALE -print_iter 1 -style_weight $STYLE_WEIGHT -image_size 512 -num_iterations 500
    -output_image out2.png -tv_weight 0 -backend cudnn -cudnn_autotune]],
  [[-content_image $CONTENT_IMAGE -style_image $STYLE_IMAGE -init image -init_image out2.png
    -style_scale $STYLE_SCALE -print_iter 1 -style_weight $STYLE_WEIGHT -image_size 1024 -num_iterations 200
    -output_image out3.png -tv_weight 0 -backend cudnn -cudnn_autotune]],
  [[-content_image $CONTENT_IMAGE -style_image $STYLE_IMAGE -init image -init_image out3.png
    -style_scale $STYLE_SCALE -print_iter 1 -style_weight $STYLE_WEIGHT -image_size 2048 -num_iterations 100
    -output_image out4.png -tv_weight 0 -gpu 0,1 -backend cudnn]],
  [[-content_image $CONTENT_IMAGE -style_image $STYLE_IMAGE -init image -init_image out4.png
    -style_scale $STYLE_SCALE -print_iter 1 -style_weight $STYLE_WEIGHT -image_size 3620 -num_iterations 50
    -save_iter 25 -output_image out5.png -tv_weight 0 -lbfgs_num_correction 5 -gpu 0,1,2,3
    -multigpu_strategy 3,6,12 -backend cudnn]],
}

-- The changes: sizes (256..3620 -> 32..64) and iterations (the first command's default
-- 1000 and the others' -> 3; -save_iter 25 -> 2 so the last one still checkpoints).
local SIZES = {["256"] = 32, ["512"] = 40, ["1024"] = 48, ["2048"] = 56, ["3620"] = 64}

local function script(nst_cmd)
  local lines = {"STYLE_IMAGE=starry_night_gigapixel.jpg", "CONTENT_IMAGE=examples/inputs/hoovertowernight.jpg",
                 "STYLE_WEIGHT=5e2", "STYLE_SCALE=1.0", "set -e"}
  for _, c in ipairs(COMMANDS) do
    c = c:gsub("%s+", " "):gsub("%-image_size (%d+)", function(n) return "-image_size " .. SIZES[n] end)
    c = c:gsub("%-num_iterations %d+", ""):gsub("%-save_iter 25", "-save_iter 2")
    lines[#lines + 1] = nst_cmd .. " " .. c .. " -num_iterations 3"
  end
  return table.concat(lines, "\n") .. "\n"
end

describe("neural-style's starry_stanford.sh", function()
  it("runs through nst with only the command, the model file and the sizes changed", function()
    local dir = files.tmpdir()
    assert(os.execute(("mkdir -p '%s/examples/inputs' && cp examples/images/starry_night.jpg "
      .. "'%s/starry_night_gigapixel.jpg' && cp examples/images/leuven.jpg '%s/examples/inputs/hoovertowernight.jpg'")
      :format(dir, dir, dir)))
    local nst_cmd = cli.command{"-model_file", os.getenv("PWD") .. "/" .. weights.vgg19_real(), "-model", "vgg19"}
    files.write(dir .. "/run.sh", script(nst_cmd))
    local p = io.popen(("cd '%s' && bash run.sh 2>&1; echo \"status $?\""):format(dir))
    local log = p:read("a")
    p:close()
    assert.truthy(log:find("status 0", 1, true), log)
    for i, size in ipairs{32, 40, 48, 56, 64} do
      local img = nst.image.load(("%s/out%d.png"):format(dir, i))
      assert.are.equal(size, img:shape()[4], log) -- landscape: the width is the longer side
    end
    assert.truthy(files.exists(dir .. "/out5_2.png"), log)
    assert.truthy(log:find("nst: -gpu 0,1: nst runs on one GPU; using device 0", 1, true), log)
    files.rm_rf(dir)
  end)
end)
