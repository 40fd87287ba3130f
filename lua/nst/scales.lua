-- The scale schedule of a coarse-to-fine run: the sizes it optimizes at, smallest first,
-- and the iterations at each. The run is one sequence of iterations numbered 1..total
-- across the scales (the history, checkpoints and the run state count them so); scale k
-- runs iterations first..last.
--   scales = nil | "auto" | {N, N, ...}   (nil: "auto" from DEFAULT_FROM px up, else one scale)
--   "auto": image_size / 2^j for j = J, ..., 1, 0 with J = round(log2(image_size / 128)),
--           so the first scale lies in about [90, 181] px (384 -> 96, 192, 384;
--           768 -> 96, 192, 384, 768); 2x steps, because each coarse scale then costs a
--           quarter of the next one (the whole run about 4/3 of its last scale)
--   num_iterations = N (each scale) | {N1, ..., Nk} (one per scale)
-- Sizes are longer sides; with image_size "WxH" (a texture, nst.transfer_options) each
-- scale keeps the W:H ratio.
local check = require("nst.check")

local M = {}

-- scales = nil runs "auto" from this size up (one scale below, and always with a temporal
-- term): at 384 px, 100 iterations at each of 96, 192, 384 px cut the Gram style loss
-- measured at 128 px 2.4x and the one at 384 px by 36% against 100 at 384 px alone
-- (README, "High resolution"). scales = {image_size} (CLI -scales N) runs one scale.
M.DEFAULT_FROM = 384

local function fail(msg, ...) error("nst.transfer: " .. msg:format(...), 0) end

-- "auto" sizes for an output of longer side n.
function M.auto(n)
  local J = math.max(0, math.floor(math.log(n / 128, 2) + 0.5))
  local sizes = {}
  for j = J, 0, -1 do sizes[#sizes + 1] = math.max(1, math.floor(n / 2 ^ j + 0.5)) end
  return sizes
end

-- The sizes of the options' scales (checked): increasing positive integers, the last one
-- the output's size. explicit_size: the image_size the user gave (nil: the default).
local function sizes_of(o, explicit_size)
  local s = o.scales
  if s == nil then
    local multi = o.image_size and o.image_size >= M.DEFAULT_FROM and (o.temporal_weight or 0) == 0
    return multi and M.auto(o.image_size) or {o.image_size}
  end
  if s == "auto" then
    if not o.image_size then fail("scales = \"auto\" needs image_size (the last scale)") end
    return M.auto(o.image_size)
  end
  if type(s) ~= "table" or #s == 0 then
    fail("scales must be \"auto\" or a list of sizes in pixels, smallest first, got %s", tostring(s))
  end
  for i, n in ipairs(s) do
    check.number("nst.transfer", "scales[" .. i .. "]", n, {integer = true, min = 1})
    if i > 1 and n <= s[i - 1] then
      fail("scales must increase, smallest first: scales[%d] = %d follows %d", i, n, s[i - 1])
    end
  end
  if explicit_size and explicit_size ~= s[#s] then
    fail("the last of scales (%d) is the output's size, but image_size is %d", s[#s], explicit_size)
  end
  local out = {}
  for i, n in ipairs(s) do out[i] = n end
  return out
end

-- Checks scales and num_iterations and sets o.schedule: a list of {size, h, w (nil
-- unless the output has a fixed W x H), iterations, first, last}; o.num_iterations becomes
-- the total and o.image_size the last scale's size. user: the options as given.
function M.check(o, user)
  local sizes = sizes_of(o, user.image_size and o.image_size)
  if #sizes > 1 and (o.temporal_weight or 0) > 0 then
    fail("scales: a run with temporal_weight > 0 has one scale (its warped frame is at the output's size)")
  end
  local iters = o.num_iterations
  if type(iters) == "table" then
    if #iters ~= #sizes then
      fail("num_iterations has %d entries for %d scales (%s)", #iters, #sizes, table.concat(sizes, ","))
    end
  else
    check.number("nst.transfer", "num_iterations", iters, {integer = true, min = 0})
    local n = iters
    iters = {}
    for i = 1, #sizes do iters[i] = n end
  end
  local sched, last = {}, 0
  for i, n in ipairs(sizes) do
    check.number("nst.transfer", "num_iterations[" .. i .. "]", iters[i], {integer = true, min = 0})
    local e = {size = n, iterations = iters[i], first = last + 1, last = last + iters[i]}
    if o.width then -- a fixed W x H output: every scale keeps its ratio
      local L = math.max(o.width, o.height)
      e.w = math.max(1, math.floor(o.width * n / L + 0.5))
      e.h = math.max(1, math.floor(o.height * n / L + 0.5))
    end
    sched[i], last = e, e.last
  end
  o.schedule, o.num_iterations, o.image_size = sched, last, sizes[#sizes]
  return sched
end

-- The scale (index) of global iteration it: the first scale whose last is >= it.
function M.scale_of(sched, it)
  for k, e in ipairs(sched) do
    if it <= e.last then return k end
  end
  return #sched
end

-- Work done through iteration it, in units of one iteration at the last scale (the cost
-- of an iteration grows with the pixels): what the progress line's ETA divides by.
function M.work(sched, it)
  local L, w = sched[#sched].size, 0
  for _, e in ipairs(sched) do
    local n = math.max(0, math.min(it, e.last) - e.first + 1)
    w = w + n * (e.size / L) ^ 2
  end
  return w
end

-- The schedule as the run state's definition records it: sizes and the iterations of
-- every scale but the last (the last one's count, like num_iterations, may grow).
function M.definition(sched)
  if #sched == 1 then return nil end
  local parts = {}
  for k, e in ipairs(sched) do parts[k] = k < #sched and ("%d:%d"):format(e.size, e.iterations) or tostring(e.size) end
  return table.concat(parts, ",")
end

return M
