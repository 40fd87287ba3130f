-- The values of the command line's coarse-to-fine and size flags (nst.cli's FLAGS use
-- these as their `parse`): each takes the flag ("-scales") and its text and returns the
-- nst.transfer option, or raises {usage = message}.
local M = {}

local function usage_error(msg, ...) error({usage = msg:format(...)}, 0) end

-- "a, b,c" -> {"a", "b", "c"} (nil for an empty item)
local function items(s)
  local out = {}
  for item in (s .. ","):gmatch("([^,]*),") do out[#out + 1] = item:match("^%s*(.-)%s*$") end
  return out
end

local function positive(s)
  local n = math.tointeger(tonumber(s))
  return n and n >= 1 and n or nil
end

-- -scales auto | N,N,... (increasing sizes in pixels)
function M.scales(flag, v)
  if v == "auto" then return "auto" end
  local out = {}
  for i, item in ipairs(items(v)) do
    out[i] = positive(item)
    if not out[i] or (i > 1 and out[i] <= out[i - 1]) then
      usage_error("%s: expected auto or sizes in pixels, increasing, separated by commas (96,192,384), got '%s'",
                  flag, v)
    end
  end
  return out
end

-- -num_iterations N,N,... (one per scale); nil for one number (read as an integer)
function M.iterations(flag, v)
  if not v:find(",", 1, true) then return nil end
  local out = {}
  for i, item in ipairs(items(v)) do
    local n = math.tointeger(tonumber(item))
    if not n or n < 0 then
      usage_error("%s: expected an integer >= 0, or one per scale separated by commas (100,100,200), got '%s'",
                  flag, v)
    end
    out[i] = n
  end
  return out
end

-- -image_size WxH (a texture of that size); nil for anything without an x (read as an
-- integer, the longer side)
function M.size(flag, v)
  if not v:find("x", 1, true) then return nil end
  local w, h = v:match("^(%d+)x(%d+)$")
  w, h = positive(w), positive(h)
  if w and h and w <= 16384 and h <= 16384 then return ("%dx%d"):format(w, h) end
  usage_error("%s: expected a size in pixels (512) or WxH for a texture (640x360), each 1..16384, got '%s'", flag, v)
end

return M
