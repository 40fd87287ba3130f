-- The flags of a subcommand (nst batch, submit, video, flow) picked out of its
-- arguments; the rest (nst's own flags, for each job or frame) are passed on unchanged.
--   local own, rest = cmd_args.split(args, {shard = "string", tasks = "integer", dry_run = "bool"})
-- A flag is -name or --name (--dry-run reads as dry_run). Kinds: string, integer, number
-- (a value follows), bool (alone means true; 0, 1, true, false read too). nst's flags
-- keep their value with them (a bool one may stand alone), so a value such as "-1"
-- (-gpu -1) is never read as a flag. Errors are {usage = message}.
local M = {}

local function usage(msg, ...) error({usage = msg:format(...)}, 0) end

local BOOLS = {["1"] = true, ["true"] = true, ["0"] = false, ["false"] = false}

local function flag_name(a)
  local name = a:match("^%-%-?([%a_][%w_%-]*)$")
  return name and name:gsub("%-", "_")
end

local function value(kind, name, v)
  if kind == "string" then return v end
  if kind == "bool" then
    if BOOLS[v] == nil then usage("-%s: expected 0, 1, true or false, got '%s'", name, v) end
    return BOOLS[v]
  end
  local n = tonumber(v)
  if not n or n ~= n or math.abs(n) == math.huge then usage("-%s: expected a number, got '%s'", name, v) end
  if kind == "integer" then n = math.tointeger(n) or usage("-%s: expected an integer, got '%s'", name, v) end
  return n
end

-- args -> own {name = value}, rest (a list), positional (the words before the first flag,
-- when opts.positional allows that many). own flags given twice: the last counts.
function M.split(args, spec, opts)
  opts = opts or {}
  local nst_flags = require("nst.cli").flags
  local own, rest, positional = {}, {}, {}
  local i = 1
  while i <= #args and #positional < (opts.positional or 0) and not flag_name(args[i]) do
    positional[#positional + 1] = args[i]
    i = i + 1
  end
  while i <= #args do
    local a = args[i]
    local name = flag_name(a)
    local kind = name and spec[name]
    local nxt = args[i + 1]
    if kind then
      if kind == "bool" and (nxt == nil or BOOLS[nxt] == nil) then
        own[name], i = true, i + 1
      else
        if nxt == nil then usage("-%s needs a value", name) end
        own[name], i = value(kind, name, nxt), i + 2
      end
    elseif name and nst_flags[name] then
      rest[#rest + 1] = a
      local alone = nst_flags[name][2] == "bool" and (nxt == nil or BOOLS[nxt] == nil and nxt:match("^%-%-?[%a_]"))
      if nxt ~= nil and not alone then
        rest[#rest + 1] = nxt
        i = i + 1
      end
      i = i + 1
    else
      rest[#rest + 1] = a -- cli.parse names what is wrong with it
      i = i + 1
    end
  end
  return own, rest, positional
end

-- A subcommand's progress line writer: say(line) -> "nst NAME: line" on stderr.
function M.sayer(name)
  return function(line) io.stderr:write("nst ", name, ": ", line, "\n") end
end

-- Writes usage to stdout when wanted (the -help flag was given); true if it did.
function M.help(wanted, usage)
  if wanted then io.stdout:write(usage, "\n") end
  return wanted and true or false
end

-- Runs a subcommand's main(args) -> exit status, its errors reported as "nst NAME: why":
-- 2 for bad usage ({usage = ...}), 130/143 for an interrupt, else 1.
function M.run(name, main, args)
  local cli = require("nst.cli")
  local ok, status = pcall(main, args or {})
  if ok then return status end
  local msg = cli.error_message(status):gsub("^nst %a+: ", ""):gsub("^nst%.video_io: ", "")
  io.stderr:write("nst ", name, ": ", msg, "\n")
  if type(status) == "table" and status.usage then return 2 end
  return cli.failure_status(msg)
end

return M
