-- nst submit: the sbatch array script (--dry-run), clear errors without Slurm or when
-- sbatch fails, jobs checked before submitting; then for real on the test cluster
-- (spec/helpers/slurm.lua): a small batch waited for, every output there, and a second
-- submit that redoes nothing; a video in two chunks and the dependent assemble job.
local h = require("helpers.kit")
local files, cli, tiny, slurm, frames = h.files, h.cli, h.tiny, h.slurm, h.frames
local lines_of = h.log.lines
local video_io = require("nst.video_io")
local nst = require("nst")

local function jobs_file(dir, images)
  local lines = {}
  for i, c in ipairs(images) do lines[i] = ("-content_image %s -output_image '%s/o %d.png'"):format(c, dir, i) end
  files.write(dir .. "/jobs.txt", table.concat(lines, "\n") .. "\n")
  return dir .. "/jobs.txt"
end

-- nst submit ARGS... <tiny flags> [-- sbatch options]
local function submit_args(args, sbatch_opts)
  local a = {"submit"}
  table.move(args, 1, #args, 2, a)
  table.move(tiny.common(), 1, #tiny.common(), #a + 1, a)
  if sbatch_opts then
    a[#a + 1] = "--"
    table.move(sbatch_opts, 1, #sbatch_opts, #a + 1, a)
  end
  return a
end

describe("nst submit", function()
  local dir, jobs
  files.tmpdir_each(function(d) dir, jobs = d, jobs_file(d, tiny.images(d, 3)) end)

  it("--dry-run prints the array script and submits nothing", function()
    local status, out = cli.run(submit_args({jobs, "-tasks", "2", "--dry-run", "-log_dir", dir .. "/logs"},
                                            {"--time=5", "--comment=two words", "--gres=gpu:1"}))
    assert.are.equal(0, status, out)
    local lines = lines_of(out)
    assert.are.equal("# " .. dir .. "/logs/nst-batch.sbatch", lines[1])
    assert.are.equal("#!/bin/sh", lines[2])
    assert.matches("^# Written by nst submit: nst batch over a job array of 2 tasks", lines[3])
    assert.are.same({"#SBATCH --job-name=nst-batch", "#SBATCH --array=0-1",
                     "#SBATCH --output=" .. dir .. "/logs/nst-batch-%A_%a.log", "#SBATCH --time=5",
                     "#SBATCH '--comment=two words'", "#SBATCH --gres=gpu:1"}, {table.unpack(lines, 4, 9)})
    assert.are.equal("cd " .. os.getenv("PWD") .. " || exit 1", lines[10])
    -- the command that started nst, then batch, the jobs file and the flags for every job
    assert.matches("^exec lua5.4 /%S+ batch " .. jobs:gsub("%p", "%%%0") .. " %-style_image ", lines[11])
    assert.is_nil(lines[11]:find("-shard", 1, true))
    assert.are.equal(11, #lines)
    assert.is_false(files.exists(dir .. "/logs"))
  end)

  it("--dry-run for video adds the assemble job, dependent on the whole array", function()
    for i = 1, 2 do nst.image.save(frames.shifted(32, 48, i, 0), ("%s/%04d.png"):format(dir, i)) end
    local status, out = cli.run(submit_args({"video", "-content_video", dir .. "/%04d.png", "-output_video",
                                             dir .. "/out.mp4", "-tasks", "3", "--dry-run", "-log_dir", dir}))
    assert.are.equal(0, status, out)
    local first, second = out:match("^(.-)\n\n(.*)$")
    assert.matches("#SBATCH %-%-array=0%-2\n", first)
    assert.matches("exec lua5.4 %S+ video %-content_video ", first)
    assert.is_nil(first:find("-assemble", 1, true))
    assert.matches("^# " .. dir:gsub("%p", "%%%0") .. "/nst%-video%-assemble.sbatch\n", second)
    assert.matches("#SBATCH '%-%-dependency=afterok:<id of the array job>'\n", second)
    assert.matches("#SBATCH %-%-output=" .. dir:gsub("%p", "%%%0") .. "/nst%-video%-assemble%-%%j.log\n", second)
    assert.matches("exec lua5.4 %S+ video %-content_video .* %-assemble\n$", second)
  end)

  it("says so when Slurm is not installed or sbatch fails, and checks the jobs first", function()
    local status, out = cli.run(submit_args({jobs, "-tasks", "2", "-sbatch", dir .. "/no/sbatch", "-log_dir", dir}))
    assert.are.equal(1, status)
    assert.are.equal("nst submit: " .. dir .. "/no/sbatch not found: Slurm is not installed here (or its commands are "
                     .. "not on PATH); --dry-run prints the script to submit elsewhere\n", out)
    local fake = dir .. "/sbatch"
    files.write(fake, "#!/bin/sh\ntouch " .. dir .. "/called\necho 'sbatch: error: invalid partition specified: gpu' >&2\nexit 1\n")
    os.execute("chmod +x " .. fake)
    status, out = cli.run(submit_args({jobs, "-tasks", "2", "-sbatch", fake, "-log_dir", dir}))
    assert.are.equal(1, status)
    assert.are.equal("nst submit: sbatch failed (exit 1): sbatch: error: invalid partition specified: gpu\n", out)
    os.remove(dir .. "/called")
    files.write(dir .. "/bad.txt", "-content_image a.png -output_image b.png\n-content_image c.png -bogus 1\n")
    status, out = cli.run(submit_args({dir .. "/bad.txt", "-tasks", "2", "-sbatch", fake}))
    assert.are.equal(2, status)
    assert.are.equal("nst submit: " .. dir .. "/bad.txt line 2: unknown flag -bogus (see --help)\n", out)
    assert.is_false(files.exists(dir .. "/called"))
    status, out = cli.run(submit_args({"video", "-content_video", dir .. "/none/%04d.png", "-output_video", dir .. "/o.mp4",
                                       "-tasks", "2", "-sbatch", fake}))
    assert.are.equal(1, status)
    assert.are.equal("nst submit: " .. dir .. "/none/%04d.png: folder " .. dir .. "/none does not exist\n", out)
    status, out = cli.run(submit_args({"video", "-content_video", dir .. "/none.mp4", "-output_video", dir .. "/o.mp4",
                                       "-tasks", "2", "-sbatch", fake}))
    assert.are.equal(1, status)
    assert.matches("^nst submit: cannot read video .-/none.mp4: No such file or directory\n$", out)
    assert.is_false(files.exists(dir .. "/called"))
    status, out = cli.run(submit_args({jobs, "-sbatch", fake}))
    assert.are.equal(2, status)
    assert.matches("%-tasks N is required", out)
    status, out = cli.run(submit_args({jobs, "-tasks", "2", "-shard", "0/2"}))
    assert.are.equal(2, status)
    assert.matches("each task runs its own shard", out)
  end)
end)

describe("nst submit on a Slurm cluster", function()
  local cluster, dir
  slurm.cluster_all(function(c, d) cluster, dir = c, d end)

  local function submit(args, sbatch_opts)
    local status, out = tiny.run_env(cluster:env(), submit_args(args, sbatch_opts))
    assert.are.equal(0, status, out)
    local ids = {}
    for id in out:gmatch("(%d+)\n") do ids[#ids + 1] = id end
    return ids, out
  end

  it("runs a batch as a job array, and a second submit redoes nothing", function()
    local jobs = jobs_file(dir, tiny.images(dir, 3))
    local ids, out = submit({jobs, "-tasks", "2", "-log_dir", dir .. "/logs"}, {"--time=5"})
    assert.are.equal(1, #ids, out)
    assert.matches("submitted job " .. ids[1] .. ": 2 tasks of nst batch", out)
    assert.are.equal(2, cluster:wait(ids[1], 120))
    local bytes = {}
    for i = 1, 3 do
      bytes[i] = files.read(("%s/o %d.png"):format(dir, i))
      os.remove(("%s/o %d.csv"):format(dir, i))
    end
    for t = 0, 1 do
      local log = files.read(("%s/logs/nst-batch-%s_%d.log"):format(dir, ids[1], t))
      assert.matches(("shard %d/2: %d jobs?: %d done"):format(t, 2 - t, 2 - t), log)
    end
    ids = submit({jobs, "-tasks", "2", "-log_dir", dir .. "/logs"})
    assert.are.equal(2, cluster:wait(ids[1], 120))
    for t = 0, 1 do
      local log = files.read(("%s/logs/nst-batch-%s_%d.log"):format(dir, ids[1], t))
      assert.matches(("shard %d/2: %d jobs?: 0 done, 0 resumed, %d skipped %%(complete%%), 0 failed"):format(t, 2 - t, 2 - t), log)
    end
    for i = 1, 3 do
      assert.are.equal(bytes[i], files.read(("%s/o %d.png"):format(dir, i)))
      assert.is_false(files.exists(("%s/o %d.csv"):format(dir, i)))
    end
  end)

  it("renders a video in chunks and assembles it once every chunk is done", function()
    for i = 1, 6 do nst.image.save(frames.shifted(32, 48, i, 0.5 * i), ("%s/f%03d.png"):format(dir, i)) end
    local ids, out = submit({"video", "-content_video", dir .. "/f%03d.png", "-output_video", dir .. "/v.mp4",
                             "-overlap", "2", "-tasks", "2", "-log_dir", dir .. "/vlogs"})
    assert.are.equal(2, #ids, out)
    assert.matches("submitted job " .. ids[2] .. ": nst video %-assemble once job " .. ids[1] .. " succeeds", out)
    assert.are.equal(2, cluster:wait(ids[1], 120))
    assert.are.equal(1, cluster:wait(ids[2], 120))
    local info = video_io.probe(dir .. "/v.mp4")
    assert.are.same({32, 21, 6}, {info.width, info.height, info.frames}) -- 48x32 frames at -image_size 32
    assert.is_false(files.exists(dir .. "/v.nst-work"))
    local log = files.read(("%s/vlogs/nst-video-assemble-%s.log"):format(dir, ids[2]))
    assert.matches("wrote .-/v.mp4: 6 frames from 2 chunks", log)
  end)
end)
