-- The few file-system questions the Lua side asks (plain Lua and the shell; nst.write_atomic
-- in C writes files). Shared so that one quoting rule serves every shell command.
local M = {}

-- One shell word: '...' with ' written as '\''.
function M.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

function M.is_dir(path) return os.execute("test -d " .. M.q(path)) == true end

-- The whole file, or "" when it cannot be read (logs that may not exist yet).
function M.read(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

-- Runs a shell command: whether it exited 0, everything it printed (stdout and stderr).
function M.run(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  return ok == true, out
end

-- mkdir -p; false when the folder could not be made.
function M.mkdir(path) return os.execute("mkdir -p -- " .. M.q(path)) == true end

-- rm -rf: a folder and everything in it (nothing when it is not there).
function M.remove_tree(path)
  assert(type(path) == "string" and path ~= "", "nst.fs.remove_tree: expected a path")
  os.execute("rm -rf -- " .. M.q(path))
end

-- A memory figure of this process in MiB, from /proc/self/status (Linux): field "VmRSS"
-- (resident now) or "VmHWM" (the peak of that); nil when the file has no such line.
function M.memory_mib(field)
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^" .. field .. ":%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end

return M
