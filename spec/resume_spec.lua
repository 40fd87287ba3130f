-- Exact resume through the command line: a run interrupted (SIGINT) and continued with
-- -resume ends with the bytes of an uninterrupted one (Adam; L-BFGS within one grey
-- level), its CSV with every row once; a state of another run, a broken state file and
-- a missing one are refused with clear messages.
local nst = require("nst")
local h = require("helpers.kit")
local files, cli, tiny = h.files, h.cli, h.tiny

local function args(dir, extra)
  return tiny.real(dir .. "/out.png", "relu1_1,relu2_1,relu3_1", {"-save_iter", "4", table.unpack(extra or {})})
end

-- The rows' iteration numbers of a CSV.
local function csv_iterations(path)
  local its = {}
  for line in io.lines(path) do
    local it = line:match("^(%d+),")
    if it then its[#its + 1] = tonumber(it) end
  end
  return its
end

-- An uninterrupted run, and one interrupted after its first checkpoint then resumed:
-- their directories, and the iteration the second one stopped at.
-- The CSV has rows 1..n, each once.
local function assert_rows(path, n)
  local its = csv_iterations(path)
  assert.are.equal(n, #its)
  for i, it in ipairs(its) do assert.are.equal(i, it) end
end

local function both(extra)
  local a, b = files.tmpdir(), files.tmpdir()
  local status, log = cli.run(args(a, extra))
  assert.are.equal(0, status, log)
  status, log = cli.run_and_signal(args(b, extra), b .. "/out_4.png", "INT")
  assert.are.equal(130, status, log)
  local stopped = tonumber(log:match("interrupted by SIGINT at iteration (%d+)"))
  assert.is_number(stopped, log)
  assert.truthy(files.exists(b .. "/out.state.safetensors"), log)
  assert.are.equal(stopped, #csv_iterations(b .. "/out.csv")) -- written at the interrupt
  assert.truthy(files.exists(b .. "/out.svg"))
  status, log = cli.run(args(b, {"-resume", table.unpack(extra)}))
  assert.are.equal(0, status, log)
  return a, b, stopped
end

describe("-resume", function()
  it("continues an interrupted Adam run to the same bytes and the same CSV", function()
    local a, b, stopped = both{"-num_iterations", "40"}
    assert.is_true(stopped < 40)
    assert.are.equal(files.read(a .. "/out.png"), files.read(b .. "/out.png"))
    assert.are.equal(files.read(a .. "/out.csv"), files.read(b .. "/out.csv"))
    assert_rows(b .. "/out.csv", 40)
    os.execute("rm -rf '" .. a .. "' '" .. b .. "'")
  end)

  it("continues an interrupted L-BFGS run to within one grey level", function()
    local a, b = both{"-num_iterations", "24", "-optimizer", "lbfgs"}
    local x, y = nst.image.load(a .. "/out.png"), nst.image.load(b .. "/out.png")
    assert.is_true((x - y):abs():max():item() <= 1 / 255 + 1e-6)
    assert_rows(b .. "/out.csv", 24)
    os.execute("rm -rf '" .. a .. "' '" .. b .. "'")
  end)

  it("refuses a state of another run, a broken one and a missing one", function()
    local dir = files.tmpdir()
    local status, log = cli.run(args(dir, {"-num_iterations", "4"}))
    assert.are.equal(0, status, log)
    local state = dir .. "/out.state.safetensors"
    status, log = cli.run(args(dir, {"-num_iterations", "8", "-resume", "-style_weight", "50", "-tv_weight", "0"}))
    assert.are.equal(1, status)
    assert.are.equal(("nst: resume: %s is the state of another run:\n"
      .. "  style_weight: the state has 100, this run 50\n  tv_weight: the state has 0.001, this run 0\n"):format(state), log)
    -- extending a finished run is fine
    status, log = cli.run(args(dir, {"-num_iterations", "6", "-resume"}))
    assert.are.equal(0, status, log)
    assert.are.equal(6, #csv_iterations(dir .. "/out.csv"))
    -- truncated
    local bytes = files.read(state)
    files.write(state, bytes:sub(1, #bytes // 2))
    status, log = cli.run(args(dir, {"-num_iterations", "8", "-resume"}))
    assert.are.equal(1, status)
    assert.truthy(log:find("nst: resume: " .. state .. " is not a usable nst run state: ", 1, true), log)
    -- not a state at all
    nst.safetensors.save(state, {x = nst.zeros(1)})
    status, log = cli.run(args(dir, {"-num_iterations", "8", "-resume"}))
    assert.are.equal(("nst: resume: %s is not a usable nst run state: it has no nst_state metadata\n"):format(state), log)
    os.remove(state)
    status, log = cli.run(args(dir, {"-num_iterations", "8", "-resume"}))
    assert.are.equal(1, status)
    assert.are.equal(("nst: resume: no saved state at %s (a run writes it at each checkpoint)\n"):format(state), log)
    files.rm_rf(dir)
  end)
end)
