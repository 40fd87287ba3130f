-- Video in and out for nst: frame patterns (frames/%04d.png) and video files, decoded and
-- encoded by Debian's FFmpeg (the ffmpeg and ffprobe commands, run with every argument
-- quoted and every exit status checked). Errors name the file and what is wrong; an
-- encoded video appears only whole (written under a temporary name, then renamed).
--
--   local video_io = require("nst.video_io")
--   local input = video_io.input("clip.mp4")       -- or "frames/%04d.png"
--   for i, path in ipairs(input.frames) do ... end  -- PNG/JPEG files, in order
--   local out = video_io.output("out.mp4", {fps = input.fps})
--   nst.image.save(img, out:frame(i))                -- for each frame i = 1, 2, ...
--   out:finish(); input:close()
local core = require("nst.core")
local fs = require("nst.fs")

local M = {}

local function fail(fmt, ...) error("nst.video_io: " .. fmt:format(...), 0) end

local q, exists, is_dir, read_file = fs.q, fs.exists, fs.is_dir, fs.read

-- FFmpeg takes "-x" as an option and "a:b" as protocol a; "file:" forces a plain file.
local function ff_path(p) return q("file:" .. p) end

local function dirname(path) return path:match("^(.*)/[^/]*$") or "." end
local function basename(path) return path:match("([^/]*)$") end

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  if not os.execute("mkdir -m 700 " .. q(d)) then fail("cannot make a temporary folder %s", d) end
  return d
end

local remove_tree = fs.remove_tree

local function need(tool)
  if not os.execute("command -v " .. tool .. " >/dev/null 2>&1") then
    fail("%s not found: install Debian's ffmpeg package (apt-get install ffmpeg)", tool)
  end
end

-- Runs a shell command; returns its stdout, or fails with what (and the last lines of
-- its stderr) when it exits non-zero.
local function run(cmd, what)
  local err = os.tmpname()
  local p = assert(io.popen(cmd .. " 2>" .. q(err), "r"))
  local out = p:read("a")
  local ok, how, code = p:close()
  local msg = read_file(err):gsub("%s+$", "")
  os.remove(err)
  if not ok then
    local tail = msg:match("([^\n]*\n?[^\n]*)$") or msg
    fail("%s (%s %s)%s", what, how, tostring(code), tail ~= "" and (": " .. tail) or "")
  end
  return out
end

-- ---- frame patterns ---------------------------------------------------------

-- Splits a frame pattern into its folder and the file name's text before and after the
-- number (with %% read as %) and the number's printf form (%d or %0Nd); fails with why
-- it is not a pattern.
local function parse_pattern(pattern)
  if type(pattern) ~= "string" then fail("expected a frame pattern, got %s", type(pattern)) end
  local dir, name = dirname(pattern), basename(pattern)
  if dir:find("%", 1, true) then fail("%s: the frame number (%%d) must be in the file name", pattern) end
  local parts, spec, i = {{}, {}}, nil, 1
  while i <= #name do
    local ch = name:sub(i, i)
    if ch ~= "%" then
      table.insert(parts[spec and 2 or 1], ch)
      i = i + 1
    elseif name:sub(i + 1, i + 1) == "%" then
      table.insert(parts[spec and 2 or 1], "%")
      i = i + 2
    else
      local w = name:match("^d", i + 1) or name:match("^0%dd", i + 1)
      if not w then fail("%s: only %%d, %%0Nd and %%%% may follow %% in a frame pattern", pattern) end
      if spec then fail("%s: a frame pattern has one %%d or %%0Nd, not two", pattern) end
      spec, i = "%" .. w, i + 1 + #w
    end
  end
  if not spec then fail("%s: a frame pattern needs a %%d or %%0Nd in its file name", pattern) end
  local pre, post = table.concat(parts[1]), table.concat(parts[2])
  local function lit(t) return (t:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")) end
  return {dir = dir, prefix = pattern:match("^(.*/)") or "", pre = pre, post = post, spec = spec, match = "^" .. lit(pre) .. "(%d+)" .. lit(post) .. "$"}
end

-- A frame pattern has exactly one %d or %0Nd in its file name (%% is a literal %).
function M.is_pattern(s) return (pcall(parse_pattern, s)) end

-- Frame number n's file name under a parsed pattern.
local function frame_name(p, n) return p.pre .. p.spec:format(n) .. p.post end

local function list_dir(dir)
  local names = {}
  local p = assert(io.popen("ls -1A -- " .. q(dir) .. " 2>/dev/null", "r"))
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  return names
end

-- Every frame must have the size of the first (nst.image.info reads headers only).
function M.check_sizes(paths)
  local first
  for _, path in ipairs(paths) do
    local ok, info = pcall(core.image.info, path)
    if not ok then fail("cannot read frame %s: %s", path, tostring(info)) end
    if not first then
      first = info
      first.path = path
    elseif info.width ~= first.width or info.height ~= first.height then
      fail("frame %s is %dx%d but %s is %dx%d: all frames must have one size", path, info.width,
           info.height, first.path, first.width, first.height)
    end
  end
  return first.width, first.height
end

-- The frames of a pattern, in order: a list of paths and the first frame's number. Fails
-- when none exist, when a number between the first and the last is missing, or when
-- their sizes differ.
function M.list_frames(pattern)
  local p = parse_pattern(pattern)
  if not is_dir(p.dir) then fail("%s: folder %s does not exist", pattern, p.dir) end
  local numbers = {}
  for _, name in ipairs(list_dir(p.dir)) do
    local digits = name:match(p.match)
    local n = digits and tonumber(digits)
    if n and frame_name(p, n) == name then numbers[#numbers + 1] = n end
  end
  if #numbers == 0 then fail("%s: no frames (no file in %s matches)", pattern, p.dir) end
  table.sort(numbers)
  local paths = {}
  for i, n in ipairs(numbers) do
    local want = numbers[1] + i - 1
    if n ~= want then
      fail("%s: frame %d (%s) is missing; frames %d-%d and %d-%d exist", pattern, want,
           p.prefix .. frame_name(p, want), numbers[1], want - 1, n, numbers[#numbers])
    end
    paths[i] = p.prefix .. frame_name(p, n)
  end
  M.check_sizes(paths)
  return paths, numbers[1]
end

-- ---- video files ------------------------------------------------------------

-- {width, height, fps (a number), rate (FFmpeg's "num/den"), frames (from the header;
-- may be nil)} of a video file's first video stream.
function M.probe(path)
  if type(path) ~= "string" then fail("expected a video file name, got %s", type(path)) end
  local f, why = io.open(path, "rb")
  if not f then fail("cannot read video %s: %s", path, why) end
  f:close()
  need("ffprobe")
  local out = run("ffprobe -v error -select_streams v:0 -show_entries stream=width,height,r_frame_rate,nb_frames"
                  .. " -of default=noprint_wrappers=1 " .. ff_path(path),
                  "cannot read video " .. path)
  local info = {}
  for k, v in out:gmatch("([%w_]+)=([^\n]*)") do info[k] = v end
  local w, h = tonumber(info.width), tonumber(info.height)
  if not (w and h) then fail("%s has no video stream", path) end
  local num, den = (info.r_frame_rate or ""):match("^(%d+)/(%d+)$")
  num, den = tonumber(num), tonumber(den)
  local fps = (num and den and den > 0 and num > 0) and num / den or nil
  return {width = w, height = h, fps = fps, rate = fps and info.r_frame_rate or nil,
          frames = tonumber(info.nb_frames)}
end

-- Decodes every frame of a video file to PNG files named by pattern (numbered from 1),
-- in an existing folder that holds no frames of that pattern yet. Returns the paths and
-- the probe's info; on failure the frames written so far are removed.
function M.decode(video, pattern)
  local info = M.probe(video)
  local p = parse_pattern(pattern)
  if not is_dir(p.dir) then fail("%s: folder %s does not exist", pattern, p.dir) end
  if pcall(M.list_frames, pattern) then fail("%s already holds frames: choose another pattern", pattern) end
  need("ffmpeg")
  local function cleanup()
    for _, name in ipairs(list_dir(p.dir)) do
      if name:match(p.match) then os.remove(p.prefix .. name) end
    end
  end
  local ok, err = pcall(run, "ffmpeg -nostdin -v error -i " .. ff_path(video) ..
                        " -map 0:v:0 -fps_mode passthrough -start_number 1 " .. ff_path(pattern),
                        "cannot decode video " .. video)
  if not ok then
    cleanup()
    error(err, 0)
  end
  local got, paths = pcall(M.list_frames, pattern)
  if not got then
    cleanup()
    fail("video %s has no frames", video)
  end
  return paths, info
end

-- Codec and options by container (the file's extension).
local CODECS = {
  mp4 = "libx264", mkv = "libx264", mov = "libx264", webm = "libvpx-vp9",
}

-- A number of frames per second or FFmpeg's "num/den".
local function check_fps(fps)
  if type(fps) == "number" and fps > 0 and fps < 1e6 then return ("%.6g"):format(fps) end
  if type(fps) == "string" and fps:match("^%d+/%d+$") and not fps:match("/0+$") and not fps:match("^0+/") then
    return fps
  end
  fail("fps must be a positive number or \"num/den\", got %s", tostring(fps))
end

-- Frames (a pattern, or a list of PNG/JPEG paths in order, all of one size and one
-- format) -> the video file output (.mp4, .mkv, .mov with H.264; .webm with VP9).
-- opts: fps (default 25; a number or "num/den"), crf (quality, lower is better; default
-- 18). Frames with an odd width or height are encoded in 4:4:4 (4:2:0 needs even sides).
-- The output appears only when complete. Returns the output path.
function M.encode(frames, output, opts)
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "fps" and k ~= "crf" then fail("encode: unknown option '%s' (expected fps, crf)", tostring(k)) end
  end
  local rate = check_fps(opts.fps or 25)
  local crf = opts.crf or 18
  if math.type(crf) ~= "integer" or crf < 0 or crf > 63 then fail("crf must be an integer in [0, 63], got %s", tostring(crf)) end
  if type(output) ~= "string" then fail("expected an output video file name, got %s", type(output)) end
  local ext = (output:match("%.([%w]+)$") or ""):lower()
  local codec = CODECS[ext]
  if not codec then fail("%s: unknown video format '%s' (expected .mp4, .mkv, .mov or .webm)", output, ext) end
  if not is_dir(dirname(output)) then fail("%s: folder %s does not exist", output, dirname(output)) end
  local paths, start, links
  if type(frames) == "string" then
    paths, start = M.list_frames(frames)
  elseif type(frames) == "table" and #frames > 0 then
    paths, start = frames, 1
    for _, f in ipairs(paths) do
      if not exists(f) then fail("frame %s does not exist", tostring(f)) end
    end
    M.check_sizes(paths)
  else
    fail("expected frames as a pattern or a non-empty list of files, got %s", type(frames))
  end
  local w, h = M.check_sizes({paths[1]})
  need("ffmpeg")
  local input = frames
  if type(frames) == "table" then
    -- FFmpeg reads numbered files: link each frame into a temporary folder.
    links = tmpdir()
    local fext = paths[1]:match("%.([%w]+)$") or "png"
    local pwd = assert(io.popen("pwd", "r"))
    local cwd = pwd:read("l")
    pwd:close()
    for i, f in ipairs(paths) do
      if (f:match("%.([%w]+)$") or "") ~= fext then
        remove_tree(links)
        fail("frame %s is not a .%s file like %s: all frames must have one format", f, fext, paths[1])
      end
      local target = f:sub(1, 1) == "/" and f or (cwd .. "/" .. f)
      if not os.execute("ln -s -- " .. q(target) .. " " .. q(("%s/%06d.%s"):format(links, i, fext))) then
        remove_tree(links)
        fail("cannot link frame %s", f)
      end
    end
    input = links .. "/%06d." .. fext
  end
  local pix = (w % 2 == 0 and h % 2 == 0) and "yuv420p" or "yuv444p"
  local tmp = ("%s/.%s.partial-%d.%s"):format(dirname(output), basename(output), math.random(1, 1000000000), ext)
  local cmd = ("ffmpeg -nostdin -v error -y -framerate %s -start_number %d -i %s -c:v %s -pix_fmt %s -crf %d%s %s")
    :format(rate, start, ff_path(input), codec, pix, crf, codec == "libvpx-vp9" and " -b:v 0" or "", ff_path(tmp))
  local ok, err = pcall(run, cmd, "cannot encode " .. output)
  if links then remove_tree(links) end
  if ok then
    local renamed, why = os.rename(tmp, output)
    if not renamed then ok, err = false, ("nst.video_io: cannot rename %s to %s: %s"):format(tmp, output, why) end
  end
  if not ok then
    os.remove(tmp)
    error(err, 0)
  end
  return output
end

-- ---- input and output of a video run -------------------------------------

-- A video to read frame by frame: a pattern or a video file (decoded into a temporary
-- folder that close() removes). Fields: frames (paths), fps (number or nil), rate
-- (FFmpeg's "num/den", or nil), width, height.
function M.input(spec)
  if M.is_pattern(spec) then
    local paths = M.list_frames(spec)
    local w, h = M.check_sizes({paths[1]})
    return {frames = paths, width = w, height = h, close = function() end}
  end
  local dir = tmpdir()
  local ok, paths, info = pcall(M.decode, spec, dir .. "/%06d.png")
  if not ok then
    remove_tree(dir)
    error(paths, 0)
  end
  local closed = false
  return {frames = paths, width = info.width, height = info.height, fps = info.fps, rate = info.rate,
          close = function()
            if not closed then remove_tree(dir) end
            closed = true
          end}
end

-- Where a run's frames go: a pattern (frame i is written straight to its file, numbered
-- from opts.start or 1) or a video file (frames gather in a temporary folder; finish()
-- encodes them, abort() drops them). opts: fps, crf (as encode), start.
function M.output(spec, opts)
  opts = opts or {}
  local start = opts.start or 1
  if M.is_pattern(spec) then
    local p = parse_pattern(spec)
    if not is_dir(p.dir) then fail("%s: folder %s does not exist", spec, p.dir) end
    return {
      frame = function(_, i) return p.prefix .. frame_name(p, start + i - 1) end,
      finish = function() return spec end,
      abort = function() end,
    }
  end
  local ext = (tostring(spec):match("%.([%w]+)$") or ""):lower()
  if not CODECS[ext] then fail("%s: neither a frame pattern nor a video file (.mp4, .mkv, .mov, .webm)", tostring(spec)) end
  if not is_dir(dirname(spec)) then fail("%s: folder %s does not exist", spec, dirname(spec)) end
  local dir = tmpdir()
  local out = {dir = dir}
  function out.frame(_, i) return ("%s/%06d.png"):format(dir, i) end
  function out.finish()
    local ok, err = pcall(M.encode, dir .. "/%06d.png", spec, {fps = opts.fps, crf = opts.crf})
    remove_tree(dir)
    if not ok then error(err, 0) end
    return spec
  end
  function out.abort() remove_tree(dir) end
  return out
end

return M
