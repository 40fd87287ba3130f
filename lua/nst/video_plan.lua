-- How a video is split for a Slurm array (nst video -shard I/N) and put back together
-- (nst video -assemble); the design is in lua/README.md, "Video: chunks and overlaps".
-- Frames are numbered 1..F. Chunk k (0-based) owns the core frames
--   floor(k·F/N) + 1 .. floor((k+1)·F/N)
-- and renders V_k more before them, its warm-up: the last V_k = min(V, the previous
-- non-empty chunk's core length) frames of the chunk before it, which that chunk renders
-- too. Each frame is rendered by one chunk, or by two over an overlap; there the output
-- is a linear cross-fade, the later chunk's weight j/(V_k+1) at its j-th warm-up frame.
local M = {}

-- The chunks of F frames in N shards with an overlap of V frames: a list (1-based; chunk
-- k is at [k + 1]) of {index = k, first, last (rendered), core_first, core_last,
-- overlap = V_k}; an empty chunk (N > F) has last < first.
function M.chunks(F, N, V)
  local out, prev = {}, nil
  for k = 0, N - 1 do
    local cf, cl = (k * F) // N + 1, ((k + 1) * F) // N
    local c = {index = k, core_first = cf, core_last = cl, first = cf, last = cl, overlap = 0}
    if cl >= cf then
      if prev then
        c.overlap = math.min(V, prev.core_last - prev.core_first + 1)
        c.first = cf - c.overlap
      end
      prev = c
    end
    out[k + 1] = c
  end
  return out
end

-- The chunks that hold frame n and their weights in the output: {{chunk, weight}, ...}
-- (one with weight 1, or two that sum to 1).
function M.weights(chunks, n)
  for i, c in ipairs(chunks) do
    if n >= c.core_first and n <= c.core_last then
      for j = i + 1, #chunks do
        local d = chunks[j]
        if d.last >= d.first then
          if n >= d.first then
            local a = (n - d.first + 1) / (d.overlap + 1)
            return {{chunk = c, weight = 1 - a}, {chunk = d, weight = a}}
          end
          break
        end
      end
      return {{chunk = c, weight = 1}}
    end
  end
  error(("nst.video_plan: frame %d is in no chunk"):format(n), 2)
end

-- Contiguous ranges for N shards of the items lo..hi (nst flow's frame pairs):
-- shard k's first and last item (last < first: none).
function M.range(lo, hi, shard)
  local n = hi - lo + 1
  if not shard or n <= 0 then return lo, hi end
  local k, N = shard.index, shard.count
  return lo + (k * n) // N, lo + ((k + 1) * n) // N - 1
end

return M
