-- Every CPU op against PyTorch (float64, on the same float32 inputs): relative error
-- max|a - b| / max|b| <= 1e-5. One Python run per group keeps the suite quick.
local nst = require("nst")
local oracle = require("helpers.oracle")

local TOL = 1e-5

local function close(name, got, want, tol)
  local err = oracle.rel_err(got, want)
  assert(err <= (tol or TOL), string.format("%s: relative error %.3g > %.3g", name, err, tol or TOL))
end

describe("CPU ops vs PyTorch", function()
  before_each(function() nst.manual_seed(1234) end)

  it("conv3x3 forward (bias, fused ReLU) and input gradient", function()
    -- Small channel counts take the im2col path, larger ones the Winograd path;
    -- odd sizes exercise the partial tiles.
    for _, s in ipairs{{2, 5, 9, 7, 6}, {1, 3, 16, 16, 20}, {1, 32, 13, 11, 24},
                       {1, 64, 16, 16, 64}, {2, 20, 6, 10, 3}, {1, 128, 5, 5, 96}} do
      local n, c, h, w, k = table.unpack(s)
      local x, wt, b = nst.randn(n, c, h, w), nst.randn(k, c, 3, 3) * 0.1, nst.randn(k)
      local g = nst.randn(n, k, h, w)
      local ref = oracle.torch([[
out["y"] = F.conv2d(x, wt, b, padding=1)
out["yr"] = F.relu(out["y"])
out["y0"] = F.conv2d(x, wt, None, padding=1)
xx = x.clone().requires_grad_()
(out["dx"],) = torch.autograd.grad((F.conv2d(xx, wt, b, padding=1) * g).sum(), xx)
]], {x = x, wt = wt, b = b, g = g})
      local tag = table.concat(s, "x")
      close("conv fwd " .. tag, nst.conv3x3(x, wt, b), ref.y)
      close("conv fwd relu " .. tag, nst.conv3x3(x, wt, b, true), ref.yr)
      close("conv fwd no bias " .. tag, nst.conv3x3(x, wt), ref.y0)
      close("conv bwd " .. tag, nst.conv3x3_backward(g, wt), ref.dx)
    end
  end)

  it("conv3x3 backward through a ReLU equals relu_backward then conv3x3_backward", function()
    -- every path: Winograd (mask read in its input transform), few input channels
    -- (col2im, masked per chunk), and the rest (masked copy); batches of 2
    for _, s in ipairs{{2, 32, 13, 11, 24}, {2, 3, 17, 9, 64}, {2, 20, 6, 10, 3}} do
      local n, c, h, w, k = table.unpack(s)
      local x, wt, b = nst.randn(n, c, h, w), nst.randn(k, c, 3, 3) * 0.1, nst.randn(k)
      local y, dy = nst.conv3x3(x, wt, b, true), nst.randn(n, k, h, w)
      local fused, plain = nst.conv3x3_backward(dy, wt, y), nst.conv3x3_backward(nst.relu_backward(dy, y), wt)
      assert.are.equal(0, (fused - plain):abs():max():item(), table.concat(s, "x"))
      assert.is_true(plain:abs():max():item() > 0)
    end
  end)

  it("max and avg pooling forward and backward, odd sizes included", function()
    for _, s in ipairs{{2, 3, 8, 8}, {1, 2, 7, 9}, {1, 4, 5, 5}, {1, 1, 2, 3}, {1, 8, 33, 17}} do
      local x = nst.randn(table.unpack(s))
      local g = nst.randn(s[1], s[2], s[3] // 2, s[4] // 2)
      local ref = oracle.torch([[
xx = x.clone().requires_grad_()
for mode, f in (("max", F.max_pool2d), ("avg", F.avg_pool2d)):
    y = f(xx, 2, 2)
    out[mode] = y
    (out["d" + mode],) = torch.autograd.grad((y * g).sum(), xx)
]], {x = x, g = g})
      local tag = table.concat(s, "x")
      for _, mode in ipairs{"max", "avg"} do
        close(mode .. " pool " .. tag, nst.pool(x, mode), ref[mode])
        close(mode .. " pool bwd " .. tag, nst.pool_backward(g, x, mode), ref["d" .. mode])
      end
    end
  end)

  it("max pooling routes ties to the first maximum, as PyTorch", function()
    local x = nst.tensor{{{{1, 1, 0, 2}, {1, 1, 2, 2}}}}
    local g = nst.tensor{{{{3, 5}}}}
    local ref = oracle.torch([[
xx = x.clone().requires_grad_()
(out["dx"],) = torch.autograd.grad((F.max_pool2d(xx, 2, 2) * g).sum(), xx)
]], {x = x, g = g})
    close("max pool ties", nst.pool_backward(g, x, "max"), ref.dx, 0)
  end)

  it("Gram matrix, ReLU and matmul with transposes", function()
    local f4, f3 = nst.randn(2, 16, 9, 11), nst.randn(64, 40, 40)
    local a, b = nst.randn(37, 23), nst.randn(23, 41)
    local at, bt = nst.randn(23, 37), nst.randn(41, 23)
    local x, dy = nst.randn(3, 4, 5, 6), nst.randn(3, 4, 5, 6)
    local ref = oracle.torch([[
out["g4"] = torch.bmm(f4.reshape(2, 16, -1), f4.reshape(2, 16, -1).transpose(1, 2)) * 0.5
ff = f3.reshape(64, -1)
out["g3"] = ff @ ff.t()
out["ab"], out["atb"], out["abt"], out["atbt"] = a @ b, at.t() @ b, a @ bt.t(), at.t() @ bt.t()
out["r"] = F.relu(x)
out["dr"] = dy * (x > 0)
]], {f4 = f4, f3 = f3, a = a, b = b, at = at, bt = bt, x = x, dy = dy})
    close("gram 4-D", nst.gram(f4, 0.5), ref.g4)
    close("gram 3-D", nst.gram(f3), ref.g3)
    close("matmul", nst.matmul(a, b), ref.ab)
    close("matmul ta", nst.matmul(at, b, true, false), ref.atb)
    close("matmul tb", nst.matmul(a, bt, false, true), ref.abt)
    close("matmul ta tb", nst.matmul(at, bt, true, true), ref.atbt)
    local r = nst.relu(x)
    close("relu", r, ref.r, 0)
    close("relu bwd", nst.relu_backward(dy, r), ref.dr, 0)
  end)

  it("reductions", function()
    local x, y = nst.randn(3, 50, 70) + 0.3, nst.randn(3, 50, 70)
    local ref = oracle.torch([[
out["sum"], out["mean"], out["sumsq"] = x.sum(), x.mean(), (x * x).sum()
out["min"], out["max"], out["dot"] = x.min(), x.max(), (x * y).sum()
]], {x = x, y = y})
    close("sum", x:sum(), ref.sum)
    close("mean", x:mean(), ref.mean)
    close("sumsq", x:sumsq(), ref.sumsq)
    close("min", x:min(), ref.min, 0)
    close("max", x:max(), ref.max, 0)
    close("dot", nst.dot(x, y), ref.dot)
  end)

  it("elementwise ops, scalar and broadcast forms", function()
    local a, b = nst.randn(4, 1000), nst.randn(4, 1000)
    local p = a:abs() + 0.1
    local s = nst.tensor(0.75)
    local ref = oracle.torch([[
out["add"], out["sub"], out["mul"], out["div"] = a + b, a - b, a * b, a / b
out["maximum"], out["minimum"] = torch.maximum(a, b), torch.minimum(a, b)
out["neg"], out["abs"], out["sqrt"], out["exp"] = -a, a.abs(), p.sqrt(), a.exp()
out["log"], out["square"], out["sign"] = p.log(), a * a, a.sign()
out["clamp"] = a.clamp(-0.5, 0.25)
out["adds"], out["rsub"], out["rdiv"], out["muls"] = a + 2, 2 - a, 2 / p, a * 3
out["bsub"], out["bsubr"] = a - s, s - a
]], {a = a, b = b, p = p, s = s})
    close("add", a + b, ref.add)
    close("sub", a - b, ref.sub)
    close("mul", a * b, ref.mul)
    close("div", a / b, ref.div)
    close("maximum", nst.maximum(a, b), ref.maximum, 0)
    close("minimum", nst.minimum(a, b), ref.minimum, 0)
    close("neg", -a, ref.neg, 0)
    close("abs", a:abs(), ref.abs, 0)
    close("sqrt", p:sqrt(), ref.sqrt)
    close("exp", a:exp(), ref.exp)
    close("log", p:log(), ref.log)
    close("square", a:square(), ref.square)
    close("sign", a:sign(), ref.sign, 0)
    close("clamp", a:clamp(-0.5, 0.25), ref.clamp, 0)
    close("add scalar", a + 2, ref.adds)
    close("reversed sub", 2 - a, ref.rsub)
    close("reversed div", 2 / p, ref.rdiv)
    close("mul scalar", a * 3, ref.muls)
    close("broadcast device scalar", a - s, ref.bsub)
    close("broadcast device scalar, reversed", s - a, ref.bsubr)
  end)

  it("content (mse) and total-variation losses with gradients", function()
    local f, p, x = nst.randn(1, 8, 9, 10), nst.randn(1, 8, 9, 10), nst.randn(2, 3, 7, 9)
    local ref = oracle.torch([[
ff = f.clone().requires_grad_()
l = 0.7 * 0.5 * ((ff - p) ** 2).sum()
out["mse"] = l
(out["dmse"],) = torch.autograd.grad(l, ff)
xx = x.clone().requires_grad_()
dx, dy = xx[..., :, 1:] - xx[..., :, :-1], xx[..., 1:, :] - xx[..., :-1, :]
l = 0.3 * ((dx ** 2).sum() + (dy ** 2).sum())
out["tv"] = l
(out["dtv"],) = torch.autograd.grad(l, xx)
l = 0.3 * (dx.abs().sum() + dy.abs().sum())
out["tv1"] = l
(out["dtv1"],) = torch.autograd.grad(l, xx)
]], {f = f, p = p, x = x})
    local l, g = nst.mse_loss(f, p, 0.7)
    close("mse loss", l, ref.mse)
    close("mse grad", g, ref.dmse)
    l, g = nst.tv_loss(x, "squared", 0.3)
    close("tv loss", l, ref.tv)
    close("tv grad", g, ref.dtv)
    l, g = nst.tv_loss(x, "l1", 0.3)
    close("tv l1 loss", l, ref.tv1)
    close("tv l1 grad", g, ref.dtv1)
  end)

  it("Adam steps match torch.optim.Adam", function()
    local x0 = nst.randn(1, 3, 8, 8)
    local g1, g2, g3 = nst.randn(1, 3, 8, 8), nst.randn(1, 3, 8, 8), nst.randn(1, 3, 8, 8)
    local ref = oracle.torch([[
p = torch.nn.Parameter(x0.clone().float())
opt = torch.optim.Adam([p], lr=0.05, betas=(0.9, 0.999), eps=1e-8)
for g in (g1, g2, g3):
    p.grad = g.float()
    opt.step()
out["x"] = p.detach()
]], {x0 = x0, g1 = g1, g2 = g2, g3 = g3})
    local x, m, v = x0:clone(), nst.zeros(1, 3, 8, 8), nst.zeros(1, 3, 8, 8)
    for t, g in ipairs{g1, g2, g3} do nst.adam_step(x, g, m, v, 0.05, 0.9, 0.999, 1e-8, t) end
    close("adam", x, ref.x)
  end)

  it("channel affine (channel permutation, scale, shift)", function()
    local x = nst.rand(2, 3, 5, 6)
    local ref = oracle.torch([[
out["y"] = torch.stack([2 * x[:, 2] - 1, 3 * x[:, 1] + 0.5, -x[:, 0] + 0.25], 1)
]], {x = x})
    close("channel_affine", nst.channel_affine(x, {3, 2, 1}, {2, 3, -1}, {-1, 0.5, 0.25}), ref.y)
  end)
end)
