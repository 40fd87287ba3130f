-- nst batch: the jobs file (shell-like words, comments), shards (every job in exactly one,
-- from -shard or the Slurm array task's variables), complete jobs skipped without loading
-- a network, a half-done job resumed to the bytes of an uninterrupted run, failing jobs
-- reported while the others go on, one network per process.
local batch = require("nst.batch")
local shard = require("nst.shard")
local h = require("helpers.kit")
local files, cli, tiny, grep = h.files, h.cli, h.tiny, h.log.grep

describe("nst batch's jobs file", function()
  it("splits a line as the shell does, without expansions", function()
    assert.are.same({"-content_image", "my photo.jpg", "-output_image", "out dir/a.png"},
                    batch.words([[-content_image 'my photo.jpg' -output_image "out dir/a.png"]]))
    assert.are.same({"a b", 'say "hi"', "c'd", "$HOME", "x"}, batch.words([[a\ b "say \"hi\"" "c'd" '$HOME' x # rest]]))
    assert.are.same({"a#b", "ab"}, batch.words("a#b a''b"))
    assert.are.same({}, batch.words("   # only a comment"))
    assert.are.same({nil, "unterminated ' quote"}, {batch.words("-content_image 'a.png")})
    assert.are.same({nil, 'unterminated " quote'}, {batch.words('-content_image "a.png')})
    assert.are.same({nil, "a \\ at the end of the line"}, {batch.words("a \\")})
  end)

  it("reads one job per line with words, numbered by line; blank and # lines skipped", function()
    local dir = files.tmpdir()
    files.write(dir .. "/jobs", "# header\n\n-content_image a.png\n  \t\n-content_image 'b c.png'   # two\r\n"
                .. "-content_image 'x\n-content_image d.png")
    local jobs = batch.read_jobs(dir .. "/jobs")
    assert.are.equal(4, #jobs)
    assert.are.same({3, {"-content_image", "a.png"}}, {jobs[1].line, jobs[1].args})
    assert.are.same({5, {"-content_image", "b c.png"}}, {jobs[2].line, jobs[2].args})
    assert.are.same({6, "unterminated ' quote"}, {jobs[3].line, jobs[3].error})
    assert.are.same({7, {"-content_image", "d.png"}}, {jobs[4].line, jobs[4].args})
    files.rm_rf(dir)
    local ok, err = pcall(batch.read_jobs, dir .. "/none")
    assert.is_false(ok)
    assert.matches("cannot read the jobs file .*/none: No such file", err.usage)
  end)
end)

describe("nst batch's shards", function()
  it("puts every job in exactly one shard, the same one each time", function()
    for _, n in ipairs{1, 2, 3, 7, 12} do
      for jobs = 0, 20 do
        for j = 1, jobs do
          local count = 0
          for i = 0, n - 1 do
            if shard.has({index = i, count = n}, j) then count = count + 1 end
          end
          assert.are.equal(1, count, ("job %d of %d in %d shards"):format(j, jobs, n))
        end
      end
    end
    assert.is_true(shard.has(nil, 5))
  end)

  it("reads -shard I/N and the Slurm array task's variables, and refuses bad ones", function()
    assert.are.same({index = 2, count = 5}, shard.parse("2/5"))
    for _, bad in ipairs{"5/5", "1", "a/b", "-1/3", "0/0", "1/2/3"} do
      local ok, err = pcall(shard.parse, bad)
      assert.is_false(ok, bad)
      assert.matches("%-shard", err.usage)
    end
    local function env(t) return function(k) return t[k] end end
    assert.is_nil(shard.from_env(env{}))
    assert.are.same({index = 3, count = 4}, shard.from_env(env{SLURM_ARRAY_TASK_ID = "3", SLURM_ARRAY_TASK_COUNT = "4"}))
    -- an array of 5-8: task 7 is the third of four
    assert.are.same({index = 2, count = 4}, shard.from_env(env{SLURM_ARRAY_TASK_ID = "7", SLURM_ARRAY_TASK_COUNT = "4",
                                                              SLURM_ARRAY_TASK_MIN = "5"}))
    assert.are.same({index = 0, count = 2}, shard.choose("0/2", env{SLURM_ARRAY_TASK_ID = "1", SLURM_ARRAY_TASK_COUNT = "2"}))
    local ok, err = pcall(shard.from_env, env{SLURM_ARRAY_TASK_ID = "9", SLURM_ARRAY_TASK_COUNT = "4"})
    assert.is_false(ok)
    assert.matches("Slurm array task", err.usage)
  end)
end)

describe("nst batch", function()
  local dir, images
  files.tmpdir_each(function(d) dir, images = d, tiny.images(d, 3) end)

  -- A jobs file of n jobs writing dir/o<i>.png, content image i (cycling), plus extra lines.
  local function jobs_file(n, extra)
    local lines = {"# tiny jobs"}
    for i = 1, n do
      lines[#lines + 1] = ("-content_image %s -output_image '%s/o %d.png'"):format(images[(i - 1) % 3 + 1], dir, i)
    end
    for _, l in ipairs(extra or {}) do lines[#lines + 1] = l end
    files.write(dir .. "/jobs.txt", table.concat(lines, "\n") .. "\n")
    return dir .. "/jobs.txt"
  end

  -- nst batch JOBS <tiny flags> <the rest of args>: flags given here win over the tiny ones
  local function run(args, env)
    local a = {args[1], args[2]}
    table.move(tiny.common(), 1, #tiny.common(), 3, a)
    table.move(args, 3, #args, #a + 1, a)
    return tiny.run_env(env or "", a)
  end

  it("runs every job in exactly one shard, by -shard or by the Slurm array task", function()
    local jobs = jobs_file(5)
    local seen = {}
    for i = 0, 2 do
      local env, args = "", {"batch", jobs, "-shard", i .. "/3"}
      if i == 2 then env, args = "SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=3 ", {"batch", jobs} end
      local status, log = run(args, env)
      assert.are.equal(0, status, log)
      for _, line in ipairs(grep(log, "nst batch: line (%d+) %(.-%): done")) do
        assert.is_nil(seen[line], "line " .. line .. " ran twice\n" .. log)
        seen[line] = i
      end
      assert.matches(("shard %d/3: %s: %d done"):format(i, i < 2 and "2 jobs" or "1 job", i < 2 and 2 or 1), log)
    end
    -- job j (line j + 1) is in shard (j - 1) % 3
    assert.are.same({["2"] = 0, ["3"] = 1, ["4"] = 2, ["5"] = 0, ["6"] = 1}, seen)
    for i = 1, 5 do assert.is_true(files.exists(("%s/o %d.png"):format(dir, i))) end
  end)

  it("skips complete jobs without loading a network, and reruns one whose flags changed", function()
    local jobs = jobs_file(3)
    local status, log = run({"batch", jobs})
    assert.are.equal(0, status, log)
    assert.are.equal(1, #grep(log, "(network vgg16)"), log) -- one network for the three jobs
    local before = files.read(dir .. "/o 2.png")
    os.remove(dir .. "/o 2.csv")
    status, log = run({"batch", jobs})
    assert.are.equal(0, status, log)
    assert.matches("3 jobs: 0 done, 0 resumed, 3 skipped %(complete%), 0 failed", log)
    assert.are.equal(0, #grep(log, "(network)"), log)
    assert.is_false(files.exists(dir .. "/o 2.csv")) -- nothing written
    assert.are.equal(before, files.read(dir .. "/o 2.png"))
    -- another style weight is another run: every job again; so is a changed input
    status, log = run({"batch", jobs, "-style_weight", "50"})
    assert.are.equal(0, status, log)
    assert.matches("3 jobs: 3 done, 0 resumed, 0 skipped", log)
    assert.are.equal(3, #grep(log, "(its state is of another run)") + #grep(log, ": (running)"), log)
    require("nst").image.save(require("nst").rand(1, 3, 24, 32), images[2])
    status, log = run({"batch", jobs, "-style_weight", "50"})
    assert.matches("3 jobs: 1 done, 0 resumed, 2 skipped", log)
  end)

  it("resumes a half-done job to the bytes of an uninterrupted run", function()
    local c = images[1]
    files.write(dir .. "/jobs.txt", ("-content_image %s -output_image %s/half.png\n"):format(c, dir))
    files.write(dir .. "/whole.txt", ("-content_image %s -output_image %s/whole.png\n"):format(c, dir))
    local status, log = run({"batch", dir .. "/jobs.txt", "-num_iterations", "2"})
    assert.are.equal(0, status, log)
    status, log = run({"batch", dir .. "/jobs.txt", "-num_iterations", "5"})
    assert.are.equal(0, status, log)
    assert.matches("line 1 %(.-half.png%): resumed from iteration 2", log)
    assert.matches("1 job: 0 done, 1 resumed, 0 skipped %(complete%), 0 failed", log)
    status, log = run({"batch", dir .. "/whole.txt", "-num_iterations", "5"})
    assert.are.equal(0, status, log)
    assert.are.equal(files.read(dir .. "/whole.png"), files.read(dir .. "/half.png"))
    -- a finished job whose image was removed: its state finishes it without iterating
    os.remove(dir .. "/half.png")
    status, log = run({"batch", dir .. "/jobs.txt", "-num_iterations", "5"})
    assert.matches("resumed from iteration 5", log)
    assert.are.equal(files.read(dir .. "/whole.png"), files.read(dir .. "/half.png"))
  end)

  it("reports failing jobs with their reasons and runs the others; exit status 1", function()
    local jobs = jobs_file(2, {"-content_image " .. dir .. "/missing.png -output_image " .. dir .. "/m.png",
                               "-content_image " .. images[1] .. " -output_image " .. dir .. "/b.png -bogus 1",
                               "-content_image 'unterminated", "-content_image " .. images[2] .. " -output_image " .. dir .. "/last.png"})
    local status, log = run({"batch", jobs})
    assert.are.equal(1, status, log)
    assert.matches("6 jobs: 3 done, 0 resumed, 0 skipped %(complete%), 3 failed", log)
    assert.matches("failed: line 4 %(.-/m.png%): image.load: .-missing.png: cannot open", log)
    assert.matches("failed: line 5 %(.-%): unknown flag %-bogus", log)
    assert.matches("failed: line 6 %(.-%): unterminated ' quote", log)
    assert.is_true(files.exists(dir .. "/last.png"))
    assert.is_true(files.exists(dir .. "/o 2.png"))
    assert.is_false(files.exists(dir .. "/m.png"))
  end)

  it("refuses two jobs with one output, a missing file, and bad usage (exit status 2)", function()
    files.write(dir .. "/dup.txt", ("-content_image %s -output_image %s/x\n-content_image %s -output_image %s/./x.png\n")
                :format(images[1], dir, images[2], dir))
    local status, log = run({"batch", dir .. "/dup.txt"})
    assert.are.equal(2, status, log)
    assert.matches("jobs on lines 1 and 2 both write .-/x.png: give each job its own %-output_image", log)
    status, log = cli.run({"batch", dir .. "/none.txt"})
    assert.are.equal(2, status)
    assert.matches("nst batch: cannot read the jobs file .-none.txt", log)
    status, log = cli.run({"batch"})
    assert.are.equal(2, status)
    assert.matches("expected a jobs file", log)
    status, log = cli.run({"batch", dir .. "/dup.txt", "-shard", "3/3"})
    assert.are.equal(2, status)
    assert.matches("%-shard 3/3: I must be below N", log)
    status, log = cli.run({"batch", "--help"})
    assert.are.equal(0, status)
    assert.matches("usage: nst batch JOBS", log)
  end)

  it("stops at SIGTERM (Slurm's time limit) after the job's checkpoint; a rerun continues", function()
    files.write(dir .. "/jobs.txt", ("-content_image %s -output_image %s/long.png -num_iterations 100000 -save_iter 1\n"
                                     .. "-content_image %s -output_image %s/next.png\n"):format(images[1], dir, images[2], dir))
    local a = {"batch", dir .. "/jobs.txt"}
    table.move(tiny.common(), 1, #tiny.common(), 3, a)
    a[#a + 1], a[#a + 2] = "-num_iterations", "3" -- the jobs' own flags win
    local status, log = cli.run_and_signal(a, dir .. "/long_2.png", "TERM")
    assert.are.equal(143, status, log)
    assert.matches("line 1 %(.-long.png%): failed: interrupted by SIGTERM at iteration %d+", log)
    assert.matches("2 jobs: 0 done, 0 resumed, 0 skipped %(complete%), 1 failed, 1 not run %(interrupted%)", log)
    assert.is_false(files.exists(dir .. "/next.png"))
    files.write(dir .. "/jobs.txt", ("-content_image %s -output_image %s/long.png -num_iterations 40\n"
                                     .. "-content_image %s -output_image %s/next.png\n"):format(images[1], dir, images[2], dir))
    status, log = tiny.run_env("", a)
    assert.are.equal(0, status, log)
    assert.matches("line 1 %(.-long.png%): resumed from iteration %d+", log)
    assert.matches("2 jobs: 1 done, 1 resumed", log)
  end)

  it("loads one network per model, weights, pooling and device", function()
    local jobs = jobs_file(2, {("-content_image %s -output_image %s/max.png -pooling max"):format(images[3], dir)})
    local status, log = run({"batch", jobs})
    assert.are.equal(0, status, log)
    assert.are.same({"avg", "max"}, grep(log, "network vgg16 %((%a+) pooling%)"))
  end)
end)
