#!/usr/bin/env bash
# The test command: installs dependencies (apt, npm), builds, runs the whole ctest suite.
# GPU tests (label gpu) skip cleanly on machines without CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
(cd tests/tokenizer && [ -d node_modules ] || npm ci --silent --no-audit --no-fund)
(cd deploy/tests && [ -d node_modules ] || npm ci --silent --no-audit --no-fund --loglevel=error)
(cd tests/web && [ -d node_modules ] || npm ci --silent --no-audit --no-fund --loglevel=error)
bash scripts/build.sh
cd build && ctest --output-on-failure -j"$(nproc)" "$@"
