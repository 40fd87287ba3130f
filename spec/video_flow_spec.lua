-- Optical flow (OpenCV's DIS), backward warping and the forward-backward consistency mask
-- (src/core/video.h) on tiny synthetic frames whose motion is known exactly.
local nst = require("nst")
local errmsg = require("helpers.expect").error
local frames = require("helpers.frames")
local opencv = require("helpers.opencv")

-- Mean of channel k (1 = x, 2 = y) of a flow over the pixels at least m from the border,
-- and the share of those within tol of want.
local function interior(flow, k, m, want, tol)
  local t = flow:totable()[1][k]
  local sum, n, close = 0, 0, 0
  for y = 1 + m, #t - m do
    for x = 1 + m, #t[1] - m do
      sum, n = sum + t[y][x], n + 1
      if math.abs(t[y][x] - want) <= tol then close = close + 1 end
    end
  end
  return sum / n, close / n
end

local function max_abs_diff(a, b) return (a - b):abs():max():item() end

describe("nst.flow (OpenCV DIS)", function()
  local H, W = 48, 64

  it("finds a known sub-pixel shift, forward and backward", function()
    for _, s in ipairs{{2.5, -1.25}, {-3, 2}} do
      local a, b = frames.shifted(H, W, 0, 0), frames.shifted(H, W, s[1], s[2])
      local fwd, bwd = nst.flow(a, b, {backward = true})
      assert.are.same({1, 2, H, W}, fwd:shape())
      assert.are.same({1, 2, H, W}, bwd:shape())
      for k = 1, 2 do
        local mean, close = interior(fwd, k, 6, s[k], 0.3)
        assert.is_true(math.abs(mean - s[k]) < 0.1, ("forward %d: mean %.3f, want %.3f"):format(k, mean, s[k]))
        assert.is_true(close > 0.9, ("forward %d: only %.0f%% within 0.3 px"):format(k, 100 * close))
        mean, close = interior(bwd, k, 6, -s[k], 0.3)
        assert.is_true(math.abs(mean + s[k]) < 0.1, ("backward %d: mean %.3f, want %.3f"):format(k, mean, -s[k]))
        assert.is_true(close > 0.9, ("backward %d: only %.0f%% within 0.3 px"):format(k, 100 * close))
      end
    end
  end)

  it("takes grey frames and every preset", function()
    local a, b = frames.shifted(H, W, 0, 0), frames.shifted(H, W, 2, 1)
    -- grey = Rec. 601 luma of the RGB frames
    local function grey(t)
      local p = t:reshape(3, H, W)
      local r, g, bl = p:narrow(1, 1, 1), p:narrow(1, 2, 1), p:narrow(1, 3, 1)
      return (r * 0.299 + g * 0.587 + bl * 0.114):reshape(1, 1, H, W)
    end
    local from_grey = nst.flow(grey(a), grey(b))
    assert.is_true(max_abs_diff(from_grey, nst.flow(a, b)) < 1e-3, "grey and RGB frames differ")
    for _, preset in ipairs{"ultrafast", "fast", "medium"} do
      local mean = interior(nst.flow(a, b, {preset = preset}), 1, 6, 2, 0.3)
      assert.is_true(math.abs(mean - 2) < 0.2, preset .. ": mean x flow " .. mean)
    end
  end)

  it("refuses bad frames and options with clear errors", function()
    local a = frames.shifted(24, 32, 0, 0)
    assert.matches("second frame must be 1x3x24x32, got 1x3x24x31",
                   errmsg(nst.flow, a, nst.zeros(1, 3, 24, 31)))
    assert.matches("first frame must be 1x3x24x32 or 1x1x24x32, got 1x2x24x32",
                   errmsg(nst.flow, nst.zeros(1, 2, 24, 32), nst.zeros(1, 2, 24, 32)))
    assert.matches("first frame must be 4%-D", errmsg(nst.flow, nst.zeros(3, 24, 32), nst.zeros(3, 24, 32)))
    assert.matches("too small %(at least 16x16%)", errmsg(nst.flow, nst.zeros(1, 3, 8, 40), nst.zeros(1, 3, 8, 40)))
    assert.matches("invalid option 'slow'", errmsg(nst.flow, a, a, {preset = "slow"}))
    assert.matches("unknown option 'presett'", errmsg(nst.flow, a, a, {presett = "fast"}))
    assert.matches("backward must be a boolean", errmsg(nst.flow, a, a, {backward = 1}))
    assert.matches("expected nst.Tensor, got string", errmsg(nst.flow, a, "b"))
  end)
end)

describe("nst.warp", function()
  teardown(function() opencv.cleanup() end)

  it("matches OpenCV's remap (INTER_LINEAR) for both borders", function()
    nst.manual_seed(7)
    local h, w = 20, 24
    local img = nst.rand(1, 3, h, w)
    -- Displacements on OpenCV's 1/32-pixel grid (its remap rounds the weights there),
    -- many pointing out of the frame.
    local r = nst.rand(1, 2, h, w):totable()[1]
    local random = frames.flow(h, w, function(x, y)
      return math.floor((r[1][y + 1][x + 1] * 16 - 8) * 32) / 32, math.floor((r[2][y + 1][x + 1] * 16 - 8) * 32) / 32
    end)
    for _, flow in ipairs{frames.constant_flow(h, w, 2.5, -1.25), frames.constant_flow(h, w, -0.75, 3), random} do
      for _, border in ipairs{"replicate", "zero"} do
        local got, want = nst.warp(img, flow, {border = border}), opencv.remap(img, flow, border)
        local d = max_abs_diff(got, want)
        assert.is_true(d < 2e-6, ("%s border: off by %g from cv::remap"):format(border, d))
      end
    end
  end)

  it("pulls the next frame back onto this one along the flow", function()
    local h, w = 48, 64
    local a, b = frames.shifted(h, w, 0, 0), frames.shifted(h, w, 3, -2)
    -- an integer shift: exact away from the border
    local back = nst.warp(b, frames.constant_flow(h, w, 3, -2))
    local d = (back - a):abs():totable()[1]
    for c = 1, 3 do
      for y = 3, h - 3 do
        for x = 1, w - 4 do assert.is_true(d[c][y][x] < 1e-6, ("pixel %d,%d: %g"):format(x, y, d[c][y][x])) end
      end
    end
    -- with DIS's own flow: close, not exact
    local est = nst.warp(b, nst.flow(a, b))
    local dd = (est - a):abs():totable()[1]
    local worst = 0
    for c = 1, 3 do
      for y = 8, h - 8 do
        for x = 8, w - 8 do worst = math.max(worst, dd[c][y][x]) end
      end
    end
    assert.is_true(worst < 0.05, "warped frame off by " .. worst)
  end)

  it("reads 0 where the flow is not finite, and checks its arguments", function()
    local img = nst.ones(1, 1, 4, 5)
    local flow = frames.flow(4, 5, function(x, y)
      if x == 1 and y == 1 then return 0 / 0, 0 elseif x == 2 and y == 2 then return 1 / 0, 0 end
      return 0, 0
    end)
    local t = nst.warp(img, flow):totable()[1][1]
    assert.are.equal(0, t[2][2])
    assert.are.equal(0, t[3][3])
    assert.are.equal(1, t[1][1])
    assert.matches("flow must be 1x2x4x5, got 1x2x4x6", errmsg(nst.warp, img, nst.zeros(1, 2, 4, 6)))
    assert.matches("image must be 4%-D", errmsg(nst.warp, nst.ones(4, 5), flow))
    assert.matches("invalid option 'wrap'", errmsg(nst.warp, img, flow, {border = "wrap"}))
    assert.matches("unknown option 'mode'", errmsg(nst.warp, img, flow, {mode = "zero"}))
  end)
end)

describe("nst.flow_consistency", function()
  it("is 1 everywhere for a still scene", function()
    local z = nst.zeros(1, 2, 12, 16)
    assert.are.equal(1, nst.flow_consistency(z, z):min():item())
  end)

  -- A square of 8x8 moves 4 px to the right over a still background (32x32): rows
  -- 8..15, columns 8..15 in the previous frame, 12..19 in the current one. The current
  -- frame's columns 8..11 of those rows were hidden behind the square (disoccluded), and
  -- the backward flow jumps at the square's edges (motion boundaries): the last column
  -- and the rows above and at the bottom of the square (forward differences).
  it("marks the disocclusion and the motion boundaries of a moving square", function()
    local n = 32
    local inside = function(x, y, x0) return y >= 8 and y < 16 and x >= x0 and x < x0 + 8 end
    local fwd = frames.flow(n, n, function(x, y) return inside(x, y, 8) and 4 or 0, 0 end)
    local bwd = frames.flow(n, n, function(x, y) return inside(x, y, 12) and -4 or 0, 0 end)
    local mask = nst.flow_consistency(fwd, bwd)
    assert.are.same({1, 1, n, n}, mask:shape())
    local m = mask:totable()[1][1]
    local zeros = 0
    for y = 0, n - 1 do
      for x = 0, n - 1 do
        local want = 1
        if y >= 8 and y < 16 and x >= 8 and x < 12 then want = 0 end          -- disoccluded
        if y >= 8 and y < 16 and x == 19 then want = 0 end                    -- right edge
        if (y == 7 or y == 15) and x >= 12 and x < 20 then want = 0 end       -- top, bottom
        assert.are.equal(want, m[y + 1][x + 1], ("pixel x=%d y=%d"):format(x, y))
        if want == 0 then zeros = zeros + 1 end
      end
    end
    assert.are.equal(32 + 8 + 8 + 7, zeros) -- (19, 15) is on two edges
  end)

  it("marks pixels that come from outside the previous frame, and non-finite flow", function()
    local fwd = frames.constant_flow(6, 10, 3, 0)
    local bwd = frames.flow(6, 10, function(x, y) return (x == 5 and y == 2) and 0 / 0 or -3, 0 end)
    local m = nst.flow_consistency(fwd, bwd):totable()[1][1]
    for y = 1, 6 do
      for x = 1, 10 do
        local want = (x <= 3 or (x == 6 and y == 3)) and 0 or 1
        -- the NaN's left neighbour sees it in its forward difference
        if x == 5 and y == 3 then want = 0 end
        if x == 6 and y == 2 then want = 0 end
        assert.are.equal(want, m[y][x], ("pixel x=%d y=%d"):format(x - 1, y - 1))
      end
    end
  end)

  it("takes thresholds and checks them", function()
    local n = 16
    local fwd = frames.flow(n, n, function(x) return x >= 8 and 2 or 0, 0 end)
    local bwd = nst.zeros(1, 2, n, n)
    assert.is_true(nst.flow_consistency(fwd, bwd):min():item() == 0)
    local loose = nst.flow_consistency(fwd, bwd, {occlusion_abs = 100, boundary_abs = 100})
    assert.are.equal(1, loose:min():item())
    assert.matches("thresholds must be finite and >= 0",
                   errmsg(nst.flow_consistency, fwd, bwd, {occlusion_rel = -1}))
    assert.matches("unknown option 'occlusion'", errmsg(nst.flow_consistency, fwd, bwd, {occlusion = 1}))
    assert.matches("occlusion_abs must be a number", errmsg(nst.flow_consistency, fwd, bwd, {occlusion_abs = "1"}))
    assert.matches("backward flow must be 1x2x16x16, got 1x2x16x15",
                   errmsg(nst.flow_consistency, fwd, nst.zeros(1, 2, 16, 15)))
  end)
end)
