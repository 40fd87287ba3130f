-- OpenCV's own cv::remap as a test oracle for nst.warp: spec/helpers/opencv_remap.cpp,
-- compiled on first use (g++ and Debian's libopencv-imgproc-dev, which
-- libopencv-video-dev brings) into a temporary folder.
local nst = require("nst")
local files = require("helpers.files")

local M = {}
local dir, exe

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function build()
  if exe then return exe end
  dir = files.tmpdir()
  local out = dir .. "/opencv_remap"
  local cmd = ("g++ -O1 -std=c++17 -isystem /usr/include/opencv4 %s -o %s -lopencv_imgproc -lopencv_core 2>%s"):format(
    q("spec/helpers/opencv_remap.cpp"), q(out), q(dir .. "/build.log"))
  if not os.execute(cmd) then
    error("cannot build the OpenCV remap oracle: " .. files.read(dir .. "/build.log"))
  end
  exe = out
  return exe
end

-- img (1,C,H,W), flow (1,2,H,W) CPU tensors -> cv::remap's result (1,C,H,W).
function M.remap(img, flow, border)
  local bin = build()
  local s = img:shape()
  local c, h, w = s[2], s[3], s[4]
  files.write(dir .. "/img.raw", img:bytes())
  files.write(dir .. "/flow.raw", flow:bytes())
  local cmd = table.concat({q(bin), c, h, w, q(border or "replicate"), q(dir .. "/img.raw"),
                            q(dir .. "/flow.raw"), q(dir .. "/out.raw")}, " ")
  assert(os.execute(cmd), "opencv_remap failed: " .. cmd)
  return nst.from_bytes(files.read(dir .. "/out.raw"), 1, c, h, w)
end

function M.cleanup()
  if dir then os.execute("rm -rf " .. q(dir)) end
  dir, exe = nil, nil
end

return M
