-- nst video -content_video IN -style_image S -output_video OUT [nst flags]: a video
-- stylized with frame-to-frame consistency (nst.video). With -shard I/N (or in a Slurm
-- array task) one chunk is rendered; -assemble blends the chunks into OUT.
local batch = require("nst.batch")
local cli = require("nst.cli")
local cmd_args = require("nst.cmd_args")
local shard = require("nst.shard")
local video = require("nst.video")
local video_io = require("nst.video_io")

local M = {}

M.usage = [[
usage: nst video -content_video IN -style_image S -output_video OUT [nst flags] [video flags]
IN and OUT are frame patterns (frames/%04d.png) or video files (.mp4, .mkv, .mov, .webm;
FFmpeg). Each frame is a transfer with nst's flags (nst --help; -image_size 512 and
-num_iterations 500 by default); from the second frame of a chunk on it starts from the
previous stylized frame warped onto it along the optical flow (OpenCV DIS) and keeps near
it where the flow holds (forward-backward consistency), as Ruder et al.'s temporal loss.
  -content_video IN     the input video or frame pattern (required)
  -output_video OUT     the output video or frame pattern (required)
  -temporal_weight W    weight of the temporal term, on the network's input as -tv_weight
                        (1000, artistic-videos' default); 0 turns it off
  -warp_init 0|1        start each frame from the warped previous result (1)
  -flow_preset P        ultrafast|fast|medium: DIS optical flow's preset (medium)
  -flow_dir DIR         flow files (nst flow writes them ahead; missing ones are computed
                        and written) (<work>/flow)
  -work_dir DIR         the chunks' frames and records (OUT without extension + .nst-work)
  -keep_work 0|1        keep the work folder after writing OUT (0 when it is the default
                        folder; a rerun with it there renders nothing again)
  -shard I/N            render chunk I of N only (0 <= I < N; default: the Slurm array
                        task's), no output written: -assemble does that
  -overlap V            frames two neighbouring chunks both render, cross-faded (10)
  -assemble             blend the rendered chunks into OUT (the flags above but for
                        -shard and -content_video are the run's; nst flags are not needed)
  -fps RATE             the output video's frame rate: a number or num/den (the input
                        video's; 25 for frames)
Frames already rendered from the same inputs and flags are kept: a rerun continues.]]

local FLAGS = {content_video = "string", output_video = "string", temporal_weight = "number", warp_init = "bool",
               flow_preset = "string", flow_dir = "string", work_dir = "string", keep_work = "bool",
               shard = "string", overlap = "integer", assemble = "bool", fps = "string", help = "bool", h = "bool"}

-- Flags that a video run sets per frame itself.
local REFUSED = {content_image = "-content_video", output_image = "-output_video", resume = "nothing (a rerun continues)",
                 init_image = "nothing (frames after a chunk's first start from the warped previous one)"}

local PRESETS = {ultrafast = true, fast = true, medium = true}

local function usage(msg, ...) error({usage = msg:format(...)}, 0) end

-- args -> v (the video flags, defaults filled in), the nst flags' options (nil for
-- -assemble, which needs none), and the flags left for nst (rest).
function M.parse(args)
  local v, rest = cmd_args.split(args, FLAGS)
  if v.help or v.h then return {help = true} end
  for _, a in ipairs(rest) do
    local name = a:match("^%-%-?([%a_][%w_]*)$")
    if name and REFUSED[name] then
      usage("nst video sets -%s per frame: use %s", name, REFUSED[name])
    end
  end
  if not v.output_video then usage("nst video: -output_video is required (see nst video --help)") end
  if not v.content_video and not v.assemble then usage("nst video: -content_video is required (see nst video --help)") end
  v.temporal_weight = v.temporal_weight or 1e3
  if v.content_video and batch.normalize(v.content_video) == batch.normalize(v.output_video) then
    usage("nst video: -output_video is -content_video: the output would overwrite the input")
  end
  if v.temporal_weight < 0 then usage("-temporal_weight must be >= 0, got %g", v.temporal_weight) end
  if v.warp_init == nil then v.warp_init = true end
  v.flow_preset = v.flow_preset or "medium"
  if not PRESETS[v.flow_preset] then usage("-flow_preset: expected ultrafast|fast|medium, got '%s'", v.flow_preset) end
  v.overlap = v.overlap or 10
  if v.overlap < 0 then usage("-overlap must be >= 0, got %d", v.overlap) end
  if v.fps and not (tonumber(v.fps) and tonumber(v.fps) > 0 or v.fps:match("^[1-9]%d*/[1-9]%d*$")) then
    usage("-fps: expected a positive number or num/den, got '%s'", v.fps)
  end
  if v.keep_work == nil then v.keep_work = v.work_dir ~= nil end
  if v.assemble then
    if v.shard then usage("-assemble blends every chunk: no -shard with it") end
    return v, nil, rest
  end
  v.shard = shard.choose(v.shard)
  local o = cli.parse({"-content_image", v.content_video, table.unpack(rest)})
  if o.help then return {help = true} end
  return v, o, rest
end

-- For nst submit: the flags as every task reads them, and the input (its frames, or that
-- the video file is there): what is wrong fails before submitting.
function M.check(args)
  local v = M.parse(args)
  if v.help then usage("nst video: --help is no run") end
  if v.assemble then usage("nst submit video adds the -assemble job itself") end
  if video_io.is_pattern(v.content_video) then
    video_io.list_frames(v.content_video)
  else
    local f, err = io.open(v.content_video, "rb")
    if not f then error("cannot read video " .. err, 0) end
    f:close()
  end
  return v
end

local say = cmd_args.sayer("video")

local function main(args)
  local v, o = M.parse(args)
  if cmd_args.help(v.help, M.usage) then return 0 end
  -- the output is checked before any work (its folder, its kind)
  video_io.output(v.output_video):abort()
  if not v.assemble then
    video.render(v, o, v.shard, say)
    if v.shard then
      say(("chunk %d/%d rendered in %s; nst video ... -assemble writes %s when every chunk is done"):format(
        v.shard.index, v.shard.count, video.work_dir(v), v.output_video))
      return 0
    end
  end
  local plan = video.assemble(v, say)
  if not v.keep_work then video.clean(v, plan) end
  return 0
end

function M.main(args) return cmd_args.run("video", main, args) end

return M
