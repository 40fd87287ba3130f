#!/usr/bin/env bash
# Prepares .device/ (ignored by git), the kit spec/device/gpu_checks.sh needs on the GPU
# machine, which has no Lua and cannot install anything: Lua and busted as Debian .debs
# (unpacked there with dpkg -x), the libraries core.so links besides CUDA's, the PyTorch
# peer and the real VGG19 file. Run here (root, Debian's archive reachable), from the
# repo root, after `make`:
#   bash spec/device/prepare.sh
# then, with the device tool: carry [".device", "build/nst"], command
#   STAGES="spec bench512 precision" LAYOUT=chain bash spec/device/gpu_checks.sh
set -eu
cd "$(dirname "$0")/../.."
kit=.device
mkdir -p "$kit/debs" "$kit/lib"
(cd "$kit/debs" && apt-get download -q lua5.4 liblua5.4-0 lua-busted lua-cliargs lua-dkjson \
  lua-filesystem lua-luassert lua-mediator lua-penlight lua-say lua-system lua-term >/dev/null)
libdir=/usr/lib/x86_64-linux-gnu
for l in libcjson.so.1 libjpeg.so.62 libpng16.so.16 libgfortran.so.5 libquadmath.so.0 libgomp.so.1; do
  cp -L "$libdir/$l" "$kit/lib/"
done
# OpenBLAS is the largest piece: compressed to stay inside the 64 MiB carry limit.
xz -c "$libdir/openblas-pthread/libopenblas.so.0" > "$kit/lib/libopenblas.so.0.xz"
cp ../shared/bench/torch_gatys.py ../shared/weights/vgg19-conv.f16.safetensors "$kit/"
[ -f build/nst/core.so ] || echo "prepare.sh: build/nst/core.so is missing: run make first" >&2
echo "prepare.sh: $(du -sh "$kit" | cut -f1) in $kit (carry it with build/nst: $(du -sh build/nst 2>/dev/null | cut -f1))"
