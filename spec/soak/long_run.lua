-- Soak check (not a spec: minutes long): a small transfer run for many iterations, with
-- the resident memory printed as it goes; it must stay flat.
-- usage: lua5.4 spec/soak/long_run.lua [iterations=10000] [size=64]
local nst = require("nst")
local rss_mib = require("helpers.files").rss_mib
local N, S = tonumber(arg[1]) or 10000, tonumber(arg[2]) or 64

local marks, t0 = {}, nst.clock()
local _, history = nst.transfer{
  content_image = "examples/images/leuven.jpg", style_images = {"examples/images/starry_night.jpg"},
  model = "vgg19", image_size = S, num_iterations = N, print_iter = 0, record_every = 100,
  on_iter = function(it)
    if it == 10 or it == 100 or it % 1000 == 0 then
      marks[#marks + 1] = {it, rss_mib()}
      print(("iteration %6d  resident %.1f MiB  %.1f s"):format(it, rss_mib(), nst.clock() - t0))
      io.stdout:flush()
    end
  end,
}
local first, last = marks[2][2], marks[#marks][2]
print(("resident memory at iteration %d: %.1f MiB, at %d: %.1f MiB (%+.1f MiB); loss %.4g -> %.4g")
  :format(marks[2][1], first, marks[#marks][1], last, last - first, history[1].total, history[#history].total))
os.exit(last - first < 20 and 0 or 1)
