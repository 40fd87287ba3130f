-- The fuzz targets' inputs through the Lua loaders: every seed in spec/fuzz/corpus/ and
-- every file in spec/fuzz/regressions/ (inputs that once crashed a target or blew its
-- memory limit; see spec/fuzz/README.md) either loads or raises a Lua error whose message
-- names the file. A crash would take busted down with it. When clang is installed, the
-- libFuzzer targets themselves (ASan + UBSan, a per-malloc limit) replay the same files.
local nst = require("nst")

local FUZZ = "spec/fuzz/"
-- The limits the fuzz targets run with (LLVMFuzzerInitialize), so that an input behaves
-- here as it did there.
local LIMITS = {max_image_pixels = 1 << 22, max_tensor_bytes = 64 << 20}
-- Seeds that must be refused, and a word the message must hold; every other seed loads.
local REFUSED = {
  ["cmyk.jpg"] = "CMYK",
  ["mixed_meta.safetensors"] = "no elements", -- it holds a 0x3 tensor among good ones
}

local function listdir(d)
  local p = assert(io.popen("ls -A '" .. d .. "' 2>/dev/null"))
  local names = {}
  for l in p:lines() do names[#names + 1] = l end
  p:close()
  table.sort(names)
  return names
end

local function kind_of(name)
  if name:match("%.safetensors$") then return "safetensors" end
  if name:match("%.png$") or name:match("%.jpe?g$") then return "image" end
  return nil
end

-- Asserts that a pcall result is either success or an error naming path.
local function ok_or_names(path, ok, err)
  if ok then return true end
  assert.are.equal("string", type(err), path .. ": the error is not a string")
  assert.is_truthy(err:find(path, 1, true), "the error does not name the file: " .. err)
  return false
end

-- Loads path with the loaders of its kind; returns nil or the first error message.
local function load_checked(path, kind)
  if kind == "image" then
    local iok, info = pcall(nst.image.info, path)
    ok_or_names(path, iok, info)
    local ok, t = pcall(nst.image.load, path)
    if not ok_or_names(path, ok, t) then return t end
    local shape = t:shape()
    assert.are.equal(4, #shape)
    assert.are.same({1, 3}, {shape[1], shape[2]})
    assert.is_true(shape[3] * shape[4] <= LIMITS.max_image_pixels)
    if iok then assert.are.same({info.height, info.width}, {shape[3], shape[4]}) end
    t:close()
    return nil
  end
  local hok, header = pcall(nst.safetensors.header, path)
  ok_or_names(path, hok, header)
  local ok, tensors, meta = pcall(nst.safetensors.load, path)
  if not ok_or_names(path, ok, tensors) then return tensors end
  assert.is_true(hok, "load succeeded where header failed")
  assert.are.equal("table", type(meta))
  for name, t in pairs(tensors) do
    local h = header.tensors[name]
    assert.is_truthy(h, "tensor '" .. name .. "' not in the header")
    local n = 1
    for _, d in ipairs(h.shape) do n = n * d end
    assert.are.equal(n, t:numel())
    t:close()
  end
  return nil
end

describe("fuzz inputs through the Lua loaders", function()
  local saved
  setup(function()
    saved = nst.limits()
    nst.set_limits(LIMITS)
  end)
  teardown(function()
    nst.set_limits{max_image_pixels = saved.max_image_pixels,
                   max_tensor_bytes = saved.max_tensor_bytes}
  end)

  for _, sub in ipairs{"png", "jpeg", "safetensors"} do
    local dir = FUZZ .. "corpus/" .. sub .. "/"
    local names = listdir(dir)
    it("has seeds for " .. sub, function()
      assert.is_true(#names >= 3, dir .. " has " .. #names .. " files")
    end)
    for _, name in ipairs(names) do
      it("seed " .. sub .. "/" .. name .. (REFUSED[name] and " is refused cleanly" or " loads"),
        function()
          local err = load_checked(dir .. name, kind_of(name))
          if REFUSED[name] then
            assert.is_truthy(err, name .. " loaded but should be refused")
            assert.is_truthy(err:find(REFUSED[name], 1, true), err)
          else
            assert.is_nil(err)
          end
        end)
    end
  end

  local regressions = listdir(FUZZ .. "regressions")
  for _, name in ipairs(regressions) do
    it("regression " .. name .. " loads or fails with a message", function()
      local kind = kind_of(name)
      assert.is_truthy(kind, name .. ": name it *.png, *.jpg or *.safetensors")
      load_checked(FUZZ .. "regressions/" .. name, kind)
    end)
  end

  it("survives every seed truncated and bit-flipped", function()
    -- A cheap, deterministic taste of what the fuzzers do, through Lua.
    local tmp = os.tmpname()
    for _, sub in ipairs{"png", "jpeg", "safetensors"} do
      local dir = FUZZ .. "corpus/" .. sub .. "/"
      for _, name in ipairs(listdir(dir)) do
        local f = assert(io.open(dir .. name, "rb"))
        local s = f:read("a")
        f:close()
        local ext = name:match("%.[%w]+$")
        local path = tmp .. ext
        for _, cut in ipairs{#s // 2, #s - 1} do
          for _, flip in ipairs{0, 9, 17, 33} do
            local v = s:sub(1, cut)
            if flip > 0 and flip <= #v then
              v = v:sub(1, flip - 1) .. string.char(v:byte(flip) ~ 0x5a) .. v:sub(flip + 1)
            end
            local g = assert(io.open(path, "wb"))
            g:write(v)
            g:close()
            load_checked(path, kind_of(name))
          end
        end
        os.remove(path)
      end
    end
    os.remove(tmp)
  end)
end)

-- The libFuzzer targets replay the seeds and the regressions under ASan + UBSan with a
-- 256 MB limit on any single allocation (what once failed was a 1.7 GB malloc from an
-- 8 KB file). Builds build-fuzz/ with spec/fuzz/fuzz.mk first (incremental).
describe("fuzz targets #fuzz", function()
  local function sh(cmd)
    -- Without the ASan preload of `make asan`, which would break clang and the targets.
    local ok, _, code = os.execute("env -u LD_PRELOAD " .. cmd)
    return ok and code == 0
  end
  local have_clang = sh("sh -c 'command -v clang' >/dev/null 2>&1")

  it("replay the seeds and regressions without a sanitizer report", function()
    if not have_clang then
      pending("clang not installed")
      return
    end
    assert.is_true(sh("make -s -f spec/fuzz/fuzz.mk >/tmp/nst-fuzz-build.log 2>&1"),
      "building the fuzz targets failed: see /tmp/nst-fuzz-build.log")
    local for_target = {png = "%.png$", jpeg = "%.jpe?g$", safetensors = "%.safetensors$"}
    for target, pat in pairs(for_target) do
      local files = {}
      for _, name in ipairs(listdir(FUZZ .. "corpus/" .. target)) do
        files[#files + 1] = FUZZ .. "corpus/" .. target .. "/" .. name
      end
      for _, name in ipairs(listdir(FUZZ .. "regressions")) do
        if name:match(pat) then files[#files + 1] = FUZZ .. "regressions/" .. name end
      end
      local log = "/tmp/nst-fuzz-replay-" .. target .. ".log"
      local ok = sh("ASAN_OPTIONS=detect_leaks=1 OMP_NUM_THREADS=1 build-fuzz/fuzz_" .. target ..
                    " -rss_limit_mb=2048 -malloc_limit_mb=256 " .. table.concat(files, " ") ..
                    " >" .. log .. " 2>&1")
      assert.is_true(ok, "fuzz_" .. target .. " failed on a replayed input: see " .. log)
    end
  end)
end)
