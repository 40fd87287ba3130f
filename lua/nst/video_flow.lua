-- The optical flow of a video's consecutive frames, computed once and kept as files
-- (nst flow writes them ahead; nst video reads them, and computes and writes the ones
-- missing). Frame n's file, <dir>/<n as %06d>.flow.safetensors (n >= 2), holds
--   forward   (1,2,H,W) the flow from frame n-1 to frame n (nst.flow)
--   backward  (1,2,H,W) the flow from frame n to frame n-1
-- and metadata nst_flow: JSON {format = "nst-flow", version = 1, previous, current (the
-- two frames' files by size and hash, nst.run_state.identity), size "WxH" (the frames'
-- size the flow was computed at: the stylized frames' size), preset}. A file whose
-- metadata differs from what is asked for is computed again.
local core = require("nst.core")
local json = require("dkjson")
local run_state = require("nst.run_state")
local images = require("nst.transfer_images")

local M = {}

M.FORMAT, M.VERSION = "nst-flow", 1

function M.path(dir, n) return ("%s/%06d.flow.safetensors"):format(dir, n) end

-- A frame as the transfer sees it: at image_size (nil: as it is), on the CPU.
function M.load_frame(path, size) return images.load(path, size) end

-- What a flow file of frames a -> b must say. ids: a cache {path = identity}.
local function want(a, b, size, preset, ids)
  ids[a] = ids[a] or run_state.identity(a)
  ids[b] = ids[b] or run_state.identity(b)
  return {format = M.FORMAT, version = M.VERSION, previous = ids[a], current = ids[b], size = size, preset = preset}
end

local function matches(path, w)
  local f = io.open(path, "rb")
  if not f then return nil end
  f:close()
  local ok, t, meta = pcall(core.safetensors.load, path)
  if not ok or not meta or not meta.nst_flow then return nil end
  local doc = json.decode(meta.nst_flow)
  if type(doc) ~= "table" then return nil end
  for k, v in pairs(w) do
    if doc[k] ~= v then return nil end
  end
  if not (t.forward and t.backward) then return nil end
  return t.forward, t.backward
end

-- The flows between frames a and b (paths): forward a -> b and backward b -> a, at the
-- size of fa and fb (the frames as loaded; nil: loaded here at opts.size). opts: dir
-- (where flow files are; nil: none kept), n (b's frame number, for the file's name),
-- size (image_size), preset ("medium"), ids (identity cache). Returns forward, backward,
-- and whether they were computed (false: read from the file).
function M.get(a, b, opts, fa, fb)
  local preset = opts.preset or "medium"
  fa = fa or M.load_frame(a, opts.size)
  fb = fb or M.load_frame(b, opts.size)
  local s = fb:shape()
  local w = want(a, b, ("%dx%d"):format(s[4], s[3]), preset, opts.ids or {})
  local path = opts.dir and M.path(opts.dir, opts.n)
  if path then
    local fwd, bwd = matches(path, w)
    if fwd then return fwd, bwd, false end
  end
  local fwd, bwd = core.flow(fa, fb, {preset = preset, backward = true})
  if path then core.safetensors.save(path, {forward = fwd, backward = bwd}, {nst_flow = json.encode(w)}) end
  return fwd, bwd, true
end

-- The previous frame's stylized result pulled onto frame n along the backward flow, and
-- where that holds (the consistency mask, (1,1,H,W) of 0/1: 0 at disocclusions and
-- motion boundaries).
function M.warp_previous(prev, fwd, bwd)
  return core.warp(prev, bwd), core.flow_consistency(fwd, bwd)
end

return M
