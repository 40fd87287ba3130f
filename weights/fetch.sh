#!/bin/sh
# Fetches torchvision's ImageNet VGG16 / VGG19 weights and converts their convolution
# layers (features.*) to safetensors for nst. Used by `make weights`.
#
#   weights/fetch.sh [vgg16|vgg19|all]          download, verify, convert (default: all)
#   weights/fetch.sh convert SRC.pth DST.safetensors vgg16|vgg19
#                                               convert a state dict you already have
#
# Writes weights/vgg16.safetensors and weights/vgg19.safetensors (float32, tensor names
# features.N.weight / features.N.bias, __metadata__ arch, layout=torchvision,
# preprocess=torchvision). The .pth downloads stay in weights/ (git ignores both).
#
# Verification: torchvision names each file after the first 8 hex digits of its sha256
# (vgg16-397923af.pth); like torchvision's own check_hash, this script compares that
# prefix with sha256sum. The full sha256 is not published alongside the files.
#
# Environment: NST_WEIGHTS_URL overrides the base URL (a mirror; default
# https://download.pytorch.org/models), PYTHON the interpreter with torch
# (default /usr/bin/python3).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
base_url=${NST_WEIGHTS_URL:-https://download.pytorch.org/models}
python=${PYTHON:-/usr/bin/python3}

die() {
  echo "fetch.sh: $*" >&2
  exit 1
}

# convert SRC DST ARCH: torch + json + struct only, so no safetensors package is needed.
convert() {
  [ -x "$python" ] || die "no $python: install python3-torch, or convert elsewhere (see weights/README.md)"
  "$python" -c 'import torch' 2>/dev/null ||
    die "$python cannot import torch: install python3-torch (Debian) to convert $1"
  "$python" - "$1" "$2" "$3" <<'EOF'
import json, os, struct, sys
import torch

src, dst, arch = sys.argv[1:4]
expected = {"vgg16": 26, "vgg19": 32}
if arch not in expected:
    sys.exit("convert: arch must be vgg16 or vgg19, got %r" % arch)
try:
    sd = torch.load(src, map_location="cpu", weights_only=True)  # no pickled code
except TypeError:  # torch < 1.13
    sd = torch.load(src, map_location="cpu")
if isinstance(sd, dict) and "state_dict" in sd:
    sd = sd["state_dict"]
if not isinstance(sd, dict):
    sys.exit("convert: %s does not hold a state dict" % src)
names = sorted((k for k in sd if k.startswith("features.")),
               key=lambda k: (int(k.split(".")[1]), k))
if len(names) != expected[arch]:
    sys.exit("convert: %s has %d features.* tensors, %s needs %d"
             % (src, len(names), arch, expected[arch]))
header = {"__metadata__": {"arch": arch, "layout": "torchvision",
                           "preprocess": "torchvision"}}
blobs, off = [], 0
for k in names:
    t = sd[k].detach().to(torch.float32).contiguous().reshape(-1)
    b = struct.pack("<%df" % t.numel(), *t.tolist())
    header[k] = {"dtype": "F32", "shape": list(sd[k].shape),
                 "data_offsets": [off, off + len(b)]}
    blobs.append(b)
    off += len(b)
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-(8 + len(h)) % 8)  # align the data section to 8 bytes
tmp = dst + ".tmp"
with open(tmp, "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    for b in blobs:
        f.write(b)
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, dst)
print("fetch.sh: wrote %s (%d tensors, %d bytes of float32)" % (dst, len(names), off))
EOF
}

download() { # URL DST
  tmp="$2.part"
  rm -f "$tmp"
  if command -v curl >/dev/null 2>&1; then
    curl -fL --connect-timeout 20 --retry 2 -o "$tmp" "$1" || { rm -f "$tmp"; return 1; }
  elif command -v wget >/dev/null 2>&1; then
    wget -q -T 20 -O "$tmp" "$1" || { rm -f "$tmp"; return 1; }
  else
    die "neither curl nor wget is installed; put the weights in weights/ yourself, see weights/README.md"
  fi
  mv "$tmp" "$2"
}

fetch() { # ARCH
  case "$1" in
  vgg16) pth=vgg16-397923af.pth ;;
  vgg19) pth=vgg19-dcbb9e9d.pth ;;
  *) die "unknown model '$1' (vgg16, vgg19 or all)" ;;
  esac
  out="$here/$1.safetensors"
  if [ -s "$out" ]; then
    echo "fetch.sh: $out already there"
    return 0
  fi
  if [ ! -s "$here/$pth" ]; then
    echo "fetch.sh: downloading $base_url/$pth"
    download "$base_url/$pth" "$here/$pth" ||
      die "cannot download $base_url/$pth: offline? Put the weights in weights/ yourself, see weights/README.md"
  fi
  want=$(echo "$pth" | sed 's/^.*-\([0-9a-f]*\)\.pth$/\1/')
  got=$(sha256sum "$here/$pth" | cut -c1-${#want})
  if [ "$got" != "$want" ]; then
    rm -f "$here/$pth"
    die "$pth: sha256 starts with $got, expected $want (corrupt download, removed; run again)"
  fi
  echo "fetch.sh: $pth sha256 prefix $want verified"
  convert "$here/$pth" "$out" "$1"
}

case "${1:-all}" in
convert)
  [ $# -eq 4 ] || die "usage: fetch.sh convert SRC.pth DST.safetensors vgg16|vgg19"
  convert "$2" "$3" "$4"
  ;;
all)
  fetch vgg16
  fetch vgg19
  ;;
*)
  fetch "$1"
  ;;
esac
