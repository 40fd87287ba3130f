-- The nst command line as a separate process, as a user runs it: from the source tree's
-- Lua files and the core built under $NST_BUILD (default build).
--   local cli = require("helpers.cli_process")
--   local status, log = cli.run({"-content_image", ...})             -- waits
--   local status, log = cli.run_and_signal(args, dir .. "/out_*.png", "INT")
local M = {}

local BUILD = os.getenv("NST_BUILD") or "build"
local ROOT = os.getenv("PWD")

-- A word for the shell, quoted.
function M.quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- The installed command's script (Makefile's install target), as a file.
local MAIN = os.tmpname()
do
  local f = assert(io.open(MAIN, "wb"))
  f:write('os.exit(require("nst.cli").main(arg), true)\n')
  f:close()
end
M._sentinel = setmetatable({}, {__gc = function() os.remove(MAIN) end})

-- The shell command that runs nst (followed by args, when given).
function M.command(args)
  local words = {}
  for i, a in ipairs(args or {}) do words[i] = M.quote(a) end
  return ("LUA_PATH=%s LUA_CPATH=%s lua5.4 %s %s"):format(M.quote(ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;;"),
    M.quote(ROOT .. "/" .. BUILD .. "/?.so;;"), MAIN, table.concat(words, " "))
end

local function shell(script)
  local p = io.popen(script .. " 2>&1")
  local out = p:read("a")
  p:close()
  return out
end

-- Runs nst to its end: exit status, what it printed (stdout and stderr).
function M.run(args)
  local out = shell(M.command(args) .. " 2>&1; echo \"status $?\"")
  local status = tonumber(out:match("status (%d+)%s*$"))
  return status, (out:gsub("status %d+%s*$", ""))
end

-- Starts nst, waits until a file matching the shell pattern `wait_for` exists, sends the
-- signals (e.g. "INT", "INT INT"), waits for it: exit status, what it printed.
function M.run_and_signal(args, wait_for, signals)
  local log = os.tmpname()
  local script = ([[
%s > %s 2>&1 &
P=$!
for i in $(seq 1 1200); do ls %s >/dev/null 2>&1 && break; sleep 0.05; done
for s in %s; do kill -$s $P; sleep 0.05; done
wait $P
echo "status $?"
]]):format(M.command(args), log, wait_for, signals)
  local out = shell(script)
  local f = io.open(log, "rb")
  local text = f and f:read("a") or ""
  if f then f:close() end
  os.remove(log)
  return tonumber(out:match("status (%d+)")), text
end

return M
