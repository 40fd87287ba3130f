-- nst batch JOBS [flags for every job] [-shard I/N]: the jobs of a file, one line of nst
-- flags each (see nst.batch). Exit status 0 when every job of the shard is done or was
-- complete, 1 when one failed, 2 on bad usage, 130/143 when interrupted.
local batch = require("nst.batch")
local cmd_args = require("nst.cmd_args")
local shard = require("nst.shard")

local M = {}

M.usage = [[
usage: nst batch JOBS [nst flags for every job] [-shard I/N]
Runs the jobs of the file JOBS, one line of nst flags each (as on the command line:
'...' and "..." quote paths with spaces; blank lines and # comments are skipped). The
flags after JOBS apply to every job; a job's own flag wins over the same flag there.
  -shard I/N   run shard I of N (0 <= I < N): job j (1-based, counting jobs) is in shard
               (j - 1) mod N. Default: the Slurm array task's (SLURM_ARRAY_TASK_ID,
               SLURM_ARRAY_TASK_COUNT), else every job.
A job whose output exists and whose run state (<output>.state.safetensors) says it
finished with the same flags and inputs is skipped; one with a state of fewer iterations
(-save_iter checkpoints, a longer -num_iterations) resumes from it; a failing job is
reported and the others go on. One network is loaded per model, weights, pooling and
device. Exit status: 0 all done or skipped, 1 a job failed, 2 bad usage, 130/143
interrupted (the job's checkpoint written; rerun to continue).]]

local say = cmd_args.sayer("batch")

local function parse(args)
  local own, common, pos = cmd_args.split(args, {shard = "string", help = "bool", h = "bool"}, {positional = 1})
  if own.help or own.h then return own end
  if not pos[1] then error({usage = "nst batch: expected a jobs file (see nst batch --help)"}, 0) end
  return own, batch.parse_jobs(batch.read_jobs(pos[1]), common), pos[1]
end

-- For nst submit: the arguments of `nst batch` checked as every task would read them, a
-- job line with wrong flags refused. Returns {jobs = their number}.
function M.check(args)
  local own, jobs, path = parse(args)
  if own.help or own.h then error({usage = "nst batch: --help is no job"}, 0) end
  for _, job in ipairs(jobs) do
    if job.error then error({usage = ("%s line %d: %s"):format(path, job.line, job.error)}, 0) end
  end
  return {jobs = #jobs}
end

local function main(args)
  local own, jobs, path = parse(args)
  if cmd_args.help(own.help or own.h, M.usage) then return 0 end
  local sh = shard.choose(own.shard)
  local pos = {path}
  local s = batch.run(jobs, {shard = sh, log = say})
  for _, line in ipairs(batch.report(s, ("%s %s"):format(pos[1], shard.name(sh)):gsub("%s+$", ""))) do say(line) end
  if s.interrupted then return s.interrupted end
  return #s.failed > 0 and 1 or 0
end

function M.main(args) return cmd_args.run("batch", main, args) end

return M
