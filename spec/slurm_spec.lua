-- The Slurm test cluster (spec/helpers/slurm.lua): a real single-node Slurm on this
-- machine runs a small job array, and stopping it ends exactly the daemons it started.
-- Without root or without the packages this fails, saying why: nst's batch and video
-- specs rely on it, so it must not pass silently.
local slurm = require("helpers.slurm")
local files = require("helpers.files")

describe("Slurm test cluster", function()
  local cluster, out
  slurm.cluster_all(function(c, dir) cluster, out = c, dir end)

  it("runs an sbatch --array job, one task per index, and waits for it", function()
    local script = out .. "/task.sh"
    files.write(script, "#!/bin/sh\necho \"$SLURM_ARRAY_TASK_ID $SLURM_ARRAY_TASK_COUNT\" > \"$1/out_$SLURM_ARRAY_TASK_ID.txt\"\n")
    local id = cluster:sbatch({"--array=0-2", "--output=" .. out .. "/log_%A_%a.txt", script, out})
    assert.are.equal(3, cluster:wait(id))
    for i = 0, 2 do
      assert.are.equal(("%d 3\n"):format(i), files.read(("%s/out_%d.txt"):format(out, i)))
      assert.is_true(files.exists(("%s/log_%s_%d.txt"):format(out, id, i)))
    end
  end)

  it("reports a failing task", function()
    local script = out .. "/fail.sh"
    files.write(script, "#!/bin/sh\n[ \"$SLURM_ARRAY_TASK_ID\" = 1 ] && exit 3\nexit 0\n")
    local id = cluster:sbatch({"--array=0-1", "--output=/dev/null", script})
    local ok, err = pcall(cluster.wait, cluster, id)
    assert.is_false(ok)
    assert.matches("a task ended FAILED", err)
  end)

  it("stops exactly the daemons it started", function()
    local pids = {}
    for _, d in ipairs(cluster.pids) do pids[#pids + 1] = d.pid end
    assert.are.equal(3, #pids)
    local dir = cluster.dir
    cluster:stop()
    for _, pid in ipairs(pids) do
      assert.is_false(os.execute("kill -0 " .. pid .. " 2>/dev/null") == true, "pid " .. pid .. " still runs")
    end
    assert.is_false(files.exists(dir .. "/slurm.conf"))
    cluster = nil
  end)
end)
