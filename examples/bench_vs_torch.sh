#!/usr/bin/env bash
# nst vs ../shared/bench/torch_gatys.py, side by side, interleaved REPS times per size
# (the machine's speed drifts; medians are reported).
# usage: examples/bench_vs_torch.sh [cpu|cuda] [sizes...]   (env: REPS, ITERS, THREADS, MODES, PEER,
#        LAYOUT: nst's CUDA conv layout, auto|nchw|nhwc|chain)
set -u
cd "$(dirname "$0")/.."
DEV=${1:-cpu}; shift || true
SIZES=${*:-256 512}
REPS=${REPS:-3} ITERS=${ITERS:-5} THREADS=${THREADS:-2}
PEER=${PEER:-../shared/bench/torch_gatys.py}
PY=${PY:-$( [ "$DEV" = cpu ] && echo /usr/bin/python3 || echo python3 )}
MODES=${MODES:-$( [ "$DEV" = cpu ] && echo fp32 || echo "fp32 tf32 bf16" )}
export LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;${LUA_PATH:-;}" LUA_CPATH="build/?.so;${LUA_CPATH:-;}"
export OMP_NUM_THREADS=$THREADS GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-1000}
ms() { grep -o '"ms_per_iter": [0-9.]*' | grep -o '[0-9.]*$'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for S in $SIZES; do for M in $MODES; do
  n=(); t=()
  for r in $(seq "$REPS"); do
    n+=("$(lua5.4 examples/benchmark.lua --device "$DEV" --size "$S" --mode "$M" --layout "${LAYOUT:-auto}" \
      --iters "$ITERS" --warmup 2 | ms)")
    t+=("$("$PY" "$PEER" --device "$DEV" --threads "$THREADS" --size "$S" --mode "$M" --iters "$ITERS" --warmup 2 | ms)")
  done
  nm=$(printf '%s\n' "${n[@]}" | median); tm=$(printf '%s\n' "${t[@]}" | median)
  echo "$DEV size $S $M: nst ${n[*]} ms, pytorch ${t[*]} ms; medians $nm vs $tm: nst is $(awk "BEGIN {printf \"%.2f\", $tm / $nm}")x faster"
done; done
