-- Video in and out (nst.video_io): frame patterns, a round trip through frames and
-- through an .mp4 file with FFmpeg, and the bad inputs (missing frames, mismatched
-- sizes, unreadable video, zero frames), which must give clear errors and no output.
local nst = require("nst")
local errmsg = require("helpers.expect").error
local video_io = require("nst.video_io")
local files = require("helpers.files")
local frames = require("helpers.frames")

local H, W, N = 24, 32, 5

local ls = files.ls

-- N frames of the texture moving 1 px right per frame, as dir/%04d.png from first.
local function write_frames(dir, first, h, w)
  os.execute("mkdir -p '" .. dir .. "'")
  local imgs = {}
  for i = 1, N do
    imgs[i] = frames.shifted(h or H, w or W, i - 1, 0)
    nst.image.save(imgs[i], ("%s/%04d.png"):format(dir, (first or 1) + i - 1))
  end
  return imgs
end

local function mean_abs(a, b) return (a - b):abs():mean():item() end

describe("nst.video_io", function()
  local tmp
  files.tmpdir_each(function(d) tmp = d end)

  it("tells frame patterns from file names", function()
    assert.is_true(video_io.is_pattern("frames/%04d.png"))
    assert.is_true(video_io.is_pattern("f_%d.jpg"))
    assert.is_true(video_io.is_pattern("100%%_%03d.png"))
    assert.is_false(video_io.is_pattern("clip.mp4"))
    assert.is_false(video_io.is_pattern("%d/%d.png"))
    assert.is_false(video_io.is_pattern("%d_%d.png"))
    assert.is_false(video_io.is_pattern("%s.png"))
  end)

  it("lists the frames of a pattern in order, from any first number", function()
    write_frames(tmp .. "/a", 1)
    write_frames(tmp .. "/b", 0)
    files.write(tmp .. "/a/notes.txt", "not a frame")
    files.write(tmp .. "/a/12.png", "not this pattern")
    local paths, first = video_io.list_frames(tmp .. "/a/%04d.png")
    assert.are.equal(1, first)
    assert.are.same({tmp .. "/a/0001.png", tmp .. "/a/0002.png", tmp .. "/a/0003.png",
                     tmp .. "/a/0004.png", tmp .. "/a/0005.png"}, paths)
    local _, first0 = video_io.list_frames(tmp .. "/b/%04d.png")
    assert.are.equal(0, first0)
  end)

  it("round-trips frames through an .mp4 file", function()
    local imgs = write_frames(tmp .. "/in", 1)
    local out = video_io.encode(tmp .. "/in/%04d.png", tmp .. "/clip.mp4", {fps = 10, crf = 0})
    assert.are.equal(tmp .. "/clip.mp4", out)
    local info = video_io.probe(out)
    assert.are.same({W, H, 10, N}, {info.width, info.height, info.fps, info.frames})
    local input = video_io.input(out)
    assert.are.equal(N, #input.frames)
    assert.are.same({W, H, 10}, {input.width, input.height, input.fps})
    for i, path in ipairs(input.frames) do
      local img = nst.image.load(path)
      local err = mean_abs(img, imgs[i])
      -- 4:2:0 chroma costs about 0.023 on this colourful texture, even at crf 0
      assert.is_true(err < 0.035, ("frame %d: mean error %.4f"):format(i, err))
      -- in order: the neighbouring frame (moved by 1 px) is much farther
      local other = mean_abs(img, imgs[i % N + 1])
      assert.is_true(other > 2 * err, ("frame %d: %.4f from its neighbour"):format(i, other))
    end
    local dir = input.frames[1]:match("^(.*)/")
    input:close()
    assert.is_false(files.exists(dir), "the decoded frames' folder is removed")
    -- only the video itself was written beside the frames' folder
    assert.are.same({"clip.mp4", "in"}, (function() local t = ls(tmp); table.sort(t); return t end)())
  end)

  it("round-trips a video through frames: an input pattern to an output pattern and a video", function()
    write_frames(tmp .. "/in", 1)
    local input = video_io.input(tmp .. "/in/%04d.png")
    local imgs = {}
    os.execute("mkdir '" .. tmp .. "/out'")
    local to_frames = video_io.output(tmp .. "/out/f%03d.png")
    local to_video = video_io.output(tmp .. "/out.mkv", {fps = "25/2"})
    for i, path in ipairs(input.frames) do
      local img = nst.image.load(path)
      imgs[i] = img
      nst.image.save(img, to_frames:frame(i))
      nst.image.save(img, to_video:frame(i))
    end
    to_frames:finish()
    assert.is_false(files.exists(tmp .. "/out.mkv"), "the video appears only at finish")
    to_video:finish()
    input:close()
    local paths = video_io.list_frames(tmp .. "/out/f%03d.png")
    assert.are.equal(tmp .. "/out/f001.png", paths[1])
    for i = 1, N do assert.are.equal(0, mean_abs(nst.image.load(paths[i]), imgs[i])) end
    local info = video_io.probe(tmp .. "/out.mkv")
    assert.are.same({W, H, 12.5}, {info.width, info.height, info.fps})
    -- an odd-sized clip from a list of files (4:4:4, since 4:2:0 needs even sides)
    write_frames(tmp .. "/odd", 1, 17, 21)
    local list = video_io.list_frames(tmp .. "/odd/%04d.png")
    video_io.encode(list, tmp .. "/odd.mp4")
    assert.are.same({21, 17}, {video_io.probe(tmp .. "/odd.mp4").width, video_io.probe(tmp .. "/odd.mp4").height})
    local odd = video_io.input(tmp .. "/odd.mp4")
    assert.are.equal(N, #odd.frames)
    odd:close() -- removes the folder it was decoded into
  end)

  it("names the missing frame, the mismatched frame, and finds no frames in an empty folder", function()
    write_frames(tmp .. "/gap", 1)
    os.remove(tmp .. "/gap/0003.png")
    assert.matches("frame 3 %(.*/gap/0003.png%) is missing; frames 1%-2 and 4%-5 exist",
                   errmsg(video_io.list_frames, tmp .. "/gap/%04d.png"))
    write_frames(tmp .. "/size", 1)
    nst.image.save(frames.shifted(H, W - 2, 0, 0), tmp .. "/size/0004.png")
    assert.matches("frame .*/size/0004.png is 30x24 but .*/size/0001.png is 32x24: all frames must have one size",
                   errmsg(video_io.list_frames, tmp .. "/size/%04d.png"))
    os.execute("mkdir '" .. tmp .. "/empty'")
    assert.matches("no frames %(no file in .*/empty matches%)", errmsg(video_io.input, tmp .. "/empty/%04d.png"))
    assert.matches("folder .*/nowhere does not exist", errmsg(video_io.list_frames, tmp .. "/nowhere/%04d.png"))
    -- neither encode writes anything
    assert.matches("frame 3 .* is missing", errmsg(video_io.encode, tmp .. "/gap/%04d.png", tmp .. "/gap.mp4"))
    assert.matches("all frames must have one size", errmsg(video_io.encode, tmp .. "/size/%04d.png", tmp .. "/size.mp4"))
    assert.matches("frame .*/0003.png does not exist",
                   errmsg(video_io.encode, {tmp .. "/gap/0001.png", tmp .. "/gap/0003.png"}, tmp .. "/list.mp4"))
    local left = ls(tmp)
    table.sort(left)
    assert.are.same({"empty", "gap", "size"}, left)
  end)

  it("refuses unreadable videos and videos without frames, leaving nothing behind", function()
    assert.matches("cannot read video .*/none.mp4: .*No such file", errmsg(video_io.input, tmp .. "/none.mp4"))
    files.write(tmp .. "/junk.mp4", "this is not a video")
    assert.matches("cannot read video .*/junk.mp4 %(exit 1%): .*Invalid data", errmsg(video_io.input, tmp .. "/junk.mp4"))
    -- a clip whose frames were cut off after its header: readable header, undecodable
    write_frames(tmp .. "/in", 1)
    video_io.encode(tmp .. "/in/%04d.png", tmp .. "/clip.mp4")
    local whole = files.read(tmp .. "/clip.mp4")
    files.write(tmp .. "/cut.mp4", whole:sub(1, 48))
    assert.matches("cannot read video .*/cut.mp4", errmsg(video_io.input, tmp .. "/cut.mp4"))
    -- sound only: no video stream
    assert(os.execute("ffmpeg -nostdin -v error -f lavfi -i anullsrc -t 0.2 '" .. tmp .. "/sound.mp4'"))
    assert.matches(".*/sound.mp4 has no video stream", errmsg(video_io.input, tmp .. "/sound.mp4"))
    os.execute("mkdir '" .. tmp .. "/dec'")
    assert.matches("has no video stream", errmsg(video_io.decode, tmp .. "/sound.mp4", tmp .. "/dec/%04d.png"))
    assert.are.same({}, ls(tmp .. "/dec"))
    assert.matches("already holds frames", errmsg(video_io.decode, tmp .. "/clip.mp4", tmp .. "/in/%04d.png"))
  end)

  it("checks output names and encoding options", function()
    write_frames(tmp .. "/in", 1)
    local pat = tmp .. "/in/%04d.png"
    assert.matches("unknown video format 'avi'", errmsg(video_io.encode, pat, tmp .. "/x.avi"))
    assert.matches("folder .*/no/such does not exist", errmsg(video_io.encode, pat, tmp .. "/no/such/x.mp4"))
    assert.matches("fps must be a positive number", errmsg(video_io.encode, pat, tmp .. "/x.mp4", {fps = 0}))
    assert.matches("crf must be an integer", errmsg(video_io.encode, pat, tmp .. "/x.mp4", {crf = 1.5}))
    assert.matches("unknown option 'rate'", errmsg(video_io.encode, pat, tmp .. "/x.mp4", {rate = 5}))
    assert.matches("neither a frame pattern nor a video file", errmsg(video_io.output, tmp .. "/x.png"))
    assert.matches("a frame pattern has one %%d or %%0Nd, not two", errmsg(video_io.list_frames, tmp .. "/%d_%d.png"))
    local left = ls(tmp)
    assert.are.same({"in"}, left)
  end)
end)
