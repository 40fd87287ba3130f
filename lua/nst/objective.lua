-- The objective of a transfer: a list of loss terms (see nst.terms), evaluated on one
-- image as their weighted sum and its gradient. Nothing here reads a value back from the
-- device: losses stay device scalars until the history records them.
local M = {}

-- The layers of several lists, each once, in the order they first appear.
function M.union(...)
  local seen, out = {}, {}
  for _, names in ipairs{...} do
    for _, l in ipairs(names) do
      if not seen[l] then seen[l] = true; out[#out + 1] = l end
    end
  end
  return out
end

-- terms -> objective {terms =, layers = the union of the terms' layers, in term order}
function M.new(terms)
  local lists = {}
  for i, term in ipairs(terms) do lists[i] = term.layers or {} end
  return {terms = terms, layers = M.union(table.unpack(lists))}
end

-- Adds a weighted piece of a term to the parts of an evaluation and to the total.
local function add_loss(parts, total, term, layer, l)
  if term.per_layer then
    parts[term.name] = parts[term.name] or {}
    parts[term.name][layer] = l
  else
    parts[term.name] = parts[term.name] and parts[term.name] + l or l
  end
  return total and total + l or l
end

-- The feature terms: their weighted losses, and their weighted gradients summed by layer.
-- normalize (neural-style's normalize_gradients): each gradient is divided by its L1
-- norm (+1e-8) before its weight applies; a device scalar, so no sync.
local function feature_terms(obj, F, normalize, parts)
  local grads, total = {}, nil
  for _, term in ipairs(obj.terms) do
    for _, l in ipairs(term.layers or {}) do
      local w = term.weight[l]
      local value, g = term.loss(F[l], l)
      value:mul_(w)
      if normalize then g:div_(g:abs():sum():add_(1e-8)) end
      g:mul_(w)
      grads[l] = grads[l] and grads[l]:add_(g) or g
      total = add_loss(parts, total, term, l, value)
    end
  end
  return grads, total
end

-- One evaluation at image x: total (a device scalar), the gradient w.r.t. x, and parts
-- {total =, [term name] = loss or {layer = loss}}. Feature terms come first, then the
-- terms on the image, each in list order. opts: normalize_gradients.
function M.evaluate(obj, net, x, opts)
  local F = net:forward(x, obj.layers)
  local parts = {}
  local grads, total = feature_terms(obj, F, opts and opts.normalize_gradients, parts)
  local grad = net:backward(grads)
  -- Free the feature maps and their gradients now rather than when the collector runs:
  -- device memory stays near one iteration's working set.
  for _, t in pairs(F) do t:close() end
  for _, t in pairs(grads) do t:close() end
  for _, term in ipairs(obj.terms) do
    if not term.layers then
      local value, g = term.loss(x)
      value:mul_(term.weight)
      grad:add_(g, term.weight)
      total = add_loss(parts, total, term, nil, value)
    end
  end
  parts.total = total
  return total, grad, parts
end

return M
