-- nst.loss: values and gradients against PyTorch (float64) and finite differences.
local nst = require("nst")
local oracle = require("helpers.oracle")

local loss = nst.loss

local fd_check = require("helpers.fd").check

describe("nst.loss", function()
  local F, P, x
  setup(function()
    nst.manual_seed(11)
    F = nst.rand(1, 8, 5, 6)
    P = nst.rand(1, 8, 5, 6)
    x = nst.rand(1, 3, 7, 9)
  end)

  it("content loss ½Σ(F−P)² and its mean form match torch", function()
    local l, g = loss.content(F, P)
    local lm, gm = loss.content(F, P, {mean = true})
    assert.are.same({1}, l:shape())
    local r = oracle.torch([[
F.requires_grad_(True)
l = 0.5 * ((F - P) ** 2).sum()
g, = torch.autograd.grad(l, F)
lm = torch.nn.functional.mse_loss(F, P)
gm, = torch.autograd.grad(lm, F)
out["l"], out["g"], out["lm"], out["gm"] = l, g, lm, gm
]], {F = F, P = P})
    assert.is_true(oracle.rel_err(l, r.l) < 1e-5)
    assert.is_true(oracle.rel_err(g, r.g) < 1e-5)
    assert.is_true(oracle.rel_err(lm, r.lm) < 1e-5)
    assert.is_true(oracle.rel_err(gm, r.gm) < 1e-5)
  end)

  it("style loss Σ(G−A)²/(4C²M²) matches torch", function()
    local A = nst.gram(nst.rand(1, 8, 5, 6)):reshape(8, 8)
    local l, g = loss.style(F, A)
    local r = oracle.torch([[
F.requires_grad_(True)
f = F.reshape(8, -1)
G = f @ f.t()
l = ((G - A) ** 2).sum() / (4 * 8**2 * 30**2)
g, = torch.autograd.grad(l, F)
out["l"], out["g"] = l, g
]], {F = F, A = A})
    assert.is_true(oracle.rel_err(l, r.l) < 1e-5)
    assert.is_true(oracle.rel_err(g, r.g) < 1e-5)
  end)

  it("tv loss, squared and l1, matches torch", function()
    for _, kind in ipairs{"squared", "l1"} do
      local l, g = loss.tv(x, kind)
      local r = oracle.torch(([[
x.requires_grad_(True)
dx = x[:, :, :, 1:] - x[:, :, :, :-1]
dy = x[:, :, 1:, :] - x[:, :, :-1, :]
if "%s" == "l1":
    l = dx.abs().sum() + dy.abs().sum()
else:
    l = (dx ** 2).sum() + (dy ** 2).sum()
g, = torch.autograd.grad(l, x)
out["l"], out["g"] = l, g
]]):format(kind), {x = x})
      assert.is_true(oracle.rel_err(l, r.l) < 1e-5, kind)
      assert.is_true(oracle.rel_err(g, r.g) < 1e-5, kind)
    end
    local l0 = loss.tv(x)
    assert.are.equal(loss.tv(x, "squared"):item(), l0:item())
  end)

  it("blended style target is Σ w_i G_i / Σ w_i, and rescales other sizes", function()
    local F1, F2 = nst.rand(1, 8, 5, 6), nst.rand(1, 8, 5, 6)
    local A = loss.style_target({F1, F2}, {1, 3})
    assert.are.same({8, 8}, A:shape())
    local r = oracle.torch([[
a = F1.reshape(8, -1); b = F2.reshape(8, -1)
out["A"] = (1 * a @ a.t() + 3 * b @ b.t()) / 4
]], {F1 = F1, F2 = F2})
    assert.is_true(oracle.rel_err(A, r.A) < 1e-5)
    -- equal weights by default; a table per image gives a table per layer
    local T = loss.style_target({{relu1_1 = F1}, {relu1_1 = F2}})
    local Aeq = loss.style_target({F1, F2}, {1, 1})
    assert.is_true(oracle.rel_err(T.relu1_1, Aeq) < 1e-6)
    -- a style image twice as large (4x positions) is rescaled to m positions
    local Fbig = nst.rand(1, 8, 10, 12)
    local Ab = loss.style_target({Fbig}, nil, 30)
    local Gb = nst.gram(Fbig):reshape(8, 8) * (30 / 120)
    assert.is_true(oracle.rel_err(Ab, Gb) < 1e-6)
  end)

  it("gradients agree with finite differences", function()
    nst.manual_seed(5)
    -- moderate values so that float32 central differences are accurate
    local f, p = nst.rand(1, 4, 3, 5), nst.rand(1, 4, 3, 5)
    local _, g = loss.content(f, p)
    assert.is_true(fd_check(function(t) return (loss.content(t, p)) end, f, g) < 1e-2)
    local _, gm = loss.content(f, p, {mean = true})
    assert.is_true(fd_check(function(t) return (loss.content(t, p, {mean = true})) end, f, gm) < 1e-2)
    local A = loss.style_target({nst.rand(1, 4, 3, 5), nst.rand(1, 4, 3, 5)}, {2, 1})
    local _, gs = loss.style(f, A)
    assert.is_true(fd_check(function(t) return (loss.style(t, A)) end, f, gs) < 1e-2)
    local img = nst.rand(1, 3, 6, 7)
    local _, gt = loss.tv(img)
    assert.is_true(fd_check(function(t) return (loss.tv(t)) end, img, gt) < 1e-2)
    -- l1: small steps; |differences| of rand values are far from 0 at almost every point
    local _, g1 = loss.tv(img, "l1")
    assert.is_true(fd_check(function(t) return (loss.tv(t, "l1")) end, img, g1, 12, 1e-3) < 2e-2)
  end)

  it("returns device scalars and rejects bad input clearly", function()
    local l = loss.content(F, P)
    assert.are.equal("cpu", l:device())
    assert.are.equal(1, l:numel())
    assert.has_error(function() loss.tv(x, "l2") end, 'nst.loss.tv: kind must be "squared", "l1" or "corner", got l2')
    assert.has_error(function() loss.content(F, 3) end)
    assert.has_error(function() loss.style_target({}) end)
    assert.has_error(function() loss.style_target({F, P}, {1, -1}) end)
    assert.has_error(function() loss.content(F, nst.rand(1, 8, 5, 5)) end)
  end)
end)
