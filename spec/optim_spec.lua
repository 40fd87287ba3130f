-- nst.optim: Adam against torch.optim.Adam, L-BFGS on a known quadratic and against
-- torch.optim.LBFGS (line_search_fn None and "strong_wolfe"), the step-decay schedule.
local nst = require("nst")
local oracle = require("helpers.oracle")

local optim = nst.optim

-- 0.5 xᵀAx − bᵀx with a symmetric positive definite A (n×n): value and gradient Ax − b.
local function quadratic(n, seed)
  nst.manual_seed(seed)
  local R = nst.randn(n, n)
  local A = nst.matmul(R, R, true, false) * (1 / n) -- RᵀR/n
  local eye = {}
  for i = 1, n do
    eye[i] = {}
    for j = 1, n do eye[i][j] = i == j and 0.5 or 0 end
  end
  A = A + nst.tensor(eye)
  local b = nst.randn(n, 1)
  local function feval(x)
    local Ax = nst.matmul(A, x)
    local f = Ax:dot(x) * 0.5 - b:dot(x)
    return f, Ax - b
  end
  return A, b, feval
end

describe("nst.optim.adam", function()
  it("10 steps match torch.optim.Adam on a quadratic", function()
    local A, b, feval = quadratic(6, 3)
    local x0 = nst.randn(6, 1)
    local x = x0:clone()
    local opt = optim.adam{lr = 0.1}
    for _ = 1, 10 do
      local _, g = feval(x)
      opt:step(x, g)
    end
    assert.are.equal(10, opt.t)
    local r = oracle.torch([[
x = x0.clone().requires_grad_(True)
opt = torch.optim.Adam([x], lr=0.1, betas=(0.9, 0.999), eps=1e-8)
for _ in range(10):
    opt.zero_grad()
    f = 0.5 * (x.t() @ A @ x).sum() - (b * x).sum()
    f.backward()
    opt.step()
out["x"] = x
]], {x0 = x0, A = A, b = b})
    assert.is_true(oracle.rel_err(x, r.x) < 1e-5)

    -- the Torch7 shape gives the same iterates
    local y, state = x0:clone(), {}
    local fs
    for _ = 1, 10 do _, fs = optim.adam(feval, y, {learningRate = 0.1}, state) end
    assert.are.equal(10, state.t)
    assert.are.equal(1, #fs)
    assert.is_true(oracle.rel_err(y, x) < 1e-6)
  end)

  it("the step count kept in a tensor gives the same steps as the number", function()
    nst.manual_seed(8)
    local x1 = nst.randn(257)
    local x2, m1, v1, m2, v2 = x1:clone(), nst.zeros(257), nst.zeros(257), nst.zeros(257), nst.zeros(257)
    local steps = nst.zeros(1)
    for t = 1, 4 do
      local g = nst.randn(257)
      nst.adam_step(x1, g, m1, v1, 0.05, 0.9, 0.999, 1e-8, t)
      nst.adam_step(x2, g, m2, v2, 0.05, 0.9, 0.999, 1e-8, steps)
    end
    assert.are.equal(4, steps:item())
    assert.are.equal(0, (x1 - x2):abs():max():item())
    assert.has_error(function() nst.adam_step(x2, x2, m2, v2, 0.05, 0.9, 0.999, 1e-8, nst.zeros(2)) end,
                     "adam (step count): expected a one-element tensor, got 2 elements")
    assert.has_error(function() nst.adam_step(x2, x2, m2, v2, 0.05, 0.9, 0.999, 1e-8, nst.full({1}, -3)) end,
                     "cpu: adam step count -3 is not a count of steps")
  end)

  it("set_lr changes the step; bad options are rejected", function()
    local opt = optim.adam{lr = 1}
    opt:set_lr(0.5)
    assert.are.equal(0.5, opt.lr)
    assert.has_error(function() opt:set_lr(-1) end)
    assert.has_error(function() optim.adam{beta1 = 1} end)
    -- with zero lr nothing moves
    local x = nst.ones(3)
    optim.adam{lr = 0}:step(x, nst.ones(3))
    assert.are.equal(3, x:sum():item())
  end)
end)

describe("nst.optim.step_decay", function()
  it("multiplies by gamma every `every` iterations", function()
    local s = optim.step_decay{every = 100, gamma = 0.5}
    assert.are.equal(1, s(1, 1))
    assert.are.equal(1, s(100, 1))
    assert.are.equal(0.5, s(101, 1))
    assert.are.equal(0.25, s(201, 1))
    local opt = optim.adam{lr = 2}
    s:apply(opt, 150, 2)
    assert.are.equal(1, opt.lr)
    assert.has_error(function() optim.step_decay{every = 0} end)
  end)
end)

describe("nst.optim.lbfgs", function()
  it("reaches the minimum of an SPD quadratic", function()
    local A, b, feval = quadratic(8, 7)
    local x = nst.zeros(8, 1)
    local _, fh = optim.lbfgs(feval, x, {maxIter = 100, nCorrection = 10, tolFun = 1e-10, tolX = 1e-12})
    -- the minimizer solves A x = b: the gradient vanishes
    local _, g = feval(x)
    assert.is_true(g:abs():max():item() < 1e-4)
    assert.is_true(fh[#fh] < fh[1])
    local r = oracle.torch([[out["x"] = torch.linalg.solve(A, b)]], {A = A, b = b})
    assert.is_true(oracle.rel_err(x, r.x) < 1e-4)
  end)

  it("matches torch.optim.LBFGS(line_search_fn=None) iterate by iterate", function()
    local A, b, feval = quadratic(8, 9)
    local x0 = nst.randn(8, 1)
    local x = x0:clone()
    local _, fh = optim.lbfgs(feval, x, {maxIter = 6, nCorrection = 5, learningRate = 1, tolFun = 0, tolX = 0})
    assert.are.equal(6, #fh) -- the start plus one evaluation per iteration but the last
    local r = oracle.torch([[
x = x0.clone().requires_grad_(True)
opt = torch.optim.LBFGS([x], lr=1, max_iter=6, history_size=5, line_search_fn=None,
                        tolerance_grad=0, tolerance_change=0)
fs = []
def closure():
    opt.zero_grad()
    f = 0.5 * (x.t() @ A @ x).sum() - (b * x).sum()
    f.backward()
    fs.append(f.item())
    return f
opt.step(closure)
out["x"] = x
out["f"] = torch.tensor(fs)
]], {x0 = x0, A = A, b = b})
    assert.is_true(oracle.rel_err(x, r.x) < 1e-5)
    local tf = r.f:totable()
    assert.are.equal(#tf, #fh)
    for i = 1, #fh do
      assert.is_true(math.abs(fh[i] - tf[i]) <= 1e-5 * math.abs(tf[1]) + 1e-6, "f at evaluation " .. i)
    end
  end)

  it("with the strong Wolfe line search matches torch.optim.LBFGS(line_search_fn=\"strong_wolfe\")", function()
    -- Rosenbrock in 6 dimensions: curved valleys that make the line search work
    local n = 6
    local function feval(x)
      local v = {}
      for i, row in ipairs(x:totable()) do v[i] = row[1] end
      local f, g = 0, {}
      for i = 1, n do g[i] = 0 end
      for i = 1, n - 1 do
        local a, b = v[i + 1] - v[i] * v[i], 1 - v[i]
        f = f + 100 * a * a + b * b
        g[i] = g[i] - 400 * v[i] * a - 2 * b
        g[i + 1] = g[i + 1] + 200 * a
      end
      local gt = {}
      for i = 1, n do gt[i] = {g[i]} end
      return f, nst.tensor(gt)
    end
    local x0 = nst.tensor({{-1.2}, {1}, {-0.5}, {0.8}, {1.5}, {0.2}})
    local x = x0:clone()
    local _, fh, evals = optim.lbfgs(feval, x, {maxIter = 15, maxEval = 1000, nCorrection = 7,
                                                tolFun = 0, tolX = 0, lineSearch = optim.lswolfe})
    assert.is_true(evals > 15) -- the line search did evaluate more than once somewhere
    local r = oracle.torch([[
x = x0.clone().requires_grad_(True)
opt = torch.optim.LBFGS([x], lr=1, max_iter=15, max_eval=1000, history_size=7,
                        line_search_fn="strong_wolfe", tolerance_grad=0, tolerance_change=0)
def closure():
    opt.zero_grad()
    v = x[:, 0]
    f = (100 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2).sum()
    f.backward()
    return f
opt.step(closure)
out["x"] = x
out["f"] = torch.tensor([closure().item()])
]], {x0 = x0})
    assert.is_true(oracle.rel_err(x, r.x) < 1e-4, "x: " .. oracle.rel_err(x, r.x))
    assert.is_true(feval(x) < 0.5 * fh[1])
  end)

  it("strong Wolfe steps satisfy both conditions on a quadratic", function()
    local _, _, feval = quadratic(6, 3)
    local x = nst.randn(6, 1)
    local f0, g0 = feval(x)
    f0 = f0:item()
    local d = -g0 * 3 -- a descent direction with a poor scale
    local gtd = g0:dot(d):item()
    local f1, g1, x1, t = optim.lswolfe(feval, x, 1, d, f0, g0, gtd)
    f1 = type(f1) == "number" and f1 or f1:item()
    assert.are.equal(x, x1)
    assert.is_true(t > 0)
    assert.is_true(f1 <= f0 + 1e-4 * t * gtd, "sufficient decrease")
    assert.is_true(math.abs(g1:dot(d):item()) <= 0.9 * math.abs(gtd), "curvature")
  end)

  it("continues from its state across calls and accepts tensor losses", function()
    local _, _, feval = quadratic(5, 2)
    local x, state = nst.zeros(5, 1), {}
    for _ = 1, 30 do optim.lbfgs(feval, x, {maxIter = 1, tolX = 0}, state) end
    -- each call adds at most one iteration; it stops once the gradient is below tolFun
    assert.is_true(state.nIter >= 5 and state.nIter <= 30)
    local _, g = feval(x)
    assert.is_true(g:abs():max():item() < 1e-3)
    assert.has_error(function() optim.lbfgs(nil, x) end)
  end)
end)
