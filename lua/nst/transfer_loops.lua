-- The optimizer loops of a transfer run. Each runs from the run's next iteration to
-- `last` (default: the options' num_iterations), moves run.image in place, keeps its
-- optimizer's state in the run (run.adam, run.lbfgs), and calls progress.after after
-- every iteration.
local core = require("nst.core")
local objective = require("nst.objective")
local optim = require("nst.optim")
local progress = require("nst.transfer_progress")

local M = {}

local function evaluate(run, x)
  return objective.evaluate(run.objective, run.net, x, run.opts)
end

-- Adam with the learning rate in grey levels (lr 1 moves a pixel by about 1/255 per
-- step), an optional step decay (lr_decay), the image clamped to [0,1] after each step
-- (clamp = false: not).
function M.adam(run, last)
  local o = run.opts
  run.adam = run.adam or optim.adam{lr = o.learning_rate / 255}
  local opt, img = run.adam, run.image
  local sched = o.lr_decay and optim.step_decay(o.lr_decay)
  local function iteration()
    local _, grad, parts = evaluate(run, img)
    opt:step(img, grad)
    if o.clamp then img:clamp_(0, 1) end
    return parts
  end
  -- cuda_graph: from the loop's second iteration on (the first makes the cuDNN plans), the
  -- iteration is one CUDA graph replay; captured again when the learning rate changes
  -- (it is part of the captured Adam step). parts are the graph's loss tensors.
  local use_graph = o.cuda_graph and run.device == "cuda"
  local graph, graph_parts, graph_lr
  local first = run.iteration + 1
  for it = first, last or o.num_iterations do
    if sched then sched:apply(opt, it, o.learning_rate / 255) end
    local parts
    if use_graph and it > first then
      if not graph or graph_lr ~= opt.lr then
        if graph then graph:close() end
        graph, graph_parts = core.cuda_graph(iteration)
        graph_lr = opt.lr
      end
      graph:replay()
      parts = graph_parts
    else
      parts = iteration()
    end
    progress.after(run, it, parts)
  end
  if graph then graph:close() end
end

-- The L-BFGS configuration of a run: one iteration per call (the state carries the
-- history), so that printing, checkpoints and callbacks work as with Adam.
local function lbfgs_config(o)
  local wolfe = o.lbfgs.line_search == "wolfe"
  return {maxIter = 1, nCorrection = o.lbfgs.nCorrection, learningRate = o.learning_rate, tolFun = -1,
          tolX = -1, lineSearch = wolfe and optim.lswolfe or nil, keepEval = wolfe}
end

-- L-BFGS (nst.optim.lbfgs), by default with the strong Wolfe line search. It moves the
-- network's input x = net:preprocess(image) (caffe weights: 0..255), as neural-style's
-- optim.lbfgs does: its first step, min(1, 1/|g|₁), and its tolerances are in those
-- units. run.image follows x after each iteration.
function M.lbfgs(run, last)
  local o, net = run.opts, run.net
  local cfg = lbfgs_config(o)
  local wolfe = cfg.keepEval
  run.lbfgs = run.lbfgs or {}
  -- x lives in the state (run_state saves it), so a resumed run continues from x itself
  -- rather than from its image's round trip through preprocess
  local x = run.lbfgs.x or net:preprocess(run.image)
  run.lbfgs.x = x
  -- the loss parts of each evaluation by loss value: the line search ends at one of its
  -- evaluations, not always the last
  local seen, parts = {}, nil
  local function fe(xi)
    local img <close> = net:deprocess(xi)
    local f, gi, p = evaluate(run, img)
    local g = net:image_grad_to_input(gi)
    gi:close()
    parts = p
    if wolfe then -- read the loss once: L-BFGS takes the number as it is
      f = f:item()
      seen[f] = p
    end
    return f, g
  end
  for it = run.iteration + 1, last or o.num_iterations do
    seen = {}
    local _, fh = optim.lbfgs(fe, x, cfg, run.lbfgs)
    local img <close> = net:deprocess(x)
    run.image:copy(img)
    if wolfe and seen[fh[#fh]] then parts = seen[fh[#fh]] end
    -- A direction that is no descent direction would stop Torch7's L-BFGS for good
    -- (each later call finds the same direction): restart from steepest descent.
    if run.lbfgs.stalled then run.lbfgs = {x = x} end
    progress.after(run, it, parts)
  end
end

return M
