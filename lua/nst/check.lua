-- The argument checks of the Lua modules: one for option keys, one for numbers. Their
-- messages read "<where>: <name> must be <want>, got <value>", so that a user sees which
-- function and which option was wrong.
local M = {}

-- What a number must be, or nil when v is one. spec: integer (an integer, not only a
-- number), min (v >= min), max (v <= max), below (v < below), above (v > above).
-- Returns e.g. "an integer >= 0", "a number in [0, 1)"; with spec.bare the kind is left
-- out (">= 0"), for values already known to be numbers.
function M.want(v, spec)
  local kind = spec.integer and "an integer" or "a number"
  local ok
  if spec.integer then ok = math.type(v) == "integer" else ok = type(v) == "number" and v == v end
  local range
  if spec.above then
    range = ("> %s"):format(spec.above)
    ok = ok and v > spec.above
  elseif spec.below or spec.max then
    local hi = spec.below or spec.max
    range = ("in [%s, %s%s"):format(spec.min, hi, spec.below and ")" or "]")
    ok = ok and v >= spec.min and (spec.below and v < hi or not spec.below and v <= hi)
  elseif spec.min then
    range = (">= %s"):format(spec.min)
    ok = ok and v >= spec.min
  end
  if ok then return nil end
  if spec.bare then return range end
  return range and kind .. " " .. range or kind
end

-- Raises "<where>: <name> must be <want>, got <v>" unless v satisfies spec (see M.want);
-- returns v. spec.level: where the error points, as error()'s level seen from the
-- caller (default 0: no position, the message names the function).
function M.number(where, name, v, spec)
  local want = M.want(v, spec)
  if want then
    local level = spec.level and spec.level + 1 or 0
    error(("%s: %s must be %s, got %s"):format(where, name, want, tostring(v)), level)
  end
  return v
end

-- Raises "<where>: <what> must be an nst tensor, got <type>" unless t is an open tensor;
-- returns t. level: as M.number's spec.level (default 0).
function M.tensor(where, what, t, level)
  if type(t) ~= "userdata" or not pcall(t.numel, t) then
    error(("%s: %s must be an nst tensor, got %s"):format(where, what, type(t)), level and level + 1 or 0)
  end
  return t
end

-- Raises "<where>: unknown option '<key>'" for the first key of t (in sorted order, so
-- that the message does not depend on the table's layout) that is not a key of known.
function M.keys(where, t, known)
  local bad = {}
  for k in pairs(t) do
    if known[k] == nil then bad[#bad + 1] = tostring(k) end
  end
  if #bad > 0 then
    table.sort(bad)
    error(("%s: unknown option '%s'"):format(where, bad[1]), 0)
  end
end

return M
