#!/bin/sh
# Fetches torchvision's ImageNet VGG16 / VGG19 weights and converts their convolution
# layers (features.*) to safetensors for nst. Used by `make weights`.
#
#   weights/fetch.sh [vgg16|vgg19|all]          download, verify, convert (default: all)
#   weights/fetch.sh convert SRC.pth DST.safetensors vgg16|vgg19
#                                               convert a state dict you already have
#   weights/fetch.sh caffe SRC.caffemodel DST.safetensors vgg16|vgg19
#                                               convert a Caffe model (neural-style's)
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

# convert KIND SRC DST ARCH: weights/convert.py (torch for .pth, protobuf for .caffemodel)
convert() {
  [ -x "$python" ] || die "no $python: install python3-torch, or convert elsewhere (see weights/README.md)"
  "$python" "$here/convert.py" "$@" || exit 1
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
  "$python" -c 'import torch' 2>/dev/null ||
    die "$python cannot import torch: install python3-torch (Debian) to convert $pth"
  convert pth "$here/$pth" "$out" "$1"
}

case "${1:-all}" in
convert)
  [ $# -eq 4 ] || die "usage: fetch.sh convert SRC.pth DST.safetensors vgg16|vgg19"
  convert pth "$2" "$3" "$4"
  ;;
caffe)
  [ $# -eq 4 ] || die "usage: fetch.sh caffe SRC.caffemodel DST.safetensors vgg16|vgg19"
  convert caffe "$2" "$3" "$4"
  ;;
all)
  fetch vgg16
  fetch vgg19
  ;;
*)
  fetch "$1"
  ;;
esac
