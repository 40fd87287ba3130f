-- Optimizers: Adam (fused C/CUDA step, state in a Lua object), a step-decay schedule,
-- L-BFGS with an optional strong Wolfe line search, and the Torch7 shapes
-- optim.adam(feval, x, config, state) / optim.lbfgs(feval, x, config, state).
local core = require("nst.core")
local check = require("nst.check")

local M = {}

local function zeros_like(x)
  return core.zeros(x:shape(), {device = x:device()})
end

local function num(v)
  if type(v) == "number" then return v end
  return v:item() -- a 1-element tensor (device scalar)
end

-- v checked as a number >= lo (and < hi) for nst.optim.<fn>; the error points at the
-- caller of the function that checks (level 3 seen from here: not a tail call).
local function check_number(fn, name, v, lo, hi)
  local ok = check.number("nst.optim." .. fn, name, v, {min = lo, below = hi, level = 3})
  return ok
end

-- ---- Adam object ------------------------------------------------------------

local Adam = {}
Adam.__index = Adam

-- x <- x - lr · m̂ / (√v̂ + eps), as torch.optim.Adam; x, m, v updated in place, no sync.
-- The step count lives on x's device too (self.steps), so that a CUDA graph capturing a
-- step replays it correctly; self.t counts the calls made from Lua.
function Adam:step(x, grad)
  if not self.m or self.m:numel() ~= x:numel() or self.m:device() ~= x:device() then
    self.m, self.v, self.t = zeros_like(x), zeros_like(x), 0
    self.steps = core.zeros(1, {device = x:device()})
  end
  self.t = self.t + 1
  core.adam_step(x, grad, self.m, self.v, self.lr, self.beta1, self.beta2, self.eps, self.steps)
  return x
end

function Adam:set_lr(lr)
  self.lr = check_number("adam", "lr", lr, 0)
end

local function adam_object(cfg)
  cfg = cfg or {}
  if type(cfg) ~= "table" then error("nst.optim.adam: expected an options table {lr = ...}", 3) end
  return setmetatable({
    lr = check_number("adam", "lr", cfg.lr or cfg.learningRate or 1e-3, 0),
    beta1 = check_number("adam", "beta1", cfg.beta1 or 0.9, 0, 1),
    beta2 = check_number("adam", "beta2", cfg.beta2 or 0.999, 0, 1),
    eps = check_number("adam", "eps", cfg.eps or cfg.epsilon or 1e-8, 0),
    t = 0,
  }, Adam)
end

-- Torch7 shape: x, {f} = optim.adam(feval, x, config, state). config: learningRate,
-- beta1, beta2, epsilon, weightDecay; state keeps t, m, v. The step itself is the
-- fused PyTorch form (eps added to √v̂, not to √v), which differs from Torch7's only
-- in where the tiny eps enters.
local function adam_feval(feval, x, config, state)
  config = config or {}
  state = state or config
  local fx, g = feval(x)
  local wd = config.weightDecay or 0
  if wd ~= 0 then g = g + x * wd end
  state._adam = state._adam or adam_object{lr = config.learningRate or 1e-3, beta1 = config.beta1,
                                           beta2 = config.beta2, eps = config.epsilon}
  local o = state._adam
  o.lr = config.learningRate or o.lr
  o:step(x, g)
  state.t, state.m, state.v = o.t, o.m, o.v
  return x, {fx}
end

-- nst.optim.adam{lr = 1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8} -> object with
-- :step(x, grad) and :set_lr(lr); nst.optim.adam(feval, x, config, state) -> x, {f}.
function M.adam(a, x, config, state)
  if type(a) == "function" then return adam_feval(a, x, config, state) end
  return adam_object(a)
end

-- ---- step decay -------------------------------------------------------------

-- lr(it) = base · gamma^floor((it − 1) / every): iterations 1..every run at base.
-- local sched = nst.optim.step_decay{every = 200, gamma = 0.5}
-- sched(it, base) -> lr;  sched:apply(optimizer, it, base) sets optimizer.lr.
function M.step_decay(cfg)
  cfg = cfg or {}
  local every = check.number("nst.optim.step_decay", "every", cfg.every, {integer = true, min = 1, level = 2})
  local gamma = check_number("step_decay", "gamma", cfg.gamma or 0.5, 0)
  local s = {every = every, gamma = gamma}
  function s.apply(self, opt, it, base)
    local lr = self(it, base)
    if opt.set_lr then opt:set_lr(lr) else opt.lr = lr end
    return lr
  end
  return setmetatable(s, {__call = function(self, it, base)
    return base * self.gamma ^ ((it - 1) // self.every)
  end})
end

-- ---- strong Wolfe line search ----------------------------------------------

-- Minimizer of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clamped to
-- [lo, hi] (default: between x1 and x2); the midpoint when the cubic has none.
local function cubic_min(x1, f1, g1, x2, f2, g2, lo, hi)
  if not lo then lo, hi = math.min(x1, x2), math.max(x1, x2) end
  local d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
  local disc = d1 * d1 - g1 * g2
  if disc < 0 then return (lo + hi) / 2 end
  local d2 = math.sqrt(disc)
  local m
  if x1 <= x2 then m = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
  else m = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2)) end
  if m ~= m then return (lo + hi) / 2 end
  return math.min(math.max(m, lo), hi)
end

-- A line search: the points x0 + t·d it has evaluated, as {t =, f =, g =, gtd = g·d}.
local function probe(ls, t)
  ls.x:copy(ls.x0)
  ls.x:add_(ls.d, t)
  local fv, gv = ls.feval(ls.x)
  ls.evals = ls.evals + 1
  gv = gv:clone() -- feval may reuse its gradient tensor
  return {t = t, f = num(fv), g = gv, gtd = gv:dot(ls.d):item()}
end

-- Bracketing: from the first trial step, extrapolate until a step satisfies both
-- conditions (returns {point}, true) or an interval holds one ({point, point}, false).
local function bracket(ls, p0, new)
  local prev, iter = p0, 0
  while iter < ls.max_iter do
    if new.f > p0.f + ls.c1 * new.t * p0.gtd or (iter > 1 and new.f >= prev.f) then
      return {prev, new}, false, iter
    end
    if math.abs(new.gtd) <= -ls.c2 * p0.gtd then return {new}, true, iter end
    if new.gtd >= 0 then return {prev, new}, false, iter end
    -- still descending: extrapolate, at least 1% beyond t and at most 10 t
    local t = new.t
    local t_next = cubic_min(prev.t, prev.f, prev.gtd, t, new.f, new.gtd, t + 0.01 * (t - prev.t), 10 * t)
    prev, new = new, probe(ls, t_next)
    iter = iter + 1
  end
  return {p0, new}, false, iter
end

-- The next trial step inside the bracket: the cubic's minimizer, moved 10% inside when
-- it falls too close to an end twice in a row (or at one). Returns t and the new flag.
local function zoom_step(br, insuf)
  local t = cubic_min(br[1].t, br[1].f, br[1].gtd, br[2].t, br[2].f, br[2].gtd)
  local bmax, bmin = math.max(br[1].t, br[2].t), math.min(br[1].t, br[2].t)
  local eps = 0.1 * (bmax - bmin)
  if not (math.min(bmax - t, t - bmin) < eps) then return t, false end
  if insuf or t >= bmax or t <= bmin then
    return math.abs(t - bmax) < math.abs(t - bmin) and bmax - eps or bmin + eps, false
  end
  return t, true
end

-- Zoom: shrink the bracket around a point satisfying both conditions. Returns the
-- bracket and the index of its best point.
local function zoom(ls, p0, br, done, iter)
  local insuf, t = false, nil
  local lo, hi = 1, 2
  if #br == 2 and br[1].f > br[2].f then lo, hi = 2, 1 end
  while not done and iter < ls.max_iter do
    if math.abs(br[2].t - br[1].t) * ls.d_norm < ls.tol then break end
    t, insuf = zoom_step(br, insuf)
    local new = probe(ls, t)
    iter = iter + 1
    if new.f > p0.f + ls.c1 * t * p0.gtd or new.f >= br[lo].f then
      br[hi] = new
      if br[1].f <= br[2].f then lo, hi = 1, 2 else lo, hi = 2, 1 end
    else
      if math.abs(new.gtd) <= -ls.c2 * p0.gtd then
        done = true
      elseif new.gtd * (br[hi].t - br[lo].t) >= 0 then
        br[hi] = br[lo]
      end
      br[lo] = new
    end
  end
  return br, lo
end

-- f, g, x, t, evals = optim.lswolfe(feval, x, t, d, f, g, gtd [, opts]): finds a step t
-- along d satisfying the strong Wolfe conditions
--   f(x + t d) <= f + c1 t gtd   and   |g(x + t d) . d| <= -c2 gtd
-- by bracketing then zooming with safeguarded cubic interpolation (Nocedal & Wright,
-- algorithms 3.5 and 3.6; the safeguards of minFunc, as torch.optim.LBFGS's
-- "strong_wolfe"). Moves x to x + t d. opts: c1 (1e-4), c2 (0.9), tolX (1e-9, smallest
-- bracket width times max|d|), maxIter (25). Shaped for optim.lbfgs's lineSearch.
function M.lswolfe(feval, x, t, d, f, g, gtd, opts)
  opts = opts or {}
  local ls = {feval = feval, x = x, d = d, c1 = opts.c1 or 1e-4, c2 = opts.c2 or 0.9, tol = opts.tolX or 1e-9,
              max_iter = opts.maxIter or 25, d_norm = d:abs():max():item(), x0 = x:clone(), evals = 0}
  local p0 = {t = 0, f = f, g = g, gtd = gtd}
  local br, done, iter = bracket(ls, p0, probe(ls, t))
  local lo
  br, lo = zoom(ls, p0, br, done, iter)
  x:copy(ls.x0)
  x:add_(d, br[lo].t)
  return br[lo].f, br[lo].g, x, br[lo].t, ls.evals
end

-- ---- L-BFGS -----------------------------------------------------------------

local function lbfgs_settings(config)
  local maxIter = tonumber(config.maxIter) or 20
  return {maxIter = maxIter, maxEval = tonumber(config.maxEval) or maxIter * 1.25,
          tolFun = config.tolFun or 1e-5, tolX = config.tolX or 1e-9, nCorrection = config.nCorrection or 100,
          lineSearch = config.lineSearch, lineSearchOptions = config.lineSearchOptions,
          lr = config.learningRate or 1, keepEval = config.keepEval}
end

-- f, g at x and the evaluations spent: state.fg, {f, g} left at x by the previous call's
-- line search (which ends at an evaluated point), else one evaluation.
local function lbfgs_start(feval, x, state)
  if state.fg then
    local f, g = state.fg[1], state.fg[2]
    state.fg = nil
    return f, g, 0
  end
  local f, g = feval(x)
  state.funcEval = state.funcEval + 1
  return num(f), g, 1
end

-- Memory update: s = t·d (the step taken), y = g − g_old, kept when y·s > 1e-10.
local function lbfgs_remember(state, g, nCorrection)
  local y = g - state.g_old
  local s = state.d * state.t
  local ys = y:dot(s):item()
  if ys <= 1e-10 then return end
  if #state.old_dirs == nCorrection then
    table.remove(state.old_dirs, 1)
    table.remove(state.old_stps, 1)
  end
  state.old_dirs[#state.old_dirs + 1] = s
  state.old_stps[#state.old_stps + 1] = y
  state.Hdiag = ys / y:dot(y):item()
end

-- The search direction d = −H·g: steepest descent at the first iteration, else the
-- two-loop recursion over the memory (after adding the last step to it).
local function lbfgs_direction(state, g, nCorrection)
  if state.nIter == 1 then
    state.old_dirs, state.old_stps, state.Hdiag = {}, {}, 1
    return -g
  end
  lbfgs_remember(state, g, nCorrection)
  local dirs, stps = state.old_dirs, state.old_stps
  local k = #dirs
  local ro, al = {}, {}
  for i = 1, k do ro[i] = 1 / stps[i]:dot(dirs[i]):item() end
  local q = -g
  for i = k, 1, -1 do
    al[i] = dirs[i]:dot(q):item() * ro[i]
    q:add_(stps[i], -al[i])
  end
  local d = q:mul_(state.Hdiag)
  for i = 1, k do
    local be_i = stps[i]:dot(d):item() * ro[i]
    d:add_(dirs[i], al[i] - be_i)
  end
  return d
end

-- The step along d from x (f, g there): the line search's, or the fixed step t followed
-- by an evaluation unless this is the call's last iteration (f, g then stay). Appends
-- the value at the new point to f_hist when it was evaluated. Returns f, g, x, t and the
-- evaluations spent.
local function lbfgs_step(feval, x, d, t, f, g, gtd, s, state, last, f_hist)
  local evals
  if type(s.lineSearch) == "function" then
    f, g, x, t, evals = s.lineSearch(feval, x, t, d, f, g, gtd, s.lineSearchOptions)
    f = num(f)
    if s.keepEval then state.fg = {f, g} end
  else
    x:add_(d, t)
    if last then return f, g, x, t, 0 end
    f, g = feval(x)
    f, evals = num(f), 1
  end
  f_hist[#f_hist + 1] = f
  return f, g, x, t, evals
end

-- Whether to stop after an iteration (other than by the iteration count).
local function lbfgs_done(s, evals, f, g, d, t, f_old)
  return evals >= s.maxEval or g:abs():sum():item() <= s.tolFun
      or d:abs():sum():item() * math.abs(t) <= s.tolX or math.abs(f - f_old) < s.tolX
end

-- x, f_hist, evals = optim.lbfgs(feval, x, config, state): Torch7's optim.lbfgs on nst
-- tensors. feval(x) -> f (number or 1-element tensor), gradient (x's shape).
-- config: maxIter (20), maxEval (1.25·maxIter), tolFun (1e-5, on Σ|g|), tolX (1e-9),
-- nCorrection (100, history size), learningRate (1), lineSearch (nil: fixed step;
-- or a function(feval, x, t, d, f, g, gtd, opts) -> f, g, x, t, evals as Torch7's, e.g.
-- optim.lswolfe), keepEval (with a line search: keep its final f, g in state for the
-- next call instead of evaluating x again; x must not change in between).
-- Without a line search the iterates match torch.optim.LBFGS(line_search_fn=None);
-- only the stopping tests differ (Torch7 uses L1 norms, PyTorch max norms).
-- state carries the history across calls, so calling it again continues the run;
-- state.stalled tells that the last direction was no descent direction.
function M.lbfgs(feval, x, config, state)
  if type(feval) ~= "function" then error("nst.optim.lbfgs: expected feval as the first argument", 2) end
  config = config or {}
  state = state or config
  local s = lbfgs_settings(config)
  state.funcEval = state.funcEval or 0
  state.nIter = state.nIter or 0
  local f, g, evals = lbfgs_start(feval, x, state)
  local f_hist = {f}
  if g:abs():sum():item() <= s.tolFun then return x, f_hist, evals end
  local nIter = 0
  while nIter < s.maxIter do
    nIter = nIter + 1
    state.nIter = state.nIter + 1
    local d = lbfgs_direction(state, g, s.nCorrection)
    state.d, state.g_old, state.f_old = d, g:clone(), f
    local gtd = g:dot(d):item()
    state.stalled = gtd > -s.tolX
    if state.stalled then break end -- no descent possible along d
    local t = s.lr
    if state.nIter == 1 then t = math.min(1, 1 / g:abs():sum():item()) * s.lr end
    local n
    f, g, x, t, n = lbfgs_step(feval, x, d, t, f, g, gtd, s, state, nIter == s.maxIter, f_hist)
    state.t = t
    evals = evals + n
    state.funcEval = state.funcEval + n
    if nIter == s.maxIter or lbfgs_done(s, evals, f, g, d, t, state.f_old) then break end
  end
  return x, f_hist, evals
end

return M
