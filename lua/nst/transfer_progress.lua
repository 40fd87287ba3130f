-- What a transfer run does after each iteration: the history row (what the CSV and SVG
-- plots show), the stop on a NaN loss, the progress line, checkpoints, the on_iter
-- callback, and Ctrl-C / SIGTERM.
local core = require("nst.core")
local images = require("nst.transfer_images")
local plot = require("nst.plot")
local run_state = require("nst.run_state")
local ema = require("nst.ema")

local M = {}

-- Inserts _<it> before the extension: out.png -> out_100.png
function M.checkpoint_name(output, it)
  local base, ext = output:match("^(.*)(%.[^./]+)$")
  if not base then base, ext = output, ".png" end
  return ("%s_%d%s"):format(base, it, ext)
end

-- An empty history: a list of rows {iteration =, content =, style = {layer = v}, tv =,
-- total =, [other term] = ...}, plus the layers (nst.plot's column order).
function M.new_history(o)
  return {style_layers = o.style_layers, content_layers = o.content_layers}
end

-- Reads the parts of an evaluation back from the device as a history row and appends it.
-- Terms that are absent count 0 (content, tv, and each style layer: the plots' columns).
function M.record(run, it, parts)
  local r = {iteration = it, content = 0, style = {}, tv = 0, total = parts.total:item()}
  if run.opts.schedule and #run.opts.schedule > 1 then r.scale = run.scale end -- the CSV's scale column
  for _, l in ipairs(run.opts.style_layers) do r.style[l] = 0 end
  for name, v in pairs(parts) do
    if name ~= "total" then
      if type(v) == "table" then
        r[name] = r[name] or {}
        for l, t in pairs(v) do r[name][l] = t:item() end
      else
        r[name] = v:item()
      end
    end
  end
  local history = run.history
  history[#history + 1] = r
  return r
end

-- The history as <output>.csv and .svg (options.plots).
function M.save_plots(run)
  local o = run.opts
  if not o.plots then return end
  local base = o.output:gsub("%.[^./]+$", "")
  plot.csv(run.history, base .. ".csv")
  plot.svg(run.history, base .. ".svg", {title = "nst: " .. o.output})
end

-- The files of a run at its current iteration: the image at image_path, the run state
-- (options.state) and the plots; each written atomically, so that a failure (a full disk)
-- leaves the previous file whole.
function M.save(run, image_path)
  local o = run.opts
  core.image.save(images.output(ema.image(run), run.content, o), image_path)
  if o.state then run_state.save(run, run_state.path_for(o.output)) end
  M.save_plots(run)
end

-- A NaN/Inf loss ends the run before an image or a state is written from it, so the
-- last checkpoint on disk stays the last good one; the plots show the history up to it.
local function check_finite(run, r)
  local t, o = r.total, run.opts
  if t ~= t or t == math.huge or t == -math.huge then
    local kept = o.output and o.save_iter > 0 and "; the last checkpoint is kept" or ""
    if o.output then M.save_plots(run) end
    error(("nst.transfer: the loss became %s at iteration %d (try a lower learning_rate or weights)%s")
      :format(tostring(t), r.iteration, kept), 0)
  end
end

function M.default_printer(r, o)
  local n = o.schedule and #o.schedule or 1
  local parts = {("Iteration %d / %d%s"):format(r.iteration, o.num_iterations,
                                               n > 1 and ("  scale %d/%d"):format(r.scale, n) or ""),
                 ("  content %.4g"):format(r.content)}
  for _, name in ipairs(o.style_weight > 0 and o.style_layers or {}) do
    parts[#parts + 1] = ("  style %s %.4g"):format(name, r.style[name])
  end
  parts[#parts + 1] = ("  tv %.4g  total %.4g"):format(r.tv, r.total)
  print(table.concat(parts))
end

-- Writes the checkpoint of iteration it: the image as out_<it>.png, the state, the
-- plots. Returns the image's path.
function M.checkpoint(run, it)
  local path = M.checkpoint_name(run.opts.output, it)
  M.save(run, path)
  return path
end

-- Ctrl-C / SIGTERM: stop after this iteration with a final checkpoint (written
-- atomically; a second signal exits at once without leaving a partial file).
local function stop_on_signal(run, it)
  local sig = run.opts.handle_signals and core.signals_pending()
  if not sig then return end
  local where = run.opts.output and "; wrote " .. M.checkpoint(run, it) or ""
  error(("nst.transfer: interrupted by %s at iteration %d%s"):format(sig, it, where), 0)
end

-- After iteration it, whose evaluation gave parts: record (every record_every
-- iterations, and whenever the row is printed or a checkpoint written), print, save a
-- checkpoint, call on_iter, stop on a signal.
function M.after(run, it, parts)
  local o = run.opts
  run.iteration = it
  ema.update(run)
  local printed = o.print_iter > 0 and (it % o.print_iter == 0 or it == o.num_iterations)
  local save = o.save_iter > 0 and it % o.save_iter == 0 and it < o.num_iterations and o.output
  local r
  if save or printed or it % o.record_every == 0 or it == o.num_iterations then
    r = M.record(run, it, parts)
    check_finite(run, r)
  end
  if printed then (o.printer or M.default_printer)(r, o) end
  if save then M.checkpoint(run, it) end
  if o.on_iter then o.on_iter(it, run.image, parts, r) end
  stop_on_signal(run, it)
end

-- Runs fn() with Ctrl-C / SIGTERM caught (when the options handle signals), restoring the
-- previous handlers whatever happens; raises fn's error.
function M.with_signals(o, fn)
  if o.handle_signals then
    core.signals_install()
    core.signals_clear()
  end
  local ok, err = pcall(fn)
  if o.handle_signals then core.signals_restore() end
  if not ok then error(err, 0) end
end

return M
