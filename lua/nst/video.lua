-- nst video: a video stylized frame by frame (Ruder et al., "Artistic style transfer for
-- videos"): frame n starts from the stylized frame n-1 warped onto it along the optical
-- flow, and a temporal term (nst.terms.temporal) keeps it near that warped frame where
-- the flow is consistent. The work of a run lives in a work folder:
--   plan.json                 the split: frames, shards, overlap, first number, rate, size
--   flow/<n>.flow.safetensors the flows of frames n-1 and n (nst.video_flow; -flow_dir)
--   chunk_<k>_of_<N>/         chunk k's stylized frames <n>.png and, for each, <n>.json
--                             (its run definition: what it was rendered from), and
--                             chunk.json once the chunk is complete
-- render() does one chunk (all of the video when unsharded); assemble() blends the
-- chunks into the output (nst.video_plan: the cross-fade over the overlaps).
local core = require("nst.core")
local json = require("dkjson")
local batch = require("nst.batch")
local fs = require("nst.fs")
local cli = require("nst.cli")
local options = require("nst.transfer_options")
local run_state = require("nst.run_state")
local video_io = require("nst.video_io")
local vplan = require("nst.video_plan")
local vflow = require("nst.video_flow")

local M = {}

local function fail(msg, ...) error("nst video: " .. msg:format(...), 0) end

local q, exists = fs.q, fs.exists

local function mkdir(path)
  if not fs.mkdir(path) then fail("cannot make the folder %s", path) end
end

local function read_json(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local doc = json.decode(f:read("a"))
  f:close()
  return type(doc) == "table" and doc or nil
end

local function write_json(path, doc) core.write_atomic(path, json.encode(doc, {indent = true}) .. "\n") end

-- The work folder: -work_dir, else beside the output: out.mp4 -> out.nst-work,
-- frames/%04d.png -> frames/_04d.nst-work.
function M.work_dir(v)
  if v.work_dir then return v.work_dir end
  local base = v.output_video:gsub("%.[^./]+$", ""):gsub("%%", "_")
  return base .. ".nst-work"
end

function M.flow_dir(v) return v.flow_dir or (M.work_dir(v) .. "/flow") end

local function chunk_dir(work, k, n) return ("%s/chunk_%d_of_%d"):format(work, k, n) end

local function frame_file(dir, n, ext) return ("%s/%06d.%s"):format(dir, n, ext) end

-- The video's frames: video_io.input plus the number of its first frame (1 for a file).
function M.open(spec)
  local input = video_io.input(spec)
  input.start = 1
  if video_io.is_pattern(spec) then input.start = select(2, video_io.list_frames(spec)) end
  return input
end

-- The options of frame n's transfer: the run's own (o), its content frame and output,
-- and, after a chunk's first frame, the warped previous frame as the start (warp_init)
-- and as the temporal term's target under the consistency mask (temporal_weight > 0).
local function frame_options(v, o, path, out, warped, mask)
  local fo = {}
  for k, val in pairs(o) do fo[k] = val end
  fo.content_image, fo.output, fo.state, fo.plots, fo.save_iter = path, out, false, false, 0
  -- one scale per frame: the temporal term (frames 2, ...) needs the output's size, and
  -- frame 1 must look like the rest (scales default to coarse-to-fine from 384 px)
  fo.scales = {o.image_size or options.defaults.image_size}
  if warped and v.warp_init then fo.init, fo.init_image = "file", warped end
  if warped and v.temporal_weight > 0 then
    fo.temporal_weight, fo.temporal_image, fo.temporal_mask = v.temporal_weight, warped, mask
  end
  return fo
end

-- Renders frame n unless its image and record say it was rendered from these very
-- inputs; returns "rendered" or "kept".
local function render_frame(fo, net, out, rec)
  local user = {}
  for k, val in pairs(fo) do user[k] = val end
  local def = run_state.definition({opts = options.check(user), net = net, device = net.device})
  local saved = read_json(rec)
  if exists(out) and saved and type(saved.run) == "table" and batch.same(def, saved.run) then return "kept" end
  os.remove(rec)
  local ok, err = pcall(require("nst.transfer"), fo)
  if not ok then
    -- an interrupt writes a checkpoint image (<n>_<it>.png); a frame is redone whole
    local cp = tostring(err):match("; wrote (%S+)$")
    if cp then os.remove(cp) end
    error(err, 0)
  end
  write_json(rec, {format = "nst-video-frame", run = def})
  return "rendered"
end

-- Renders chunk `shard` (nil: the whole video) of v with the transfer options o (parsed
-- by nst.cli; their output is set per frame). log(line) reports progress.
function M.render(v, o, shard, log)
  local input = M.open(v.content_video)
  local ok, err = pcall(function()
    local F = #input.frames
    local N, k = shard and shard.count or 1, shard and shard.index or 0
    local c = vplan.chunks(F, N, v.overlap)[k + 1]
    local work = M.work_dir(v)
    local dir, fdir = chunk_dir(work, k, N), M.flow_dir(v)
    mkdir(dir)
    mkdir(fdir)
    -- the frames as the transfer loads them: at image_size, the default's when not given
    local fsize = o.image_size or options.defaults.image_size
    local size = vflow.load_frame(input.frames[1], fsize):shape()
    write_json(work .. "/plan.json", {format = "nst-video-plan", frames = F, shards = N, overlap = v.overlap,
                                      start = input.start, rate = input.rate, width = size[4], height = size[3]})
    local where = shard and ("shard %d/%d (frames %d-%d), "):format(k, N, c.first, c.last) or ""
    if c.last < c.first then
      log(("%sno frames (%d frames for %d shards)"):format(where, F, N))
    else
      o.output = frame_file(dir, c.first, "png")
      cli.prepare(o)
      local net = batch.network_cache(log)(batch.describe_network(o))
      local ids, prev, fprev = {}, nil, nil
      for n = c.first, c.last do
        local t0 = core.clock()
        local path, out = input.frames[n], frame_file(dir, n, "png")
        local fcur = vflow.load_frame(path, fsize)
        local warped, mask
        if prev then
          local fwd, bwd = vflow.get(input.frames[n - 1], path, {dir = fdir, n = n, size = fsize,
                                                                 preset = v.flow_preset, ids = ids}, fprev, fcur)
          warped, mask = vflow.warp_previous(prev, fwd, bwd)
        end
        local fo = frame_options(v, o, path, out, warped, mask)
        fo.net = net
        fo.printer = function(r, opts)
          io.stdout:write(("frame %d: "):format(n), cli.progress_line(r, opts.num_iterations, core.clock() - t0), "\n")
          io.stdout:flush()
        end
        local what = render_frame(fo, net, out, frame_file(dir, n, "json"))
        log(("%sframe %d/%d: %s in %.1f s"):format(where, n, F, what, core.clock() - t0))
        prev, fprev = core.image.load(out), fcur
      end
    end
    write_json(dir .. "/chunk.json", {format = "nst-video-chunk", shard = k, shards = N, frames = F,
                                      overlap = v.overlap, first = c.first, last = c.last})
  end)
  input:close()
  if not ok then error(err, 0) end
end

-- Copies a file's bytes (one chunk's frame that is the output's as it is).
local function copy(from, to)
  local f = assert(io.open(from, "rb"))
  local s = f:read("a")
  f:close()
  core.write_atomic(to, s)
end

local function ext(path) return (path:match("%.([%w]+)$") or ""):lower() end

-- Checks that every chunk of the plan is complete; returns the chunks.
local function complete_chunks(work, plan, v)
  local chunks = vplan.chunks(plan.frames, plan.shards, plan.overlap)
  local missing = {}
  for _, c in ipairs(chunks) do
    local m = read_json(chunk_dir(work, c.index, plan.shards) .. "/chunk.json")
    if not (m and m.frames == plan.frames and m.overlap == plan.overlap and m.first == c.first and m.last == c.last) then
      missing[#missing + 1] = ("%d/%d"):format(c.index, plan.shards)
    end
  end
  if #missing > 0 then
    fail("%s: %d of %d chunks are not complete (shard %s): render them first (nst video ... -shard I/N)",
         v.output_video, #missing, plan.shards, table.concat(missing, ", "))
  end
  return chunks
end

-- Blends the chunks of the work folder into v.output_video: a frame of one chunk as it
-- is, a frame of two the cross-fade (1 - a)·A + a·B. Nothing is written before every
-- chunk is known complete; a video file appears only whole. log(line) reports.
function M.assemble(v, log)
  local work = M.work_dir(v)
  local plan = read_json(work .. "/plan.json")
  if not plan or plan.format ~= "nst-video-plan" then
    fail("%s: nothing to assemble: %s/plan.json is missing (nst video renders the chunks first)", v.output_video, work)
  end
  local chunks = complete_chunks(work, plan, v)
  local out = video_io.output(v.output_video, {fps = v.fps or plan.rate or 25, start = plan.start})
  local ok, err = pcall(function()
    for n = 1, plan.frames do
      local dest = out:frame(n)
      local w = vplan.weights(chunks, n)
      local function src(i) return frame_file(chunk_dir(work, w[i].chunk.index, plan.shards), n, "png") end
      if #w == 1 and ext(dest) == "png" then
        copy(src(1), dest)
      elseif #w == 1 then
        core.image.save(core.image.load(src(1)), dest)
      else
        local a, b = core.image.load(src(1)), core.image.load(src(2))
        core.image.save(a * w[1].weight + b * w[2].weight, dest)
      end
    end
  end)
  if not ok then
    out:abort()
    error(err, 0)
  end
  out:finish()
  log(("wrote %s: %d frames from %d chunk%s"):format(v.output_video, plan.frames, plan.shards,
                                                    plan.shards == 1 and "" or "s"))
  return plan, chunks
end

-- Removes the work folder's chunks and plan, and its flow folder unless it is the user's.
function M.clean(v, plan)
  local work = M.work_dir(v)
  for k = 0, plan.shards - 1 do fs.remove_tree(chunk_dir(work, k, plan.shards)) end
  os.remove(work .. "/plan.json")
  if not v.flow_dir then fs.remove_tree(work .. "/flow") end
  os.execute("rmdir -- " .. q(work) .. " 2>/dev/null")
end

-- nst flow: the flows of the frame pairs of the shard (contiguous ranges), files kept
-- in the flow folder; existing ones that match are left. Returns computed, kept.
function M.flows(v, shard, log)
  local input = M.open(v.content_video)
  local done, kept = 0, 0
  local ok, err = pcall(function()
    local F = #input.frames
    local lo, hi = vplan.range(2, F, shard)
    local dir = M.flow_dir(v)
    mkdir(dir)
    local ids, prev = {}, nil
    for n = lo, hi do
      local t0 = core.clock()
      prev = prev or vflow.load_frame(input.frames[n - 1], v.image_size)
      local cur = vflow.load_frame(input.frames[n], v.image_size)
      local _, _, computed = vflow.get(input.frames[n - 1], input.frames[n],
                                       {dir = dir, n = n, size = v.image_size, preset = v.flow_preset, ids = ids}, prev, cur)
      if computed then done = done + 1 else kept = kept + 1 end
      log(("flow %d -> %d: %s in %.0f ms"):format(n - 1, n, computed and "computed" or "kept", (core.clock() - t0) * 1000))
      prev = cur
    end
  end)
  input:close()
  if not ok then error(err, 0) end
  return done, kept
end

return M
