-- The one atomic writer (src/io/atomic_file.c) behind nst.write_atomic, nst.image.save,
-- nst.safetensors.save and nst.plot: same temporary-name and permission rule, nothing
-- left behind on failure, an old file kept whole when the disk is full.
local nst = require("nst")
local files = require("helpers.files")

local BUILD = os.getenv("NST_BUILD") or "build"
local LUA = ("LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='%s/?.so;;' lua5.4"):format(BUILD)

-- Output of a shell command; the sorted names in a directory; a file's mode (octal).
local function sh(cmd) local p = io.popen(cmd .. " 2>&1"); local s = p:read("a"); p:close(); return s end
local function listdir(dir)
  local names = files.ls(dir)
  table.sort(names)
  return names
end
local function mode(path) return sh("stat -c %a '" .. path .. "'"):match("%d+") end

-- The error f(...) raises (it must raise).
local function err_of(f, ...) local ok, err = pcall(f, ...); assert.is_false(ok); return tostring(err) end

-- 0666 less the umask, as octal digits (what a plain new file gets).
local function new_file_mode(umask)
  local m = tonumber(umask, 8)
  return ("%o"):format(438 & ~m) -- 438 = 0666
end

describe("nst.write_atomic", function()
  local dir
  files.tmpdir_each(function(d) dir = d end)

  it("writes the bytes exactly and replaces an old file", function()
    local path = dir .. "/a.bin"
    local data = "\0\1\2" .. ("xyz"):rep(100000) .. "\255"
    nst.write_atomic(path, data)
    assert.are.equal(data, files.read(path))
    nst.write_atomic(path, "short")
    assert.are.equal("short", files.read(path))
    nst.write_atomic(path, "")
    assert.are.equal("", files.read(path))
    assert.are.same({"a.bin"}, listdir(dir))
  end)

  it("gives every writer the mode of a plain new file (0666 less the umask)", function()
    local umask = sh("umask"):match("%d+")
    local want = new_file_mode(umask)
    nst.write_atomic(dir .. "/a.txt", "x")
    nst.image.save(nst.rand(3, 4, 4), dir .. "/b.png")
    nst.image.save(nst.rand(3, 4, 4), dir .. "/c.jpg")
    nst.safetensors.save(dir .. "/d.safetensors", {t = nst.ones(3)})
    nst.plot.csv({style_layers = {}, {iteration = 1, content = 1, tv = 0, total = 1}}, dir .. "/e.csv")
    for _, name in ipairs {"a.txt", "b.png", "c.jpg", "d.safetensors", "e.csv"} do
      assert.are.equal(want, mode(dir .. "/" .. name), name)
    end
    -- and it follows the umask of the process
    local out = sh(("umask 027; %s -e 'require(\"nst\").write_atomic(\"%s\", \"y\")'"):format(
      LUA, dir .. "/f.txt"))
    assert.are.equal("", out)
    assert.are.equal("640", mode(dir .. "/f.txt"))
  end)

  it("names the path and the reason, and leaves nothing behind", function()
    assert.are.equal("write_atomic: " .. dir .. "/no/x.txt: cannot create a temporary file next to it: " ..
                     "No such file or directory", err_of(nst.write_atomic, dir .. "/no/x.txt", "x"))
    os.execute("mkdir '" .. dir .. "/d.txt'")
    assert.matches("^write_atomic: " .. dir .. "/d.txt: cannot replace it with the new file: ",
                   err_of(nst.write_atomic, dir .. "/d.txt", "x"))
    assert.are.same({"d.txt"}, listdir(dir))
    assert.matches("bad argument #2 to '[%w.]*write_atomic' %(string expected, got table%)",
                   err_of(nst.write_atomic, dir .. "/x", {}))
    assert.matches("bad argument #1", err_of(nst.write_atomic, nil, "x"))
  end)

  it("plot errors say nst.plot and the writer's reason", function()
    local h = {style_layers = {}, {iteration = 1, content = 1, tv = 0, total = 1}}
    assert.matches("^nst.plot: write_atomic: .*/no/h.csv: cannot create a temporary file",
                   err_of(nst.plot.csv, h, dir .. "/no/h.csv"))
  end)
end)

describe("atomic writes on a full disk", function()
  local dir, mounted
  setup(function()
    dir = files.tmpdir()
    -- needs root (CI and the test machines run as root); skipped elsewhere
    mounted = os.execute("mount -t tmpfs -o size=64k nst-full '" .. dir .. "' 2>/dev/null")
  end)
  teardown(function()
    if mounted then os.execute("umount '" .. dir .. "'") end
    files.rm_rf(dir)
  end)

  it("fails with ENOSPC and keeps the old file whole (write_atomic, image, safetensors)", function()
    if not mounted then
      pending("cannot mount a tmpfs here (not root)")
      return
    end
    files.write(dir .. "/a.bin", "old bytes")
    nst.manual_seed(1)
    nst.image.save(nst.rand(1, 3, 8, 8), dir .. "/b.png")
    nst.safetensors.save(dir .. "/c.safetensors", {t = nst.ones(4)})
    local before = {}
    for _, name in ipairs(listdir(dir)) do before[name] = files.read(dir .. "/" .. name) end

    local big = ("z"):rep(200 * 1024)
    assert.matches("a.bin: cannot write: No space left on device",
                   err_of(nst.write_atomic, dir .. "/a.bin", big))
    -- noise does not compress: about 140 KB of PNG
    assert.matches("No space left on device",
                   err_of(nst.image.save, nst.rand(1, 3, 220, 220), dir .. "/b.png"))
    assert.matches("c.safetensors: cannot write: No space left on device",
                   err_of(nst.safetensors.save, dir .. "/c.safetensors", {t = nst.ones(60000)}))

    assert.are.same({"a.bin", "b.png", "c.safetensors"}, listdir(dir))
    for name, bytes in pairs(before) do assert.are.equal(bytes, files.read(dir .. "/" .. name), name) end
    -- the space is free again: a small write succeeds
    nst.write_atomic(dir .. "/a.bin", "new")
    assert.are.equal("new", files.read(dir .. "/a.bin"))
  end)
end)
