-- nst video: the temporal term in a transfer (its pull, its gradient, the run definition),
-- videos through frame patterns and .mp4 files, frames kept on a rerun, bad inputs
-- refused with no output, chunks (nst.video_plan) and their assembly as the expected
-- cross-fade, and flow computed ahead by nst flow.
local nst = require("nst")
local h = require("helpers.kit")
local files, cli, tiny, frames, weights = h.files, h.cli, h.tiny, h.frames, h.weights
local count = h.log.count
local vplan = require("nst.video_plan")
local run_state = require("nst.run_state")
local options = require("nst.transfer_options")

local ls = files.ls

-- Mean |a - b| over columns lo..hi of (1,3,H,W) tensors.
local function mean_abs(a, b, lo, hi)
  local d = (a - b):abs():totable()[1]
  local s, n = 0, 0
  for c = 1, 3 do
    for y = 1, #d[c] do
      for x = lo, hi do s, n = s + d[c][y][x], n + 1 end
    end
  end
  return s / n
end

describe("the temporal term", function()
  local net
  setup(function() net = nst.vgg16{weights = weights.vgg("vgg16", nil, {layers = 4}), pooling = "avg"} end)

  -- a mask of 1 on the left half (columns 1..16 of 32), 0 on the right
  local function left_mask()
    local row = {}
    for x = 1, 32 do row[x] = x <= 16 and 1 or 0 end
    local plane = {}
    for y = 1, 24 do plane[y] = row end
    return nst.tensor({{plane}})
  end

  it("pulls a transfer towards the warped previous frame where the mask is 1", function()
    nst.manual_seed(5)
    local content, target = frames.shifted(24, 32, 0, 0), nst.rand(1, 3, 24, 32)
    local base = {content_image = content, image_size = 32, net = net, style_weight = 0, tv_weight = 0, num_iterations = 20,
                  learning_rate = 10, print_iter = 0, content_layers = {"relu2_2"}, style_layers = {"relu1_2"},
                  handle_signals = false}
    local plain = nst.transfer(base)
    local o = {}
    for k, v in pairs(base) do o[k] = v end
    o.temporal_weight, o.temporal_image, o.temporal_mask = 100, target, left_mask()
    local pulled, history = nst.transfer(o)
    local near, far = mean_abs(pulled, target, 1, 16), mean_abs(plain, target, 1, 16)
    assert.is_true(near < 0.5 * far, ("left half: %.4f from the target with the term, %.4f without"):format(near, far))
    -- the right half is not pulled: as far from the target as without the term, roughly
    local right, right0 = mean_abs(pulled, target, 17, 32), mean_abs(plain, target, 17, 32)
    assert.is_true(right > 0.8 * right0, ("right half: %.4f with, %.4f without"):format(right, right0))
    assert.is_true(history[20].temporal < history[1].temporal, "the temporal loss did not fall")
    local ok, err = pcall(nst.transfer, {content_image = content, net = net, temporal_weight = 1, style_weight = 0})
    assert.is_false(ok)
    assert.matches("temporal_weight > 0 needs temporal_image as a tensor", err)
  end)

  it("has the gradient of finite differences through the network's input convention", function()
    nst.manual_seed(9)
    local x, w = nst.rand(1, 3, 6, 7), nst.rand(1, 3, 6, 7)
    local c = (nst.rand(1, 1, 6, 7) - 0.3):sign():clamp(0, 1)
    for _, pre in ipairs{"torchvision", "caffe"} do
      local n = nst.vgg16{weights = weights.vgg("vgg16", nil, {layers = 1}), preprocess = pre}
      local term = nst.terms.temporal(w, c, 1, n)
      local function f(z) return term.loss(z):item() end
      local _, g = term.loss(x)
      local h = pre == "caffe" and 1e-3 or 1e-2
      for _ = 1, 4 do
        local v = nst.randn(1, 3, 6, 7)
        local numeric = (f(x + v * h) - f(x - v * h)) / (2 * h)
        local analytic = nst.dot(g, v):item()
        assert.is_true(math.abs(numeric - analytic) <= 3e-3 * (math.abs(analytic) + 1e-3 * math.abs(f(x))),
                       ("%s: numeric %.6g, analytic %.6g"):format(pre, numeric, analytic))
      end
    end
  end)

  it("is part of the run definition only when its weight is above 0", function()
    local content = frames.shifted(24, 32, 0, 0)
    local function def(extra)
      local o = {content_image = content, image_size = 32, net = net, style_weight = 0}
      for k, v in pairs(extra) do o[k] = v end
      return (run_state.definition({opts = options.check(o), net = net, device = "cpu"}))
    end
    local plain = def{}
    assert.is_nil(plain.temporal_weight)
    assert.is_nil(plain.temporal_image)
    local a, b = nst.rand(1, 3, 24, 32), nst.rand(1, 3, 24, 32)
    local with = def{temporal_weight = 5, temporal_image = a}
    assert.are.equal("5", with.temporal_weight)
    assert.matches("^tensor 1x3x24x32, fnv %x+$", with.temporal_image)
    assert.is_nil(with.temporal_mask)
    assert.are_not.equal(with.temporal_image, def{temporal_weight = 5, temporal_image = b}.temporal_image)
    assert.are.same(plain, def{temporal_image = a}) -- weight 0: the image changes nothing
  end)
end)

describe("nst video's chunks", function()
  it("cover every frame once, or twice over an overlap with weights summing to 1", function()
    for F = 1, 14 do
      for N = 1, 6 do
        for _, V in ipairs{0, 1, 3, 10} do
          local chunks = vplan.chunks(F, N, V)
          local owner = {}
          for _, c in ipairs(chunks) do
            for n = c.core_first, c.core_last do
              assert.is_nil(owner[n])
              owner[n] = c.index
            end
            assert.is_true(c.overlap <= V and c.first == c.core_first - c.overlap)
          end
          for n = 1, F do
            assert.is_not_nil(owner[n], ("F=%d N=%d V=%d: frame %d"):format(F, N, V, n))
            local w, sum = vplan.weights(chunks, n), 0
            assert.is_true(#w == 1 or #w == 2)
            for _, x in ipairs(w) do
              sum = sum + x.weight
              assert.is_true(n >= x.chunk.first and n <= x.chunk.last)
            end
            assert.is_true(math.abs(sum - 1) < 1e-12)
          end
        end
      end
    end
  end)
end)

describe("nst video", function()
  local dir
  files.tmpdir_each(function(d) dir = d end)

  -- Frames of a texture moving by (1.5, 0.5) px per frame, numbered from first.
  local function make_frames(n, first, pattern)
    pattern = pattern or "f_%02d.png"
    for i = 0, n - 1 do
      nst.image.save(frames.shifted(32, 48, 1.5 * i, 0.5 * i), dir .. "/" .. pattern:format(first + i))
    end
    return dir .. "/" .. pattern:gsub("%%", "%%%%"):gsub("%%%%0?%d*d", "%%%0"):gsub("%%%%%%", "%%")
  end

  local function video(args) return cli.run(tiny.flags({"video", table.unpack(args)}, 48)) end

  it("stylizes frames into frames, numbered as the input, and keeps what a rerun would redo", function()
    make_frames(5, 3)
    os.execute("mkdir '" .. dir .. "/out'")
    local args = {"-content_video", dir .. "/f_%02d.png", "-output_video", dir .. "/out/s_%03d.png"}
    local status, log = video(args)
    assert.are.equal(0, status, log)
    assert.are.same({"s_003.png", "s_004.png", "s_005.png", "s_006.png", "s_007.png"}, ls(dir .. "/out"))
    assert.are.same({1, 3, 32, 48}, nst.image.load(dir .. "/out/s_007.png"):shape())
    assert.are.equal(5, count(log, "frame %d/5: rendered"))
    -- with the work folder kept, a rerun renders nothing; another temporal weight redoes
    -- every frame but the first (which has no previous one)
    table.move({"-keep_work", "1"}, 1, 2, #args + 1, args)
    status, log = video(args)
    assert.are.equal(5, count(log, "frame %d/5: rendered"), log)
    local before = files.read(dir .. "/out/s_005.png")
    status, log = video(args)
    assert.are.equal(0, status, log)
    assert.are.equal(5, count(log, "frame %d/5: kept"), log)
    assert.are.equal(before, files.read(dir .. "/out/s_005.png"))
    table.move({"-temporal_weight", "300"}, 1, 2, #args + 1, args)
    status, log = video(args)
    assert.matches("frame 1/5: kept", log)
    assert.are.equal(4, count(log, "frame %d/5: rendered"), log)
  end)

  it("stylizes an .mp4 into an .mp4 at the input's frame rate", function()
    local pattern = make_frames(4, 1)
    nst.video_io.encode(pattern, dir .. "/in.mp4", {fps = 12})
    local status, log = video({"-content_video", dir .. "/in.mp4", "-output_video", dir .. "/out.mp4"})
    assert.are.equal(0, status, log)
    local info = nst.video_io.probe(dir .. "/out.mp4")
    assert.are.same({48, 32, 4, 12}, {info.width, info.height, info.frames, info.fps})
    assert.is_false(files.exists(dir .. "/out.nst-work"))
  end)

  it("refuses bad inputs with clear errors and writes nothing", function()
    os.execute(("mkdir '%s/in' '%s/out'"):format(dir, dir))
    local function refused(input, want, out)
      out = out or dir .. "/out/x.mp4"
      local status, log = video({"-content_video", input, "-output_video", out})
      assert.are.equal(1, status, log)
      assert.matches(want, log)
      assert.are.same({}, ls(dir .. "/out"))
    end
    refused(dir .. "/in/%04d.png", "in/%%04d.png: no frames %(no file in .-in matches%)")
    for _, i in ipairs{1, 2, 4} do nst.image.save(frames.shifted(32, 48, i, 0), ("%s/in/%04d.png"):format(dir, i)) end
    refused(dir .. "/in/%04d.png", "frame 3 %(.-/in/0003.png%) is missing; frames 1%-2 and 4%-4 exist", dir .. "/out/%03d.png")
    nst.image.save(frames.shifted(24, 48, 0, 0), dir .. "/in/0003.png")
    refused(dir .. "/in/%04d.png", "frame .-/in/0003.png is 48x24 but .-/in/0001.png is 48x32: all frames must have one size")
    files.write(dir .. "/bad.mp4", "not a video at all")
    refused(dir .. "/bad.mp4", "cannot read video .-/bad.mp4")
    refused(dir .. "/none.mp4", "cannot read video .-/none.mp4: .-No such file")
    local status, log = video({"-content_video", dir .. "/in/%04d.png", "-output_video", dir .. "/nodir/x.mp4"})
    assert.are.equal(1, status)
    assert.matches("nodir/x.mp4: folder .-/nodir does not exist", log)
    status, log = video({"-content_video", dir .. "/in/%04d.png", "-output_video", dir .. "/out/x.png"})
    assert.are.equal(1, status)
    assert.matches("neither a frame pattern nor a video file", log)
    status, log = video({"-content_video", dir .. "/in/%04d.png", "-output_video", dir .. "/in/./%04d.png"})
    assert.are.equal(2, status)
    assert.matches("%-output_video is %-content_video: the output would overwrite the input", log)
    status, log = video({"-content_video", dir .. "/in/%04d.png"})
    assert.are.equal(2, status)
    assert.matches("%-output_video is required", log)
    status, log = video({"-content_video", dir .. "/in/%04d.png", "-output_video", dir .. "/o.mp4", "-output_image", "a.png"})
    assert.are.equal(2, status)
    assert.matches("nst video sets %-output_image per frame: use %-output_video", log)
  end)

  it("renders chunks in any order and assembles them as the cross-fade over the overlaps", function()
    make_frames(7, 1)
    os.execute("mkdir '" .. dir .. "/out'")
    local args = {"-content_video", dir .. "/f_%02d.png", "-output_video", dir .. "/out/%02d.png", "-overlap", "2",
                  "-work_dir", dir .. "/work"}
    local function with(...)
      local a = table.move(args, 1, #args, 1, {})
      for _, v in ipairs{...} do a[#a + 1] = v end
      return a
    end
    for _, k in ipairs{2, 0} do
      local status, log = video(with("-shard", k .. "/3"))
      assert.are.equal(0, status, log)
    end
    local status, log = cli.run({"video", table.unpack(with("-assemble"))})
    assert.are.equal(1, status)
    assert.matches("1 of 3 chunks are not complete %(shard 1/3%)", log)
    assert.are.same({}, ls(dir .. "/out"))
    -- the third chunk as a Slurm array task
    status, log = tiny.run_env("SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3 ", tiny.flags({"video", table.unpack(args)}, 48))
    assert.are.equal(0, status, log)
    assert.matches("shard 1/3 %(frames 1%-4%)", log)
    status, log = cli.run({"video", "-assemble", "-output_video", dir .. "/out/%02d.png", "-work_dir", dir .. "/work"})
    assert.are.equal(0, status, log)
    assert.matches("wrote .-/out/%%02d.png: 7 frames from 3 chunks", log)
    -- 7 frames in 3 chunks: cores 1-2, 3-4, 5-7; chunk 1 renders 1-4, chunk 2 renders 3-7
    local expect = {{{0, 2 / 3}, {1, 1 / 3}}, {{0, 1 / 3}, {1, 2 / 3}}, {{1, 2 / 3}, {2, 1 / 3}},
                    {{1, 1 / 3}, {2, 2 / 3}}, {{2, 1}}, {{2, 1}}, {{2, 1}}}
    for n, parts in ipairs(expect) do
      local want
      for _, p in ipairs(parts) do
        local img = nst.image.load(("%s/work/chunk_%d_of_3/%06d.png"):format(dir, p[1], n)) * p[2]
        want = want and want + img or img
      end
      local got = nst.image.load(("%s/out/%02d.png"):format(dir, n))
      local d = (got - want):abs():max():item()
      assert.is_true(d <= 0.5 / 255 + 1e-6, ("frame %d: off by %g"):format(n, d))
    end
    -- the two chunks' renderings of an overlap frame differ (chunk 2 starts cold at frame 3)
    local a = nst.image.load(dir .. "/work/chunk_1_of_3/000003.png")
    local b = nst.image.load(dir .. "/work/chunk_2_of_3/000003.png")
    assert.is_true((a - b):abs():max():item() > 0)
    assert.is_true(files.exists(dir .. "/work/plan.json")) -- -work_dir: the user's, kept
  end)

  it("uses the flow that nst flow computed ahead, and computes it again for another preset", function()
    make_frames(5, 1)
    local flows = dir .. "/flows"
    for k = 0, 1 do
      local status, log = cli.run({"flow", "-content_video", dir .. "/f_%02d.png", "-flow_dir", flows,
                                   "-image_size", "48", "-shard", k .. "/2"})
      assert.are.equal(0, status, log)
      assert.matches(("shard %d/2: 2 computed, 0 already there"):format(k), log)
    end
    assert.are.same({"000002.flow.safetensors", "000003.flow.safetensors", "000004.flow.safetensors",
                     "000005.flow.safetensors"}, ls(flows))
    local before = files.read(flows .. "/000003.flow.safetensors")
    os.execute("touch -d '2000-01-01' '" .. flows .. "/000003.flow.safetensors'")
    local args = {"-content_video", dir .. "/f_%02d.png", "-output_video", dir .. "/o.mp4", "-flow_dir", flows}
    local status, log = video(args)
    assert.are.equal(0, status, log)
    local p = io.popen("stat -c %Y '" .. flows .. "/000003.flow.safetensors'")
    assert.are.equal(946684800, tonumber(p:read("l")) // 86400 * 86400) -- not rewritten
    p:close()
    assert.is_true(files.exists(flows .. "/000002.flow.safetensors")) -- -flow_dir: the user's, kept
    status, log = cli.run({"flow", "-content_video", dir .. "/f_%02d.png", "-flow_dir", flows, "-image_size", "48"})
    assert.matches("0 computed, 4 already there", log)
    status, log = cli.run({"flow", "-content_video", dir .. "/f_%02d.png", "-flow_dir", flows, "-image_size", "48",
                           "-flow_preset", "ultrafast"})
    assert.matches("4 computed, 0 already there", log)
    assert.are_not.equal(before, files.read(flows .. "/000003.flow.safetensors"))
  end)
end)
