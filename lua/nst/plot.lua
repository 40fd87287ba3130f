-- Loss history as CSV and as an SVG line plot (log-scale y). Both are written by nst's
-- one atomic writer (core.write_atomic, src/io/atomic_file.h), so a reader never sees a
-- half-written file and a failed write leaves the old one as it was.
-- history: a list of {iteration =, content =, style = {layer = v}, tv =, total =} with
-- history.style_layers giving the column order (as nst.transfer returns it).
local core = require("nst.core")

local M = {}

local function write_atomic(path, text)
  local ok, err = pcall(core.write_atomic, path, text)
  if not ok then error("nst.plot: " .. err, 3) end
end

local function style_layers(history)
  if history.style_layers then return history.style_layers end
  local names = {}
  if history[1] and history[1].style then
    for name in pairs(history[1].style) do names[#names + 1] = name end
    table.sort(names)
  end
  return names
end

-- {name, values} per series: content, style_<layer>..., tv, total
function M.series(history)
  local s = {{name = "content", values = {}}}
  for _, l in ipairs(style_layers(history)) do s[#s + 1] = {name = "style_" .. l, values = {}, layer = l} end
  s[#s + 1] = {name = "tv", values = {}}
  s[#s + 1] = {name = "total", values = {}}
  local its = {}
  for i, r in ipairs(history) do
    its[i] = r.iteration or i
    for _, c in ipairs(s) do
      if c.layer then c.values[i] = r.style and r.style[c.layer] or 0
      else c.values[i] = r[c.name] or 0 end
    end
  end
  return s, its
end

function M.csv_text(history)
  local s, its = M.series(history)
  -- a coarse-to-fine run's rows carry their scale (1, 2, ...): a column after iteration
  local scaled = history[1] ~= nil and history[1].scale ~= nil
  local head = {"iteration", scaled and "scale" or nil}
  for _, c in ipairs(s) do head[#head + 1] = c.name end
  local lines = {table.concat(head, ",")}
  for i = 1, #its do
    local row = {tostring(its[i]), scaled and tostring(history[i].scale) or nil}
    for _, c in ipairs(s) do row[#row + 1] = ("%.9g"):format(c.values[i]) end
    lines[#lines + 1] = table.concat(row, ",")
  end
  return table.concat(lines, "\n") .. "\n"
end

function M.csv(history, path) write_atomic(path, M.csv_text(history)) end

local colors = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22", "#17becf"}

local function esc(s) return (tostring(s):gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;")) end

function M.svg_text(history, opts)
  opts = opts or {}
  local W, H = opts.width or 800, opts.height or 480
  local ml, mr, mt, mb = 70, 170, 30, 45 -- margins; the legend sits on the right
  local pw, ph = W - ml - mr, H - mt - mb
  local s, its = M.series(history)
  local xmin, xmax = its[1] or 0, its[#its] or 1
  if xmax <= xmin then xmax = xmin + 1 end
  local lo, hi = math.huge, -math.huge
  for _, c in ipairs(s) do
    for _, v in ipairs(c.values) do
      if v > 0 and v < math.huge then lo, hi = math.min(lo, v), math.max(hi, v) end
    end
  end
  if lo == math.huge then lo, hi = 1, 10 end
  local dlo, dhi = math.floor(math.log(lo, 10)), math.ceil(math.log(hi, 10))
  if dhi <= dlo then dhi = dlo + 1 end
  local function X(v) return ml + (v - xmin) / (xmax - xmin) * pw end
  local function Y(v) return mt + ph - (math.log(v, 10) - dlo) / (dhi - dlo) * ph end

  local out = {('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">'):format(W, H),
               ('<rect width="%d" height="%d" fill="white"/>'):format(W, H),
               ('<text x="%g" y="18" text-anchor="middle" font-size="14">%s</text>'):format(ml + pw / 2, esc(opts.title or "loss per iteration"))}
  -- y axis: one grid line per decade
  local step = math.max(1, math.ceil((dhi - dlo) / 10))
  for d = dlo, dhi, step do
    local y = Y(10 ^ d)
    out[#out + 1] = ('<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#ddd"/>'):format(ml, y, ml + pw, y)
    out[#out + 1] = ('<text x="%g" y="%g" text-anchor="end" dominant-baseline="middle">1e%d</text>'):format(ml - 6, y, d)
  end
  -- x axis: about 8 ticks at round numbers
  local span = xmax - xmin
  local mag = 10 ^ math.floor(math.log(span / 8, 10))
  local tick = mag
  for _, m in ipairs{1, 2, 5, 10} do if span / (m * mag) <= 8 then tick = m * mag; break end end
  local t0 = math.ceil(xmin / tick) * tick
  for v = t0, xmax + 1e-9, tick do
    local x = X(v)
    out[#out + 1] = ('<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="#000"/>'):format(x, mt + ph, x, mt + ph + 5)
    out[#out + 1] = ('<text x="%g" y="%g" text-anchor="middle">%s</text>'):format(x, mt + ph + 18, ("%g"):format(v))
  end
  out[#out + 1] = ('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#000"/>'):format(ml, mt, pw, ph)
  out[#out + 1] = ('<text x="%g" y="%d" text-anchor="middle">iteration</text>'):format(ml + pw / 2, H - 8)
  out[#out + 1] = ('<text x="14" y="%g" text-anchor="middle" transform="rotate(-90 14 %g)">loss (log scale)</text>'):format(mt + ph / 2, mt + ph / 2)
  -- series (non-positive values are gaps) and legend
  for k, c in ipairs(s) do
    local color = colors[(k - 1) % #colors + 1]
    local pts, segs = {}, {}
    for i, v in ipairs(c.values) do
      if v > 0 and v < math.huge then
        pts[#pts + 1] = ("%.1f,%.1f"):format(X(its[i]), Y(v))
      elseif #pts > 0 then
        segs[#segs + 1] = pts; pts = {}
      end
    end
    if #pts > 0 then segs[#segs + 1] = pts end
    for _, p in ipairs(segs) do
      out[#out + 1] = ('<path fill="none" stroke="%s" stroke-width="%s" d="M%s"/>'):format(color,
        c.name == "total" and "2" or "1.5", table.concat(p, " L"))
    end
    local ly = mt + 10 + (k - 1) * 18
    out[#out + 1] = ('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>'):format(ml + pw + 15, ly, ml + pw + 40, ly, color)
    out[#out + 1] = ('<text x="%d" y="%d" dominant-baseline="middle">%s</text>'):format(ml + pw + 46, ly, esc(c.name))
  end
  out[#out + 1] = "</svg>"
  return table.concat(out, "\n") .. "\n"
end

function M.svg(history, path, opts) write_atomic(path, M.svg_text(history, opts)) end

return M
