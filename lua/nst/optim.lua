-- Optimizers: Adam (fused C/CUDA step, state in a Lua object), a step-decay schedule,
-- and the Torch7 shapes optim.adam(feval, x, config, state) / optim.lbfgs(...).
local core = require "nst.core"

local M = {}

local function zeros_like(x)
  return core.zeros(x:shape(), {device = x:device()})
end

local function num(v)
  if type(v) == "number" then return v end
  return v:item() -- a 1-element tensor (device scalar)
end

local function check_number(fn, name, v, lo, hi)
  if type(v) ~= "number" or v ~= v or v < lo or (hi and v >= hi) then
    error(("nst.optim.%s: %s must be a number in [%s, %s), got %s"):format(fn, name, lo, hi or "inf",
      tostring(v)), 3)
  end
  return v
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

function Adam:reset() self.m, self.v, self.steps, self.t = nil, nil, nil, 0 end

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
  local every = cfg.every
  if math.type(every) ~= "integer" or every < 1 then
    error(("nst.optim.step_decay: every must be an integer >= 1, got %s"):format(tostring(every)), 2)
  end
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

-- f, g, x, t, evals = optim.lswolfe(feval, x, t, d, f, g, gtd [, opts]): finds a step t
-- along d satisfying the strong Wolfe conditions
--   f(x + t d) <= f + c1 t gtd   and   |g(x + t d) . d| <= -c2 gtd
-- by bracketing then zooming with safeguarded cubic interpolation (Nocedal & Wright,
-- algorithms 3.5 and 3.6; the safeguards of minFunc, as torch.optim.LBFGS's
-- "strong_wolfe"). Moves x to x + t d. opts: c1 (1e-4), c2 (0.9), tolX (1e-9, smallest
-- bracket width times max|d|), maxIter (25). Shaped for optim.lbfgs's lineSearch.
function M.lswolfe(feval, x, t, d, f, g, gtd, opts)
  opts = opts or {}
  local c1, c2 = opts.c1 or 1e-4, opts.c2 or 0.9
  local tol, max_ls = opts.tolX or 1e-9, opts.maxIter or 25
  local d_norm = d:abs():max():item()
  local x0 = x:clone()
  local evals = 0
  local function at(step) -- f, g, g.d at x0 + step d
    x:copy(x0)
    x:add_(d, step)
    local fv, gv = feval(x)
    evals = evals + 1
    gv = gv:clone() -- feval may reuse its gradient tensor
    return num(fv), gv, gv:dot(d):item()
  end

  local f_new, g_new, gtd_new = at(t)
  local t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
  local br, br_f, br_g, br_gtd -- bracket: steps, values, gradients, slopes
  local done, ls_iter = false, 0
  while ls_iter < max_ls do
    if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev) then
      br, br_f, br_g, br_gtd = {t_prev, t}, {f_prev, f_new}, {g_prev, g_new}, {gtd_prev, gtd_new}
      break
    end
    if math.abs(gtd_new) <= -c2 * gtd then
      br, br_f, br_g, br_gtd = {t}, {f_new}, {g_new}, {gtd_new}
      done = true
      break
    end
    if gtd_new >= 0 then
      br, br_f, br_g, br_gtd = {t_prev, t}, {f_prev, f_new}, {g_prev, g_new}, {gtd_prev, gtd_new}
      break
    end
    -- still descending: extrapolate, at least 1% beyond t and at most 10 t
    local t_next = cubic_min(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, t + 0.01 * (t - t_prev), 10 * t)
    t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
    t = t_next
    f_new, g_new, gtd_new = at(t)
    ls_iter = ls_iter + 1
  end
  if ls_iter == max_ls then
    br, br_f, br_g, br_gtd = {0, t}, {f, f_new}, {g, g_new}, {gtd, gtd_new}
  end

  -- zoom: shrink the bracket around a point satisfying both conditions
  local insuf = false
  local lo, hi = 1, 2
  if #br == 2 and br_f[1] > br_f[2] then lo, hi = 2, 1 end
  while not done and ls_iter < max_ls do
    if math.abs(br[2] - br[1]) * d_norm < tol then break end
    t = cubic_min(br[1], br_f[1], br_gtd[1], br[2], br_f[2], br_gtd[2])
    -- a trial too close to an end twice in a row (or at one) moves 10% inside
    local bmax, bmin = math.max(br[1], br[2]), math.min(br[1], br[2])
    local eps = 0.1 * (bmax - bmin)
    if math.min(bmax - t, t - bmin) < eps then
      if insuf or t >= bmax or t <= bmin then
        t = math.abs(t - bmax) < math.abs(t - bmin) and bmax - eps or bmin + eps
        insuf = false
      else
        insuf = true
      end
    else
      insuf = false
    end
    f_new, g_new, gtd_new = at(t)
    ls_iter = ls_iter + 1
    if f_new > f + c1 * t * gtd or f_new >= br_f[lo] then
      br[hi], br_f[hi], br_g[hi], br_gtd[hi] = t, f_new, g_new, gtd_new
      if br_f[1] <= br_f[2] then lo, hi = 1, 2 else lo, hi = 2, 1 end
    else
      if math.abs(gtd_new) <= -c2 * gtd then
        done = true
      elseif gtd_new * (br[hi] - br[lo]) >= 0 then
        br[hi], br_f[hi], br_g[hi], br_gtd[hi] = br[lo], br_f[lo], br_g[lo], br_gtd[lo]
      end
      br[lo], br_f[lo], br_g[lo], br_gtd[lo] = t, f_new, g_new, gtd_new
    end
  end
  t = br[lo]
  x:copy(x0)
  x:add_(d, t)
  return br_f[lo], br_g[lo], x, t, evals
end

-- ---- L-BFGS -----------------------------------------------------------------

-- x, f_hist, evals = optim.lbfgs(feval, x, config, state): Torch7's optim.lbfgs on nst
-- tensors. feval(x) -> f (number or 1-element tensor), gradient (x's shape).
-- config: maxIter (20), maxEval (1.25·maxIter), tolFun (1e-5, on Σ|g|), tolX (1e-9),
-- nCorrection (100, history size), learningRate (1), lineSearch (nil: fixed step;
-- or a function(feval, x, t, d, f, g, gtd, opts) -> f, g, x, t, evals as Torch7's, e.g.
-- optim.lswolfe), keepEval (with a line search: keep its final f, g in state for the
-- next call instead of evaluating x again; x must not change in between).
-- Without a line search the iterates match torch.optim.LBFGS(line_search_fn=None);
-- only the stopping tests differ (Torch7 uses L1 norms, PyTorch max norms).
-- state carries the history across calls, so calling it again continues the run.
function M.lbfgs(feval, x, config, state)
  if type(feval) ~= "function" then error("nst.optim.lbfgs: expected feval as the first argument", 2) end
  config = config or {}
  state = state or config
  local maxIter = tonumber(config.maxIter) or 20
  local maxEval = tonumber(config.maxEval) or maxIter * 1.25
  local tolFun = config.tolFun or 1e-5
  local tolX = config.tolX or 1e-9
  local nCorrection = config.nCorrection or 100
  local lineSearch = config.lineSearch
  local lr = config.learningRate or 1
  state.funcEval = state.funcEval or 0
  state.nIter = state.nIter or 0

  -- state.fg: {f, g} already known at x (left by the previous call's line search, which
  -- ends at an evaluated point), saving an evaluation when called one iteration at a time
  local f, g
  local evals = 0
  if state.fg then
    f, g = state.fg[1], state.fg[2]
    state.fg = nil
  else
    f, g = feval(x)
    f = num(f)
    evals = 1
    state.funcEval = state.funcEval + 1
  end
  local f_hist = {f}
  if g:abs():sum():item() <= tolFun then return x, f_hist, evals end

  local d, t = state.d, state.t
  local old_dirs, old_stps, Hdiag = state.old_dirs, state.old_stps, state.Hdiag
  local g_old, f_old = state.g_old, state.f_old
  local nIter = 0
  while nIter < maxIter do
    nIter = nIter + 1
    state.nIter = state.nIter + 1
    if state.nIter == 1 then
      d = -g
      old_dirs, old_stps, Hdiag = {}, {}, 1
    else
      -- memory update: s = t·d (the step taken), y = g − g_old
      local y = g - g_old
      local s = d * t
      local ys = y:dot(s):item()
      if ys > 1e-10 then
        if #old_dirs == nCorrection then
          table.remove(old_dirs, 1)
          table.remove(old_stps, 1)
        end
        old_dirs[#old_dirs + 1] = s
        old_stps[#old_stps + 1] = y
        Hdiag = ys / y:dot(y):item()
      end
      -- two-loop recursion: d = −H·g
      local k = #old_dirs
      local ro, al = {}, {}
      for i = 1, k do ro[i] = 1 / old_stps[i]:dot(old_dirs[i]):item() end
      local q = -g
      for i = k, 1, -1 do
        al[i] = old_dirs[i]:dot(q):item() * ro[i]
        q:add_(old_stps[i], -al[i])
      end
      d = q:mul_(Hdiag)
      for i = 1, k do
        local be_i = old_stps[i]:dot(d):item() * ro[i]
        d:add_(old_dirs[i], al[i] - be_i)
      end
    end
    g_old = g:clone()
    f_old = f

    local gtd = g:dot(d):item()
    state.stalled = gtd > -tolX
    if state.stalled then break end -- no descent possible along d (state.stalled tells callers)

    if state.nIter == 1 then
      t = math.min(1, 1 / g:abs():sum():item()) * lr
    else
      t = lr
    end

    local ls_evals = 0
    if type(lineSearch) == "function" then
      f, g, x, t, ls_evals = lineSearch(feval, x, t, d, f, g, gtd, config.lineSearchOptions)
      f = num(f)
      f_hist[#f_hist + 1] = f
      if config.keepEval then state.fg = {f, g} end
    else
      x:add_(d, t)
      if nIter ~= maxIter then
        f, g = feval(x)
        f = num(f)
        ls_evals = 1
        f_hist[#f_hist + 1] = f
      end
    end
    evals = evals + ls_evals
    state.funcEval = state.funcEval + ls_evals

    if nIter == maxIter then break end
    if evals >= maxEval then break end
    if g:abs():sum():item() <= tolFun then break end
    if (d:abs():sum():item() * math.abs(t)) <= tolX then break end
    if math.abs(f - f_old) < tolX then break end
  end
  state.d, state.t = d, t
  state.old_dirs, state.old_stps, state.Hdiag = old_dirs, old_stps, Hdiag
  state.g_old, state.f_old = g_old, f_old
  return x, f_hist, evals
end

return M
