-- What the specs read in a command's output or log.
--   local log = require("helpers.log")
--   log.lines("a\nb\n")                       -> {"a", "b"}
--   log.grep(out, "frame (%d+): done")        -> the capture of each line that matches
--   log.count(out, "rendered")                -> how often the pattern occurs
local M = {}

-- The non-empty lines of s, in order.
function M.lines(s)
  local out = {}
  for line in s:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

-- The first capture of each line of s that matches pattern, as a list.
function M.grep(s, pattern)
  local out = {}
  for _, line in ipairs(M.lines(s)) do
    local c = line:match(pattern)
    if c then out[#out + 1] = c end
  end
  return out
end

-- How many times pattern occurs in s.
function M.count(s, pattern)
  local n = 0
  for _ in s:gmatch(pattern) do n = n + 1 end
  return n
end

return M
