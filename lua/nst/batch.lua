-- nst batch: a file of jobs, one line of nst flags each, run one after another in one
-- process (one network per model, weights, pooling and device, loaded once).
--   local batch = require("nst.batch")
--   local jobs = batch.read_jobs("jobs.txt")     -- {line =, text =, args =} or {line =, error =}
--   local summary = batch.run(jobs, {common = {"-gpu", "-1"}, shard = {index = 0, count = 2}})
-- A job's state decides what happens to it (batch.status):
--   skip    its output image exists and its run state says it finished (iteration =
--           -num_iterations) with this job's run definition (nst.run_state)
--   resume  its state has this definition and fewer iterations (a half-done job, or a
--           finished one whose image is gone): continued with -resume
--   run     no state, or the state of another run (other flags, changed inputs)
local cli = require("nst.cli")
local fs = require("nst.fs")
local shard = require("nst.shard")
local run_state = require("nst.run_state")
local options = require("nst.transfer_options")

local M = {}

local function usage(msg, ...) error({usage = msg:format(...)}, 0) end

-- ---- the jobs file -----------------------------------------------------------------

-- A line split into words as a POSIX shell would, without expansions: blanks separate
-- words; '...' keeps everything; "..." keeps everything but \ before " \ $ ` and newline;
-- \ outside quotes keeps the next character; # at the start of a word begins a comment.
-- Returns the words, or nil and what is wrong.
function M.words(line)
  local out, word, i, n = {}, nil, 1, #line
  local function add(s) word = (word or "") .. s end
  while i <= n do
    local ch = line:sub(i, i)
    if ch:match("%s") then
      if word then out[#out + 1], word = word, nil end
      i = i + 1
    elseif ch == "#" and not word then
      break
    elseif ch == "'" then
      local j = line:find("'", i + 1, true)
      if not j then return nil, "unterminated ' quote" end
      add(line:sub(i + 1, j - 1))
      i = j + 1
    elseif ch == '"' then
      local s, j = {}, i + 1
      while true do
        local c = line:sub(j, j)
        if c == "" then return nil, 'unterminated " quote' end
        if c == '"' then break end
        local nxt = line:sub(j + 1, j + 1)
        if c == "\\" and nxt:match('^["\\$`]$') then c, j = nxt, j + 1 end
        s[#s + 1], j = c, j + 1
      end
      add(table.concat(s))
      i = j + 1
    elseif ch == "\\" then
      if i == n then return nil, "a \\ at the end of the line" end
      add(line:sub(i + 1, i + 1))
      i = i + 2
    else
      local j = line:find("[%s'\"\\]", i) or n + 1
      add(line:sub(i, j - 1))
      i = j
    end
  end
  if word then out[#out + 1] = word end
  return out
end

-- The jobs of a file: one per line that holds a word, in order, {line = number, text =
-- the line, args = its words}, or {line =, text =, error = why it cannot be read}.
function M.read_jobs(path)
  local f, err = io.open(path, "rb")
  if not f then usage("cannot read the jobs file %s", (err:gsub("^[^:]*: ", path .. ": "))) end
  local text = f:read("a")
  f:close()
  local jobs, n = {}, 0
  for line in (text:gsub("\r\n", "\n") .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do
    n = n + 1
    local words, why = M.words(line)
    if not words then
      jobs[#jobs + 1] = {line = n, text = line, error = why}
    elseif #words > 0 then
      jobs[#jobs + 1] = {line = n, text = line, args = words}
    end
  end
  return jobs
end

-- ---- one job ------------------------------------------------------------------------

-- A path as one name for the same file: absolute, without "." and "" parts, "x/.." removed.
function M.normalize(path, cwd)
  if path:sub(1, 1) ~= "/" then path = (cwd or os.getenv("PWD") or ".") .. "/" .. path end
  local parts = {}
  for p in path:gmatch("[^/]+") do
    if p == ".." then
      if #parts > 0 then parts[#parts] = nil end
    elseif p ~= "." then
      parts[#parts + 1] = p
    end
  end
  return "/" .. table.concat(parts, "/")
end

-- The output a job will write: its -output_image, with .png when it has no extension.
local function output_of(o)
  local out = o.output
  if not out:match("/?[^/]+%.[^./]+$") then out = out .. ".png" end
  return out
end

-- Parses each job's flags (the common flags first: a job's own flag wins over the same
-- flag after the file). A job sets .opts, or .error when its flags are wrong. Two jobs
-- with one output are refused (a usage error): they would overwrite each other.
function M.parse_jobs(jobs, common)
  local seen = {}
  for _, job in ipairs(jobs) do
    if job.args then
      local args = table.move(common or {}, 1, #(common or {}), 1, {})
      table.move(job.args, 1, #job.args, #args + 1, args)
      local ok, o = pcall(cli.parse, args)
      if not ok then
        job.error = cli.error_message(o)
      elseif o.help then
        job.error = "--help in a job line"
      else
        job.opts = o
        job.output = output_of(o)
        local key = M.normalize(job.output)
        if seen[key] then
          usage("jobs on lines %d and %d both write %s: give each job its own -output_image", seen[key], job.line, job.output)
        end
        seen[key] = job.line
      end
    end
  end
  return jobs
end

local exists = fs.exists

-- Whether two run definitions ({key = string}) are the same.
function M.same(a, b)
  for k, v in pairs(a) do if b[k] ~= v then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

-- What to do with a job whose options o are settled (cli.prepare); net: its network or
-- what describes one ({arch, pooling, weights, device}: no need to load it to decide).
-- Returns "skip", "resume" or "run", and why (for the summary).
function M.status(o, net)
  local path = run_state.path_for(o.output)
  if not exists(path) then return "run", "no saved state" end
  local ok, st = pcall(run_state.read, path)
  if not ok then return "run", "its state is unreadable (" .. cli.error_message(st) .. "): started anew" end
  local user = {}
  for k, v in pairs(o) do user[k] = v end
  user.net = net
  local checked = options.check(user)
  local def = run_state.definition({opts = checked, net = net, device = net.device})
  if not M.same(def, st.doc.run) then return "run", "its state is of another run: started anew" end
  local it = st.doc.iteration
  if it > checked.num_iterations then
    return "run", ("its state is at iteration %d, past -num_iterations %d: started anew"):format(it, checked.num_iterations)
  end
  if it == checked.num_iterations and exists(o.output) then return "skip", "complete" end
  return "resume", ("resumed from iteration %d"):format(it)
end

-- ---- the batch ---------------------------------------------------------------------

-- The network a job needs, described: {arch, pooling, weights (the file), device, key}.
function M.describe_network(o)
  local pooling = o.pooling or options.defaults.pooling
  local arch, path = require("nst.weights").resolve(o.model, o.weights)
  return {arch = arch, pooling = pooling, weights = path, device = o.device,
          key = table.concat({arch, path, pooling, o.device}, "\0")}
end

-- One network per description's key, loaded on first use: cache(description) -> net.
function M.network_cache(log)
  local vgg = require("nst.vgg")
  local nets = {}
  return function(d)
    if not nets[d.key] then
      nets[d.key] = vgg.new(d.arch, {weights = d.weights, pooling = d.pooling, device = d.device})
      log(("network %s (%s pooling) from %s on %s"):format(d.arch, d.pooling, d.weights, d.device))
    end
    return nets[d.key]
  end
end

-- Runs one job: settles its options, skips, resumes or runs it (its network loaded only
-- to run). Returns what happened ("skipped", "resumed", "done") and why.
local function run_job(job, net_for, run, log, name)
  local o = cli.prepare(job.opts)
  local d = M.describe_network(o)
  local what, why = M.status(o, d)
  if what == "skip" then return "skipped", why end
  log(("%s: %s"):format(name, what == "resume" and why or "running"))
  o.net = net_for(d)
  o.resume = what == "resume" or nil
  run(o)
  return what == "resume" and "resumed" or "done", why
end

-- Runs the jobs of the shard (all when opts.shard is nil). opts: common (flags for every
-- job), shard, log(line) (progress lines; default stderr), run(o) (one job; default
-- cli.run). A job that fails is reported and the next one runs; an interrupt (Ctrl-C,
-- SIGTERM, as Slurm sends at a time limit) stops the batch after the job's checkpoint.
-- Returns the summary: {jobs = in the shard, done =, resumed =, skipped =, failed =
-- {{job, reason}}, interrupted = exit status or nil, not_run = jobs left by an interrupt}.
function M.run(jobs, opts)
  opts = opts or {}
  local log = opts.log or function(line) io.stderr:write("nst batch: ", line, "\n") end
  local net_for = opts.net_for or M.network_cache(log)
  local s = {jobs = 0, done = 0, resumed = 0, skipped = 0, failed = {}, not_run = 0}
  for j = 1, #jobs do
    if shard.has(opts.shard, j) then s.jobs = s.jobs + 1 end
  end
  local reached = 0
  for j, job in ipairs(jobs) do
    if shard.has(opts.shard, j) then
      reached = reached + 1
      local name = ("line %d (%s)"):format(job.line, job.output or "no output")
      if job.error then
        s.failed[#s.failed + 1] = {job = job, reason = job.error}
        log(("%s: failed: %s"):format(name, job.error))
      else
        local ok, what, why = pcall(run_job, job, net_for, opts.run or cli.run, log, name)
        if ok then
          s[what] = s[what] + 1 -- done, resumed or skipped
          log(("%s: %s"):format(name, what == "skipped" and "skipped (complete)" or what))
        else
          local msg = cli.error_message(what)
          s.failed[#s.failed + 1] = {job = job, reason = msg}
          log(("%s: failed: %s"):format(name, msg))
          local status = cli.failure_status(msg)
          if status ~= 1 then
            s.interrupted, s.not_run = status, s.jobs - reached
            break
          end
        end
      end
    end
  end
  return s
end

-- The summary's lines: the counts, then each failure with its reason.
function M.report(s, where)
  local lines = {("%s%d job%s: %d done, %d resumed, %d skipped (complete), %d failed%s"):format(
    where ~= "" and where .. ": " or "", s.jobs, s.jobs == 1 and "" or "s", s.done, s.resumed, s.skipped, #s.failed,
    s.interrupted and (", %d not run (interrupted)"):format(s.not_run) or "")}
  for _, f in ipairs(s.failed) do
    lines[#lines + 1] = ("  failed: line %d (%s): %s"):format(f.job.line, f.job.output or f.job.text, f.reason)
  end
  return lines
end

return M
