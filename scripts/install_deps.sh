#!/usr/bin/env bash
# Installs everything mamba-explain needs on a fresh Debian 12 machine (run as root or with sudo).
# Idempotent: skips apt when every package is already installed.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config python3
  libtorch-dev libabsl-dev nlohmann-json3-dev libicu-dev libgtest-dev libgmock-dev
  # Debian's LibTorch calls the system BLAS; without this the alternatives point at the netlib
  # reference BLAS (unblocked loops). The OpenMP build shares LibTorch's libgomp pool.
  libopenblas0-openmp
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  prometheus-cpp-dev libcpp-httplib-dev chromium openssl libssl-dev curl
  libzip-dev  # explain --format npz (client/array_export.cc)
  prometheus  # promtool: deploy/tests/validate.sh (kubectl comes with this machine kind)
  wordnet-base  # the text demo model's corpus (tools/textlm, textlm_recipe_test)
  python3-grpcio python3-protobuf python3-numpy python3-pip python3-setuptools  # client/python
  clang libclang-rt-14-dev)  # libFuzzer and the sanitizer runtimes (tests/fuzz, scripts/sanitize.sh)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm (tokenizer parity reference): Debian's packages only when no node is present, so
# a machine with its own Node.js (e.g. NodeSource) keeps it.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
