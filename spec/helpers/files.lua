-- Small file helpers shared by the specs.
local files = {}

function files.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

function files.write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

function files.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- A new empty directory under /tmp.
function files.tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p '" .. d .. "'"))
  return d
end

-- Removes a folder and everything in it.
files.rm_rf = require("nst.fs").remove_tree

-- In the describe block it is called from: a new empty directory for each test, handed to
-- with(dir) before the test (to keep it, and to fill it) and removed after it.
function files.tmpdir_each(with)
  local busted = require("busted")
  local dir
  busted.before_each(function()
    dir = files.tmpdir()
    with(dir)
  end)
  busted.after_each(function() if dir then files.rm_rf(dir) end end)
end

-- The names in a folder (dot-files too), as ls gives them.
function files.ls(dir)
  local p = io.popen("ls -1A '" .. dir .. "'")
  local names = {}
  for l in p:lines() do names[#names + 1] = l end
  p:close()
  return names
end

-- Resident memory of this process in MiB.
function files.rss_mib() return require("nst.fs").memory_mib("VmRSS") end

return files
