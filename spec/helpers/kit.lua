-- The spec helpers by short name, each loaded when first asked for, so that a spec that
-- runs nst as a process names what it uses in one line:
--   local h = require("helpers.kit")
--   local files, cli, tiny = h.files, h.cli, h.tiny
local MODULES = {
  files = "helpers.files",       -- read, write, tmpdirs
  cli = "helpers.cli_process",   -- nst as a separate process
  tiny = "helpers.tiny",         -- flags and images for short runs
  log = "helpers.log",           -- lines, grep and counts of its output
  frames = "helpers.frames",     -- synthetic video frames
  weights = "helpers.weights",   -- seeded VGG weights files
  slurm = "helpers.slurm",       -- the Slurm test cluster
}

return setmetatable({}, {
  __index = function(kit, name)
    local m = require(assert(MODULES[name], "helpers.kit has no helper " .. tostring(name)))
    rawset(kit, name, m)
    return m
  end,
})
