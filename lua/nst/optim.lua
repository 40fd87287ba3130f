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

-- ---- L-BFGS -----------------------------------------------------------------

-- x, f_hist, evals = optim.lbfgs(feval, x, config, state): Torch7's optim.lbfgs on nst
-- tensors. feval(x) -> f (number or 1-element tensor), gradient (x's shape).
-- config: maxIter (20), maxEval (1.25·maxIter), tolFun (1e-5, on Σ|g|), tolX (1e-9),
-- nCorrection (100, history size), learningRate (1), lineSearch (nil: fixed step;
-- or a function(feval, x, t, d, f, g, gtd, opts) -> f, g, x, t, evals as Torch7's).
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

  local f, g = feval(x)
  f = num(f)
  local f_hist = {f}
  local evals = 1
  state.funcEval = state.funcEval + 1
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
