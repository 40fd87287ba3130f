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

return M
