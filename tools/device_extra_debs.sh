#!/usr/bin/env bash
# Adds to .device/debs (made by the GPU host's prepare.sh, a recipe kept outside this repository)
# the Debian packages our build needs beyond that recipe: ICU (tokenizer NFC + Unicode categories) and
# cpp-httplib with its brotli dependency (the HTTP gateway). Run here, before `run`.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)/.device/debs"
apt-get download libicu-dev libicu72 libcpp-httplib-dev libcpp-httplib0.11 libbrotli-dev \
  libbrotli1 >/dev/null
ls libicu* libcpp-httplib* libbrotli*
