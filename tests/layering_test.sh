#!/usr/bin/env bash
# The layers of docs/architecture.md, checked on the sources (the CMake libraries enforce what
# links; this also catches a header-only wrong-way include, which links fine):
#   - src/mamba, src/kernels, src/model, src/common include nothing from the layers above them;
#     src/attribution nothing from explain/serving/eval; src/explain nothing from serving/eval;
#   - src/ includes nothing from tools/, client/ or server/;
#   - src/model, src/common, src/serving, server/ and the torch-free parts of attribution and
#     explain include no LibTorch header;
#   - no method name string literal outside the catalogue (src/attribution/methods.cc), the tests
#     and the docs: every other C++ file spells methods through Method / MethodName.
# usage: layering_test.sh REPO_ROOT
set -u
root=$1
cd "$root" || exit 2
fail=0
cxx() { find "$@" -type f \( -name '*.cc' -o -name '*.h' -o -name '*.cu' \) 2>/dev/null | sort; }
forbid_include() {  # DESCRIPTION REGEX DIR...
  local what=$1 re=$2
  shift 2
  local hits
  hits=$(cxx "$@" | xargs -r grep -HnE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"<]$re")
  if [ -n "$hits" ]; then
    echo "FAIL $what:"
    echo "$hits"
    fail=1
  else
    echo "ok   $what"
  fi
}
forbid_include "src/{mamba,kernels,model,common} include no upper layer" \
  '(attribution|explain|serving|eval|sparse)/' src/mamba src/kernels src/model src/common
forbid_include "src/attribution includes no explain/serving/eval" '(explain|serving|eval)/' \
  src/attribution
forbid_include "src/explain includes no serving/eval" '(serving|eval)/' src/explain
forbid_include "src/ includes nothing from tools/, client/ or server/" '(tools|client|server)/' src
forbid_include "torch-free layers include no LibTorch" '(torch|ATen|c10)/' src/model src/common \
  src/serving server src/attribution/methods.h src/attribution/methods.cc \
  src/attribution/attribution_types.h src/attribution/attribution_types.cc \
  src/explain/explain_request.h src/explain/explain_request.cc
# Method names: the second line of every catalogue entry, `{Method::kX,` then `"name",`.
names=$(awk '/\{Method::k/ {getline; if (match($0, /"[a-z0-9-]+"/)) print substr($0, RSTART + 1, RLENGTH - 2)}' \
  src/attribution/methods.cc)
if [ "$(echo "$names" | wc -l)" -lt 10 ]; then
  echo "FAIL could not read the method names from src/attribution/methods.cc"
  exit 1
fi
re=$(echo "$names" | paste -sd'|')
hits=$(cxx src server client tools bench | grep -v '^src/attribution/methods\.cc$' |
  xargs -r grep -HnE "\"($re)\"" |
  awk -F: '{line=$0; sub(/^[^:]+:[0-9]+:/, "", line); sub(/\/\/.*$/, "", line); if (line ~ /"('"$re"')"/) print $0}')
if [ -n "$hits" ]; then
  echo "FAIL method name literals outside the catalogue (use Method / MethodName):"
  echo "$hits"
  fail=1
else
  echo "ok   no method name literal outside the catalogue, tests and docs"
fi
exit $fail
