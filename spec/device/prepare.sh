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
# Every library core.so links (ldd), except CUDA's and the C/C++ runtime the GPU machine
# has: OpenBLAS, LAPACK, PNG, JPEG, cJSON and OpenCV with its own dependencies. Packed
# with xz (about 14 MB) to stay inside the 64 MiB carry limit beside VGG19 (40 MB).
[ -f build/nst/core.so ] || { echo "prepare.sh: build/nst/core.so is missing: run make first" >&2; exit 1; }
rm -rf "$kit/lib" && mkdir -p "$kit/lib/so"
ldd build/nst/core.so | awk '/=>/ {print $3}' \
  | grep -v -E 'cuda|/lib(c|m|dl|rt|pthread|stdc\+\+|gcc_s)\.so' \
  | while read -r l; do cp -L "$l" "$kit/lib/so/"; done
tar -C "$kit/lib/so" -cf - . | xz -6 -T2 > "$kit/lib/libs.tar.xz" && rm -rf "$kit/lib/so"
cp ../shared/bench/torch_gatys.py ../shared/weights/vgg19-conv.f16.safetensors "$kit/"
echo "prepare.sh: $(du -sh "$kit" | cut -f1) in $kit (carry it with build/nst: $(du -sh build/nst 2>/dev/null | cut -f1))"
