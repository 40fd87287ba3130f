-- nst submit [batch] JOBS ... | video ... | flow ...  -tasks N [--dry-run] [-- sbatch options]
-- Writes an sbatch script that runs the nst command over a Slurm job array (one task per
-- shard: the command reads SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT), submits it
-- and prints the job id. For video, a second job, dependent on the whole array
-- (--dependency=afterok:ID), assembles the chunks. Nothing about the cluster is assumed
-- beyond sbatch: partitions, GPUs and time limits are sbatch's own options after --.
local batch = require("nst.batch")
local fs = require("nst.fs")
local cmd_args = require("nst.cmd_args")

local M = {}

M.usage = [[
usage: nst submit [batch] JOBS [nst flags for every job] -tasks N [options] [-- sbatch options]
       nst submit video [nst video flags] -tasks N [options] [-- sbatch options]
       nst submit flow [nst flow flags] -tasks N [options] [-- sbatch options]
Writes an sbatch script running `nst batch JOBS ...` (or nst video, nst flow) as a job
array of N tasks, task I running shard I/N, submits it with sbatch and prints the job id
(for video also the id of the job that assembles the chunks once every task succeeded).
  -tasks N          the number of array tasks (--array=0-(N-1)); required
  --dry-run         print the script(s) instead of submitting
  -log_dir DIR      the task logs (<job name>-<job id>_<task>.log) and the scripts (nst-slurm)
  -job_name NAME    the Slurm job name (nst-batch, nst-video, nst-flow)
  -no_assemble      video: no assemble job (run nst video ... -assemble yourself)
  -nst COMMAND      how the nodes run nst (default: the command running now)
  -sbatch COMMAND   the sbatch command (default: sbatch)
Options after -- go to the script as #SBATCH lines, e.g. -- --gres=gpu:1 --time=2:00:00.]]

local function usage(msg, ...) error({usage = msg:format(...)}, 0) end

-- One shell word.
local function q(s)
  s = tostring(s)
  if s:match("^[%w%./_:=,+%%@%-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function cwd()
  local p = io.popen("pwd", "r")
  local d = p:read("l")
  p:close()
  return d
end

local function absolute(path, dir) return path:sub(1, 1) == "/" and path or (dir .. "/" .. path) end

-- How this process was started, as the words that start nst on a node: the interpreter
-- and the script for `lua5.4 main.lua` ; the installed `nst` (its script comes on stdin).
function M.self_command(argv, dir)
  argv = argv or rawget(_G, "arg")
  if type(argv) ~= "table" or type(argv[0]) ~= "string" or argv[0] == "-" then return {"nst"} end
  local lowest = -1
  while argv[lowest - 1] do lowest = lowest - 1 end
  local interp = argv[lowest] or "lua5.4"
  if interp:find("/", 1, true) then interp = absolute(interp, dir) end
  return {interp, absolute(argv[0], dir)}
end

-- The sbatch script: the #SBATCH lines (the ones given first, then the user's options),
-- the folder, the command.
function M.script(t)
  local lines = {"#!/bin/sh", "# Written by nst submit: " .. t.what}
  for _, o in ipairs(t.sbatch) do
    if o:find("[\n\r]") then usage("sbatch option %q holds a line break", o) end
    lines[#lines + 1] = "#SBATCH " .. q(o) -- sbatch reads a directive's quotes as a shell does
  end
  local words = {}
  for i, w in ipairs(t.command) do words[i] = q(w) end
  lines[#lines + 1] = "cd " .. q(t.dir) .. " || exit 1"
  lines[#lines + 1] = "exec " .. table.concat(words, " ")
  return table.concat(lines, "\n") .. "\n"
end

local read_file = fs.read

-- Submits a script with sbatch; returns the job id. A clear error when sbatch is missing
-- (Slurm is not installed here) or fails (its own message).
function M.sbatch(sbatch_cmd, path)
  local words = batch.words(sbatch_cmd)
  if not words or #words == 0 then usage("-sbatch: expected a command, got '%s'", sbatch_cmd) end
  if not os.execute("command -v " .. q(words[1]) .. " >/dev/null 2>&1") then
    error(("%s not found: Slurm is not installed here (or its commands are not on PATH); "
           .. "--dry-run prints the script to submit elsewhere"):format(words[1]), 0)
  end
  local quoted = {}
  for i, w in ipairs(words) do quoted[i] = q(w) end
  local err = os.tmpname()
  local p = io.popen(("%s --parsable %s 2>%s"):format(table.concat(quoted, " "), q(path), q(err)), "r")
  local out = p:read("a")
  local ok, _, code = p:close()
  local msg = read_file(err):gsub("%s+$", "")
  os.remove(err)
  if not ok then
    error(("sbatch failed (exit %s): %s"):format(tostring(code), msg ~= "" and msg or out), 0)
  end
  local id = out:match("^%s*(%d+)")
  if not id then error(("sbatch printed no job id: %s %s"):format(out, msg), 0) end
  return id
end

-- The arguments before "--" and the sbatch options after it.
local function split_dashes(args)
  for i, a in ipairs(args) do
    if a == "--" then return table.move(args, 1, i - 1, 1, {}), table.move(args, i + 1, #args, 1, {}) end
  end
  return args, {}
end

local OWN = {tasks = "integer", dry_run = "bool", log_dir = "string", job_name = "string", nst = "string",
             sbatch = "string", no_assemble = "bool", help = "bool", h = "bool", shard = "string"}

-- args -> the plan of a submission: {command, jobs = {{name, script, text}}, ...}.
function M.plan(args, env)
  env = env or {}
  local mine, sbatch_opts = split_dashes(args)
  local command = "batch"
  if mine[1] == "video" or mine[1] == "flow" or mine[1] == "batch" then
    command = table.remove(mine, 1)
  end
  local own, rest = cmd_args.split(mine, OWN)
  if own.help or own.h then return {help = true} end
  if own.shard then usage("-shard: each task runs its own shard; give -tasks N instead") end
  if not own.tasks then usage("-tasks N is required (the number of array tasks)") end
  if own.tasks < 1 or own.tasks > 1000000 then usage("-tasks must be 1 or more, got %d", own.tasks) end
  -- the command's own check: what would fail on every node fails here
  local checked = require("nst.cmd." .. command).check(rest)
  local dir = env.cwd or cwd()
  local logs = absolute(own.log_dir or "nst-slurm", dir)
  local name = own.job_name or ("nst-" .. command)
  if not name:match("^[%w_.%-]+$") then usage("-job_name: letters, digits, _ . - only, got '%s'", name) end
  local nst_cmd = own.nst and batch.words(own.nst) or M.self_command(env.argv, dir)
  if not nst_cmd or #nst_cmd == 0 then usage("-nst: expected a command, got '%s'", tostring(own.nst)) end
  local run = table.move(nst_cmd, 1, #nst_cmd, 1, {})
  run[#run + 1] = command
  table.move(rest, 1, #rest, #run + 1, run)
  local array = {
    name = name, path = ("%s/%s.sbatch"):format(logs, name),
    text = M.script{what = ("nst %s over a job array of %d tasks, task I running shard I/%d (nst reads "
                            .. "SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT)"):format(command, own.tasks, own.tasks),
                    sbatch = {"--job-name=" .. name, ("--array=0-%d"):format(own.tasks - 1),
                              ("--output=%s/%s-%%A_%%a.log"):format(logs, name), table.unpack(sbatch_opts)},
                    dir = dir, command = run},
  }
  local p = {command = command, tasks = own.tasks, logs = logs, dry_run = own.dry_run, jobs = {array},
             sbatch = own.sbatch or "sbatch", checked = checked}
  if command == "video" and not own.no_assemble then
    local assemble = table.move(run, 1, #run, 1, {})
    assemble[#assemble + 1] = "-assemble"
    local aname = name .. "-assemble"
    p.jobs[2] = {
      name = aname, path = ("%s/%s.sbatch"):format(logs, aname), after = 1,
      script = function(id)
        return M.script{what = "nst video -assemble: the chunks of job array " .. id .. " blended into the output",
                        sbatch = {"--job-name=" .. aname, "--dependency=afterok:" .. id,
                                  ("--output=%s/%s-%%j.log"):format(logs, aname), table.unpack(sbatch_opts)},
                        dir = dir, command = assemble}
      end,
    }
  end
  return p
end

local say = cmd_args.sayer("submit")

local function main(args)
  local p = M.plan(args)
  if cmd_args.help(p.help, M.usage) then return 0 end
  if p.command == "batch" and p.checked.jobs < p.tasks then
    say(("%d tasks for %d jobs: %d tasks will have nothing to do"):format(p.tasks, p.checked.jobs, p.tasks - p.checked.jobs))
  end
  if p.dry_run then
    for i, job in ipairs(p.jobs) do
      if i > 1 then io.stdout:write("\n") end
      io.stdout:write("# ", job.path, "\n", job.text or job.script("<id of the array job>"))
    end
    return 0
  end
  if not os.execute("mkdir -p " .. q(p.logs)) then error("cannot make the log folder " .. p.logs, 0) end
  local core = require("nst.core")
  local ids = {}
  for i, job in ipairs(p.jobs) do
    local text = job.text or job.script(ids[job.after])
    core.write_atomic(job.path, text)
    ids[i] = M.sbatch(p.sbatch, job.path)
    io.stdout:write(ids[i], "\n")
    if i == 1 then
      say(("submitted job %s: %d tasks of nst %s; logs %s/%s-%s_<task>.log"):format(ids[i], p.tasks, p.command,
                                                                                   p.logs, job.name, ids[i]))
    else
      say(("submitted job %s: nst video -assemble once job %s succeeds; log %s/%s-%s.log"):format(
        ids[i], ids[job.after], p.logs, job.name, ids[i]))
    end
  end
  io.stdout:flush()
  return 0
end

function M.main(args) return cmd_args.run("submit", main, args) end

return M
