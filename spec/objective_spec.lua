-- nst.objective and nst.terms: the objective as a list of loss terms, with a stand-in
-- network (features = 2·x at every layer) so that the sums can be checked by hand; and
-- nst.check, the argument checks the Lua modules share.
local nst = require("nst")
local objective = require("nst.objective")
local terms = require("nst.terms")
local check = require("nst.check")

-- forward: {layer = 2x}; backward: Σ over layers of 2·grad
local function standin()
  local net = {}
  function net.forward(_, x, layers)
    local F = {}
    for _, l in ipairs(layers) do F[l] = x * 2 end
    return F
  end
  function net.backward(_, grads)
    local g
    for _, t in pairs(grads) do g = g and g + t * 2 or t * 2 end
    return g
  end
  return net
end

describe("nst.objective", function()
  it("sums weighted terms and their gradients; a new term needs no change to the evaluation", function()
    nst.manual_seed(1)
    local x = nst.rand(1, 3, 4, 5)
    local P = {a = nst.rand(1, 3, 4, 5)}
    local ref = nst.rand(1, 3, 4, 5)
    -- lua/README.md's example: a term of our own on the image, w · Σ(x − ref)², gradient 2w(x − ref)
    local near = {name = "near", weight = 0.5, loss = function(img) return nst.mse_loss(img, ref, 2) end}
    local obj = objective.new{terms.content(P, {"a"}, 3, true), near}
    assert.are.same({"a"}, obj.layers)
    local total, grad, parts = objective.evaluate(obj, standin(), x)
    -- content: 3 · mean((2x − P)²); its gradient 3 · 2(2x − P)/n through the stand-in's ×2
    local n = x:numel()
    local d = x * 2 - P.a
    local want_near = 0.5 * (x - ref):sumsq():item()
    local want = 3 * d:sumsq():item() / n + want_near
    assert.is_true(math.abs(total:item() - want) <= 1e-5 * want)
    assert.is_true(math.abs(parts.near:item() - want_near) <= 1e-5 * want)
    assert.are.equal(total:item(), parts.total:item())
    local want_grad = d * (3 * 2 / n * 2) + (x - ref)
    assert.is_true((grad - want_grad):abs():max():item() < 1e-5)
  end)

  it("keeps per-layer terms by layer and scales each gradient to unit L1 norm with normalize_gradients", function()
    nst.manual_seed(2)
    local x = nst.rand(1, 2, 3, 3)
    local A = {a = nst.gram(x, 1):reshape(2, 2), b = nst.gram(x, 1):reshape(2, 2)}
    local seen = {}
    local net = standin()
    local backward = net.backward
    function net.backward(self, grads)
      for l, g in pairs(grads) do seen[l] = g:abs():sum():item() end
      return backward(self, grads)
    end
    local obj = objective.new{terms.style(A, {"a", "b"}, {a = 2, b = 3})}
    local _, _, parts = objective.evaluate(obj, net, x, {normalize_gradients = true})
    assert.is_true(parts.style.a:item() > 0 and parts.style.b:item() > 0)
    assert.is_true(math.abs(seen.a - 2) < 1e-4 and math.abs(seen.b - 3) < 1e-4)
  end)

  it("from_options lists the terms with a weight > 0", function()
    local o = {content_layers = {"a"}, style_layers = {"b"}, content_weight = 0, style_weight = 0,
               tv_weight = 1, tv_kind = "l1"}
    local list = terms.from_options(o, {}, nil)
    assert.are.equal(1, #list)
    assert.are.equal("tv", list[1].name)
  end)
end)

describe("nst.check", function()
  it("says what a number must be", function()
    assert.is_nil(check.want(0, {integer = true, min = 0}))
    assert.are.equal("an integer >= 0", check.want(1.5, {integer = true, min = 0}))
    assert.are.equal("a number in [0, 1)", check.want(1, {min = 0, below = 1}))
    assert.are.equal("in [1, 10]", check.want(11, {min = 1, max = 10, bare = true}))
    assert.are.equal("> 0", check.want(0, {above = 0, bare = true}))
    assert.are.equal("a number >= 0", check.want(0 / 0, {min = 0}))
    assert.are.equal("a number", check.want("x", {}))
    assert.has_error(function() check.number("f", "n", -1, {min = 0}) end, "f: n must be a number >= 0, got -1")
    assert.are.equal(3, check.number("f", "n", 3, {min = 0}))
  end)

  it("names the first unknown key", function()
    assert.has_error(function() check.keys("f", {b = 1, zz = 2, aa = 3}, {b = true}) end, "f: unknown option 'aa'")
    check.keys("f", {b = false}, {b = false})
  end)
end)
