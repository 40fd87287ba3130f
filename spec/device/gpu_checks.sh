#!/usr/bin/env bash
# The GPU machine's checks in one call (see the CUDA issue): CUDA specs, benchmarks side
# by side with ../shared/bench/torch_gatys.py (with a per-layer profile), CUDA vs CPU per
# precision and conv layout, and a full VGG19 transfer at 1024 px. Stages run in order
# of importance, each under its own timeout, and write to $OUT as they go, so a call cut
# short still brings back what finished.
#
# Expects (carried): build/nst/core.so and .device/ (Lua and busted .debs, core.so's
# libraries, the PyTorch peer, the VGG19 file), made here by spec/device/prepare.sh.
# Run with the device tool: carry [".device", "build/nst"], command
#   bash spec/device/gpu_checks.sh
# Stages: STAGES="spec newspecs bench512 precision bench2048 transfer graphcheck bench1024" (the default).
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
K=/tmp/luakit; mkdir -p $K /tmp/nstlib
for f in .device/debs/*.deb; do dpkg -x "$f" $K; done
tar -C /tmp/nstlib -xJf .device/lib/libs.tar.xz
export LD_LIBRARY_PATH=/tmp/nstlib:$K/usr/lib/x86_64-linux-gnu:/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
export LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;$K/usr/share/lua/5.4/?.lua;$K/usr/share/lua/5.4/?/init.lua;;"
export LUA_CPATH="build/?.so;$K/usr/lib/x86_64-linux-gnu/lua/5.4/?.so;;"
export NST_ORACLE_PYTHON=python3 NST_WEIGHTS=.device PYTHONUNBUFFERED=1
LUA=$K/usr/bin/lua5.4
STAGES=${STAGES:-"spec newspecs bench512 precision bench2048 transfer graphcheck bench1024"}
T0=$(date +%s)
log() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$OUT/timeline.txt"; }
{ nvidia-smi -L; $LUA -e 'local n=require"nst"; print("nst backends:", table.concat(n.backends(), " "), "cuda:", n.cuda_available(), n.cuda_device_name())'; } 2>&1 | tee "$OUT/info.txt"

# nst SIZE MODE LAYOUT [PROFILE_ITERS [GRAPH]]: one nst benchmark line (profile to
# bench_profile.txt; GRAPH 1 times replays of the iteration captured as a CUDA graph)
nst() {
  local it=30; [ "$1" -ge 2048 ] && it=10
  timeout 150 $LUA examples/benchmark.lua --device cuda --size "$1" --mode "$2" --layout "$3" \
    --iters $it --warmup 3 --profile "${4:-0}" --graph "${5:-0}" 2>>"$OUT/bench_profile.txt" | tail -1 | tee -a "$OUT/bench.jsonl"
}
# torch SIZE MODE: one PyTorch line
torch() {
  local it=30; [ "$1" -ge 2048 ] && it=10
  timeout 150 python3 .device/torch_gatys.py --device cuda --size "$1" --mode "$2" --iters $it \
    --warmup 3 2>&1 | tail -1 | tee -a "$OUT/bench.jsonl"
}

for stage in $STAGES; do log "stage $stage"; case $stage in
spec) # three processes: a device fault is sticky for its process
  for tags in "--tags=cuda --exclude-tags=nhwc,chain,graph" "--tags=nhwc" "--tags=chain" "--tags=graph"; do
    name=$(echo "$tags" | tr -c 'a-z\n' '_')
    timeout 150 $LUA $K/usr/bin/busted $tags -o TAP spec/cuda_spec.lua > "$OUT/cuda_spec$name.tap" 2>&1
    echo "cuda spec ($tags): $(grep -c '^ok' "$OUT/cuda_spec$name.tap") ok, $(grep -c '^not ok' "$OUT/cuda_spec$name.tap") not ok"
    grep -A6 '^not ok' "$OUT/cuda_spec$name.tap" | head -40
  done ;;
newspecs) # the newer op families' CUDA-vs-CPU specs (style moments/linalg/erode, video ops, masked runs)
  for f in spec/cuda_style_spec.lua spec/temporal_loss_spec.lua spec/masks_spec.lua; do
    name=$(basename "$f" .lua)
    timeout 120 $LUA $K/usr/bin/busted --tags=cuda -o TAP "$f" > "$OUT/$name.tap" 2>&1
    echo "$name (cuda): $(grep -c '^ok' "$OUT/$name.tap") ok, $(grep -c '^not ok' "$OUT/$name.tap") not ok"
    grep -A6 '^not ok' "$OUT/$name.tap" | head -30
  done ;;
bench512)
  torch 512 tf32; nst 512 tf32 nchw; nst 512 tf32 chain 10; nst 512 tf32 chain 0 1
  torch 512 bf16; nst 512 bf16 nchw; nst 512 bf16 nhwc; nst 512 bf16 chain 10; nst 512 bf16 chain 0 1
  torch 512 fp32; nst 512 fp32 nchw ;;
precision)
  timeout 150 $LUA spec/device/precision.lua 256 2>&1 | tee "$OUT/precision.txt" ;;
bench2048)
  torch 2048 bf16; nst 2048 bf16 chain 3
  torch 2048 tf32; nst 2048 tf32 chain ;;
bench1024)
  torch 1024 bf16; nst 1024 bf16 chain
  torch 1024 tf32; nst 1024 tf32 chain ;;
transfer) # LAYOUT=chain|nhwc|nchw|auto picks the conv layout of this stage and graphcheck
  timeout 150 $LUA -e 'require("nst").cuda_set_conv_layout(os.getenv("LAYOUT") or "auto")
  os.exit(require("nst.cli").main{"-content_image", "examples/images/leuven.jpg",
    "-style_image", "examples/images/starry_night.jpg", "-model", "vgg19", "-gpu", "0",
    "-image_size", "1024", "-num_iterations", "400", "-print_iter", "50",
    "-output_image", "'"$OUT"'/leuven_starry_1024.png"})' 2>&1 | tail -15 | tee "$OUT/transfer.txt" ;;
graphcheck) # the transfer loop with and without CUDA graph replays: same losses, speed
  for g in 0 1; do
    timeout 100 $LUA -e 'require("nst").cuda_set_conv_layout(os.getenv("LAYOUT") or "auto")
    os.exit(require("nst.cli").main{"-content_image", "examples/images/leuven.jpg",
      "-style_image", "examples/images/starry_night.jpg", "-model", "vgg19", "-gpu", "0",
      "-image_size", "512", "-num_iterations", "200", "-print_iter", "100", "-precision", "bf16",
      "-cuda_graph", "'$g'", "-seed", "1", "-output_image", "/tmp/graph'$g'.png"})' 2>&1 | tail -3 | tee -a "$OUT/graphcheck.txt"
  done ;;
esac; done
# Ratios: each nst line against the PyTorch line of the same size and mode.
[ -f "$OUT/bench.jsonl" ] && python3 - "$OUT/bench.jsonl" <<'PY' 2>&1 | tee "$OUT/ratios.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ref = {(r["size"], r["mode"]): r for r in rows if r["impl"].startswith("pytorch")}
for r in rows:
    t = ref.get((r["size"], r["mode"]))
    if r["impl"] == "nst" and t:
        print("%4d %s %-5s%s nst %8.3f ms (host %.3f) vs torch %8.3f ms: %.2fx faster; peak %d vs %d MiB"
              % (r["size"], r["mode"], r["layout"], " graph" if r.get("graph") else "", r["ms_per_iter"], r["host_ms"], t["ms_per_iter"],
                 t["ms_per_iter"] / r["ms_per_iter"], r["peak_mib"], t["peak_mib"]))
PY
log "done"
