-- Shards of a list of work items: `-shard I/N` (0 <= I < N, 0-based as Slurm's
-- SLURM_ARRAY_TASK_ID) names shard I of N; without it, a Slurm array task's own index and
-- count are used. Jobs go to shards round-robin in file order (job j, 1-based, is in
-- shard (j - 1) % N): every job in exactly one shard, the same one on every run of the
-- same list. A video is split into N contiguous ranges of frames instead (nst.video_plan).
local M = {}

local function fail(msg, ...) error({usage = msg:format(...)}, 0) end

-- "I/N" -> {index = I, count = N}; what names the value in errors (e.g. "-shard").
function M.parse(s, what)
  what = what or "-shard"
  local i, n = tostring(s):match("^%s*(%d+)%s*/%s*(%d+)%s*$")
  i, n = math.tointeger(tonumber(i)), math.tointeger(tonumber(n))
  if not i then fail("%s: expected I/N (shard I of N, 0 <= I < N), got '%s'", what, tostring(s)) end
  if n < 1 then fail("%s %s: N must be at least 1", what, s) end
  if i >= n then fail("%s %s: I must be below N (shards are numbered 0 to N-1, as Slurm's array tasks)", what, s) end
  return {index = i, count = n}
end

-- The shard of a Slurm array task: SLURM_ARRAY_TASK_ID less SLURM_ARRAY_TASK_MIN (an
-- array need not start at 0) of SLURM_ARRAY_TASK_COUNT; nil outside an array job.
-- getenv: os.getenv (the specs pass their own).
function M.from_env(getenv)
  getenv = getenv or os.getenv
  local id, count = getenv("SLURM_ARRAY_TASK_ID"), getenv("SLURM_ARRAY_TASK_COUNT")
  if not id or id == "" or not count or count == "" then return nil end
  local min = tonumber(getenv("SLURM_ARRAY_TASK_MIN") or "") or 0
  local i, n = math.tointeger(tonumber(id)), math.tointeger(tonumber(count))
  if not i or not n then fail("SLURM_ARRAY_TASK_ID=%s, SLURM_ARRAY_TASK_COUNT=%s: not numbers", id, count) end
  return M.parse(("%d/%d"):format(i - min, n), "the Slurm array task (SLURM_ARRAY_TASK_ID - MIN / COUNT)")
end

-- The shard a command runs: the flag's, else the Slurm array task's, else nil (all).
function M.choose(flag, getenv)
  if flag then return M.parse(flag) end
  return M.from_env(getenv)
end

-- Whether item j (1-based) of a list belongs to the shard (nil: every item does).
function M.has(shard, j)
  return shard == nil or (j - 1) % shard.count == shard.index
end

-- "shard I/N" or "" for the whole list, for messages.
function M.name(shard) return shard and ("shard %d/%d"):format(shard.index, shard.count) or "" end

return M
