-- nst flow -content_video IN (-flow_dir DIR | -output_video OUT) [-image_size N]
-- [-flow_preset P] [-shard I/N]: the optical flow of every pair of consecutive frames,
-- ahead of nst video (which reads the files it finds and computes the rest).
local cmd_args = require("nst.cmd_args")
local shard = require("nst.shard")
local video = require("nst.video")

local M = {}

M.usage = [[
usage: nst flow -content_video IN (-flow_dir DIR | -output_video OUT [-work_dir DIR]) [flags]
Computes the forward and backward optical flow of every pair of consecutive frames of IN
(a frame pattern or a video file) into DIR, one file per frame, for nst video (its
-flow_dir; by default <work>/flow of its -output_video, as here). Frames whose file is
already there for the same frames, size and preset are left as they are.
  -image_size N     the longer side the frames are stylized at: nst video's -image_size (512)
  -flow_preset P    ultrafast|fast|medium (medium)
  -shard I/N        the I-th of N contiguous ranges of frames (default: the Slurm array
                    task's), so that nst submit flow ... -tasks N runs them in parallel]]

local FLAGS = {content_video = "string", output_video = "string", flow_dir = "string", work_dir = "string",
               image_size = "integer", flow_preset = "string", shard = "string", help = "bool", h = "bool"}

local function usage(msg, ...) error({usage = msg:format(...)}, 0) end

function M.parse(args)
  local v, rest = cmd_args.split(args, FLAGS)
  if v.help or v.h then return {help = true} end
  if #rest > 0 then usage("nst flow: unexpected argument '%s' (see nst flow --help)", rest[1]) end
  if not v.content_video then usage("nst flow: -content_video is required (see nst flow --help)") end
  if not (v.flow_dir or v.output_video or v.work_dir) then
    usage("nst flow: -flow_dir (or nst video's -output_video) is required: where the flow files go")
  end
  v.output_video = v.output_video or "video"
  v.image_size = v.image_size or require("nst.transfer_options").defaults.image_size
  if v.image_size < 16 then usage("-image_size must be 16 or more for flow, got %d", v.image_size) end
  v.flow_preset = v.flow_preset or "medium"
  if not ({ultrafast = true, fast = true, medium = true})[v.flow_preset] then
    usage("-flow_preset: expected ultrafast|fast|medium, got '%s'", v.flow_preset)
  end
  v.shard = shard.choose(v.shard)
  return v
end

M.check = M.parse

local say = cmd_args.sayer("flow")

local function main(args)
  local v = M.parse(args)
  if cmd_args.help(v.help, M.usage) then return 0 end
  local done, kept = video.flows(v, v.shard, say)
  say(("%s%d computed, %d already there, in %s"):format(v.shard and shard.name(v.shard) .. ": " or "", done, kept,
                                                        video.flow_dir(v)))
  return 0
end

function M.main(args) return cmd_args.run("flow", main, args) end

return M
