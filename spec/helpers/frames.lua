-- Synthetic video frames for the video specs: a smooth texture that can be sampled at
-- any sub-pixel shift, so a frame moved by a known (sx, sy) is exact, not interpolated.
local nst = require("nst")

local M = {}

-- Texture value of channel c (1..3) at (x, y), in [0.1, 0.9].
local function texture(c, x, y)
  return 0.5 + 0.2 * math.sin(0.37 * x + 0.11 * y + c) + 0.15 * math.cos(0.23 * y - 0.17 * c * x)
    + 0.05 * math.sin(0.05 * x * y / 7)
end

-- Frame (1,3,H,W) showing the texture moved by (sx, sy): frame(p) = texture(p - s). A
-- frame a = shifted(0, 0) and b = shifted(sx, sy) satisfy a(p) = b(p + s): the flow
-- from a to b is s.
function M.shifted(h, w, sx, sy)
  local out = {}
  for c = 1, 3 do
    local plane = {}
    for y = 0, h - 1 do
      local row = {}
      for x = 0, w - 1 do row[x + 1] = texture(c, x - sx, y - sy) end
      plane[y + 1] = row
    end
    out[c] = plane
  end
  return nst.tensor({out})
end

-- Flow (1,2,H,W) with fn(x, y) -> u, v at each pixel (x, y 0-based).
function M.flow(h, w, fn)
  local us, vs = {}, {}
  for y = 0, h - 1 do
    local ru, rv = {}, {}
    for x = 0, w - 1 do ru[x + 1], rv[x + 1] = fn(x, y) end
    us[y + 1], vs[y + 1] = ru, rv
  end
  return nst.tensor({{us, vs}})
end

-- Constant flow (1,2,H,W) of (u, v).
function M.constant_flow(h, w, u, v)
  return M.flow(h, w, function() return u, v end)
end

return M
