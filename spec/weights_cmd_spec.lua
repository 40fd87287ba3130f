-- The weights of a run through the command line: the model from the weights file (its
-- metadata, else its tensors), an explicit -model that contradicts it, the installed
-- weights used without -model_file (VGG16 first), and `nst weights list | add |
-- download | convert` with their exact messages. Each case runs nst as a process with
-- its own HOME, so the per-user store is a temporary folder.
local nst = require("nst")
local files = require("helpers.files")
local cli = require("helpers.cli_process")
local weights = require("helpers.weights")

local q = cli.quote
local ROOT = os.getenv("PWD")
local function abs(p) return p:sub(1, 1) == "/" and p or ROOT .. "/" .. p end

describe("nst's weights", function()
  local dir, home, store
  before_each(function()
    dir = files.tmpdir()
    home = dir .. "/home"
    store = home .. "/.local/share/nst/weights"
    assert(os.execute("mkdir -p " .. q(home) .. " " .. q(dir .. "/work")))
  end)
  after_each(function() os.execute("rm -rf " .. q(dir)) end)

  -- nst args, run from dir/work with HOME=home (env: more VAR=value words): status, output
  local function run(args, env)
    local cmd = ("cd %s && env -u XDG_DATA_HOME -u NST_WEIGHTS HOME=%s %s %s 2>&1; echo \"status $?\"")
      :format(q(dir .. "/work"), q(home), env or "", cli.command(args))
    local p = io.popen(cmd)
    local out = p:read("a")
    p:close()
    return tonumber(out:match("status (%d+)%s*$")), (out:gsub("status %d+%s*$", ""))
  end

  local function transfer(extra)
    local a = {"-content_image", abs("examples/images/leuven.jpg"), "-style_image", abs("examples/images/starry_night.jpg"),
               "-gpu", "-1", "-image_size", "32", "-num_iterations", "1", "-print_iter", "0",
               "-output_image", dir .. "/o.png"}
    for _, v in ipairs(extra) do a[#a + 1] = v end
    return a
  end

  local function csv_header() return files.read(dir .. "/o.csv"):match("^[^\n]*") end

  it("takes the model from the file's metadata, else its tensors; a contradicting -model is an error", function()
    local real = abs(weights.vgg19_real())
    local status, log = run(transfer{"-model_file", real})
    assert.are.equal(0, status, log)
    -- VGG19's default layers (content relu4_2, style relu1_1 ... relu5_1)
    assert.are.equal("iteration,content,style_relu1_1,style_relu2_1,style_relu3_1,style_relu4_1,style_relu5_1,tv,total",
                     csv_header())
    status, log = run(transfer{"-model", "vgg16", "-model_file", real})
    assert.are.equal(1, status)
    assert.are.equal(("nst: -model vgg16 contradicts the weights file %s, which is vgg19 (its metadata); drop -model "
      .. "or give vgg16 weights\n"):format(real), log)
    -- no metadata arch: the tensors tell (VGG16 has a conv at features.17)
    local t = nst.safetensors.load(weights.vgg("vgg16"))
    local bare = dir .. "/bare16.safetensors"
    nst.safetensors.save(bare, t, {layout = "torchvision"})
    status, log = run(transfer{"-model_file", bare})
    assert.are.equal(0, status, log)
    assert.are.equal("iteration,content,style_relu1_2,style_relu2_2,style_relu3_3,style_relu4_3,tv,total", csv_header())
    status, log = run(transfer{"-model", "vgg19", "-model_file", bare})
    assert.are.equal(("nst: -model vgg19 contradicts the weights file %s, which is vgg16 (its tensors); drop -model "
      .. "or give vgg19 weights\n"):format(bare), log)
    -- the first 4 convolutions are the same in both: -model says which
    local prefix = dir .. "/prefix.safetensors"
    nst.safetensors.save(prefix, nst.safetensors.load(weights.vgg("vgg16", nil, {layers = 4})), {})
    status, log = run(transfer{"-model_file", prefix, "-content_layers", "relu2_2", "-style_layers", "relu1_2"})
    assert.are.equal(1, status)
    assert.are.equal(("nst: %s: cannot tell VGG16 from VGG19: its tensors are the same in VGG16 and VGG19 and it has "
      .. "no metadata arch; say which with -model\n"):format(prefix), log)
    status, log = run(transfer{"-model", "vgg16", "-model_file", prefix, "-content_layers", "relu2_2",
                               "-style_layers", "relu1_2"})
    assert.are.equal(0, status, log)
    status, log = run(transfer{"-model_file", dir .. "/none.safetensors"})
    assert.are.equal(("nst: weights file not found: %s/none.safetensors (-model_file; see `nst weights list` for "
      .. "the installed ones)\n"):format(dir), log)
  end)

  it("adds a checked file to the store atomically and uses VGG16 from there without -model_file", function()
    local w16 = weights.vgg("vgg16")
    local status, log = run({"weights", "add", w16})
    assert.are.equal(0, status, log)
    assert.are.equal(("nst weights: added %s/vgg16.safetensors: vgg16, F32, 58.9 MB, preprocess torchvision\n")
      :format(store), log)
    assert.are.same({"vgg16.safetensors"}, files.ls(store)) -- no temporary file left
    assert.are.equal(files.read(w16), files.read(store .. "/vgg16.safetensors"))
    status, log = run({"weights", "add", w16})
    assert.are.equal(1, status)
    assert.are.equal(("nst weights: %s/vgg16.safetensors is already there; -force replaces it\n"):format(store), log)
    assert.are.equal(0, (run({"weights", "add", w16, "-force"})))

    -- a run without -model_file: VGG16 from the store, ahead of the source tree's VGG19
    status, log = run(transfer{"-content_layers", "relu2_2", "-style_layers", "relu1_2"})
    assert.are.equal(0, status, log)
    assert.truthy(log:find(("nst: using vgg16 weights %s/vgg16.safetensors (-model_file to choose)\n"):format(store),
                           1, true), log)
    status, log = run({"weights", "list"})
    assert.are.equal(0, status, log)
    assert.truthy(log:find("  $NST_WEIGHTS         (unset)\n", 1, true), log)
    assert.truthy(log:find(("  the user's store     %s\n"):format(store), 1, true), log)
    assert.truthy(log:find(("  vgg16  F32     58.9 MB  preprocess torchvision %s/vgg16.safetensors\n"):format(store),
                           1, true), log)
    assert.truthy(log:find(("a run without -model_file uses vgg16: %s/vgg16.safetensors\n"):format(store), 1, true), log)
    -- $NST_WEIGHTS (a file) comes first
    local real = abs(weights.vgg19_real())
    status, log = run({"weights", "list"}, "NST_WEIGHTS=" .. q(real))
    assert.truthy(log:find(("  $NST_WEIGHTS         %s\n"):format(real), 1, true), log)
    status, log = run(transfer{"-model", "vgg19", "-content_layers", "relu2_1", "-style_layers", "relu1_1"},
                      "NST_WEIGHTS=" .. q(real))
    assert.are.equal(0, status, log)
    assert.truthy(log:find(("nst: using vgg19 weights %s (-model_file to choose)\n"):format(real), 1, true), log)
  end)

  it("refuses a file that is not whole VGG weights, and leaves the store as it was", function()
    local part = weights.vgg("vgg16", nil, {layers = 4})
    local status, log = run({"weights", "add", part})
    assert.are.equal(1, status)
    assert.are.equal(("nst weights: %s: vgg16 weights without 'features.10.weight' (conv 5 of 13)\n"):format(part), log)
    local junk = dir .. "/junk.safetensors"
    files.write(junk, "not a safetensors file at all")
    status, log = run({"weights", "add", junk})
    assert.are.equal(1, status)
    assert.truthy(log:match("^nst weights: [^\n]*junk%.safetensors[^\n]*\n$"), log)
    status, log = run({"weights", "add", dir .. "/none.safetensors"})
    assert.are.equal(("nst weights: %s/none.safetensors: no such file\n"):format(dir), log)
    assert.is_false(files.exists(store .. "/vgg16.safetensors"))
    status, log = run({"weights", "frobnicate"})
    assert.are.equal(2, status)
    assert.are.equal("nst weights: unknown command 'frobnicate' (list, add, download, convert; see nst weights --help)\n",
                     log)
  end)

  it("download: a clear one-line error offline or on a bad file, and no partial file", function()
    local status, log = run({"weights", "download", "vgg16"}, "NST_WEIGHTS_URL=http://127.0.0.1:9")
    assert.are.equal(1, status)
    assert.truthy(log:match("^nst weights: downloading http://127%.0%.0%.1:9/vgg16%-397923af%.pth\n"
      .. "nst weights: cannot download http://127%.0%.0%.1:9/vgg16%-397923af%.pth %(offline%?%): curl: %(7%) [^\n]*; on a "
      .. "machine that is online run `nst weights download vgg16` and copy the file here with `nst weights add FILE`\n$"),
      log)
    assert.are.same({}, files.ls(store))
    -- a file that is not torchvision's: its sha256 prefix differs
    files.write(dir .. "/vgg19-dcbb9e9d.pth", "not the weights")
    status, log = run({"weights", "download", "vgg19"}, "NST_WEIGHTS_URL=file://" .. q(dir))
    assert.are.equal(1, status)
    local sum = io.popen("sha256sum " .. q(dir .. "/vgg19-dcbb9e9d.pth")):read("a"):sub(1, 8)
    assert.truthy(log:find(("nst weights: file://%s/vgg19-dcbb9e9d.pth: sha256 starts with %s, expected dcbb9e9d "
      .. "(a corrupt download, removed; run again)\n"):format(dir, sum), 1, true), log)
    assert.are.same({}, files.ls(store))
    status, log = run({"weights", "download", "vgg11"})
    assert.are.equal(2, status)
    assert.are.equal("nst weights: download: expected vgg16 or vgg19, got 'vgg11'\n", log)
  end)

  it("convert: a torchvision .pth into the store, checked, with the same numbers", function()
    -- a VGG16 state dict of seeded random tensors (torchvision's names and shapes)
    local pth = dir .. "/vgg16-test.pth"
    local ok, out = (function()
      local p = io.popen(("/usr/bin/python3 -c %s %s 2>&1"):format(q([[
import sys, torch
torch.manual_seed(0)
idx = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
out = [64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
sd, cin = {}, 3
for i, o in zip(idx, out):
    sd["features.%d.weight" % i] = torch.randn(o, cin, 3, 3) * 0.01
    sd["features.%d.bias" % i] = torch.randn(o)
    cin = o
torch.save(sd, sys.argv[1])
print("%.6f %.6f" % (sd["features.0.weight"].double().sum(), sd["features.28.bias"].double().sum()))
]]), q(pth)))
      local text = p:read("a")
      return p:close(), text
    end)()
    assert.truthy(ok, out)
    local w0, b28 = out:match("^(%S+) (%S+)")
    local status, log = run({"weights", "convert", pth})
    assert.are.equal(0, status, log)
    assert.truthy(log:find(("nst weights: %s/vgg16.safetensors: vgg16, F32, 58.9 MB, preprocess torchvision\n")
      :format(store), 1, true), log)
    assert.are.same({"vgg16.safetensors"}, files.ls(store)) -- the temporary file renamed, nothing else
    local t = nst.safetensors.load(store .. "/vgg16.safetensors")
    assert.is_true(math.abs(t["features.0.weight"]:sum():item() - tonumber(w0)) < 1e-4)
    assert.is_true(math.abs(t["features.28.bias"]:sum():item() - tonumber(b28)) < 1e-3)
  end)

  it("convert: a one-line reason, never a traceback, on a bad file; no output left", function()
    files.write(dir .. "/vgg16-bad.pth", "this is no pickle")
    local status, log = run({"weights", "convert", dir .. "/vgg16-bad.pth"})
    assert.are.equal(1, status)
    assert.truthy(log:match(("^nst weights: cannot convert %s/vgg16%%-bad%%.pth: [^\n]+\n$"):format(dir:gsub("%p", "%%%0"))),
                  log)
    assert.is_nil(log:find("Traceback", 1, true))
    assert.are.same({}, files.ls(store))
    files.write(dir .. "/model.caffemodel", "\255\255\255 no protobuf")
    status, log = run({"weights", "convert", dir .. "/model.caffemodel", "vgg19", dir .. "/out.safetensors"})
    assert.are.equal(1, status)
    assert.truthy(log:match("^nst weights: cannot convert [^\n]+model%.caffemodel: [^\n]+\n$"), log)
    assert.is_nil(log:find("Traceback", 1, true))
    assert.are.same({"home", "model.caffemodel", "vgg16-bad.pth", "work"}, files.ls(dir))
    status, log = run({"weights", "convert", dir .. "/model.caffemodel"})
    assert.are.equal(2, status)
    assert.are.equal(("nst weights: convert: %s/model.caffemodel: say vgg16 or vgg19 after the file (its name "
      .. "does not)\n"):format(dir), log)
  end)
end)
