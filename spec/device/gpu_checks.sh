#!/usr/bin/env bash
# The GPU machine's checks in one call (see the CUDA issue): CUDA specs, CUDA vs CPU per
# precision, benchmarks side by side with ../shared/bench/torch_gatys.py, and a full
# VGG19 transfer at 1024 px. Expects (carried): build/nst/core.so, .device/debs (Lua and
# busted .debs), .device/lib (core.so's libraries), .device/torch_gatys.py,
# .device/vgg19-conv.f16.safetensors. Results go to $OUT.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
K=/tmp/luakit; mkdir -p $K /tmp/nstlib
for f in .device/debs/*.deb; do dpkg -x "$f" $K; done
cp .device/lib/* /tmp/nstlib/ && xz -d -f /tmp/nstlib/libopenblas.so.0.xz
export LD_LIBRARY_PATH=/tmp/nstlib:$K/usr/lib/x86_64-linux-gnu:/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/lib/x86_64-linux-gnu
export LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;$K/usr/share/lua/5.4/?.lua;$K/usr/share/lua/5.4/?/init.lua;;"
export LUA_CPATH="build/?.so;$K/usr/lib/x86_64-linux-gnu/lua/5.4/?.so;;"
export NST_ORACLE_PYTHON=python3 NST_WEIGHTS=.device PYTHONUNBUFFERED=1
LUA=$K/usr/bin/lua5.4
STAGES=${STAGES:-"spec precision bench transfer"}
{ nvidia-smi -L; $LUA -e 'local n=require"nst"; print("nst backends:", table.concat(n.backends(), " "), "cuda:", n.cuda_available(), n.cuda_device_name())'; } 2>&1 | tee "$OUT/info.txt"

for stage in $STAGES; do case $stage in
spec)
  timeout 240 $LUA $K/usr/bin/busted --tags=cuda -o TAP spec/cuda_spec.lua > "$OUT/cuda_spec.tap" 2>&1
  echo "cuda spec: $(grep -c '^ok' "$OUT/cuda_spec.tap") ok, $(grep -c '^not ok' "$OUT/cuda_spec.tap") not ok"
  grep -A3 '^not ok' "$OUT/cuda_spec.tap" | head -40 ;;
precision)
  timeout 120 $LUA spec/device/precision.lua 256 2>&1 | tee "$OUT/precision.txt" ;;
bench)
  for S in ${SIZES:-512 1024 2048}; do for M in fp32 tf32 bf16; do
    it=30; [ "$S" = 2048 ] && it=10
    timeout 120 $LUA examples/benchmark.lua --device cuda --size $S --mode $M --iters $it --warmup 3 2>&1 | tail -1
    timeout 180 python3 .device/torch_gatys.py --device cuda --size $S --mode $M --iters $it --warmup 3 2>&1 | tail -1
  done; done | tee "$OUT/bench.jsonl" ;;
transfer)
  timeout 240 $LUA -e 'os.exit(require("nst.cli").main{"-content_image", "examples/images/leuven.jpg",
    "-style_image", "examples/images/starry_night.jpg", "-model", "vgg19", "-gpu", "0",
    "-image_size", "1024", "-num_iterations", "500", "-print_iter", "50",
    "-output_image", "'"$OUT"'/leuven_starry_1024.png"})' 2>&1 | tail -15 | tee "$OUT/transfer.txt" ;;
esac; done
