#!/usr/bin/env bash
# The Python client (client/python) against the real mamba-explaind on 127.0.0.1: pip builds and
# installs it from the repository (stubs generated from proto/ at build time) into a temporary
# directory, then check_client.py compares its NumPy results with the C++ client's JSON for the
# same requests, checks streaming order and error mapping.
# usage: python_client_test.sh MAMBA_EXPLAIND MAMBA_EXPLAIN
set -u
server_bin=$1
client_bin=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../..
source "$root/tests/e2e/lib.sh"
# Debian's interpreter has python3-grpcio / python3-numpy; a pyenv python3 earlier on PATH may not.
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
if ! $py -c 'import grpc, numpy, google.protobuf' 2>/dev/null; then
  echo "python3-grpcio, python3-numpy or python3-protobuf missing (scripts/install_deps.sh)"
  exit 1
fi
# Build from a copy so the checkout stays clean (setup.py writes the generated stubs).
cp -r "$root/client/python" "$tmp/pkg"
if MAMBA_EXPLAIN_PROTO_DIR="$root/proto" $py -m pip install --quiet --no-build-isolation --no-deps \
    --no-index --target "$tmp/site" "$tmp/pkg" >"$tmp/pip.log" 2>&1; then
  ok "pip install ./client/python (stubs generated from proto/)"
else
  bad "pip install: $(tail -c 800 "$tmp/pip.log")"
  finish
fi
repo=$tmp/repo
mkdir -p "$repo"
cp -r "$root/tests/fixtures/mamba1_bias_tied" "$repo/m1"
cp -r "$root/tests/fixtures/mamba2_g1" "$repo/m2"
start_server s --model_repository "$repo" --plaintext || finish
addr=127.0.0.1:$s_port
for m in m1 m2; do
  "$client_bin" explain --server "$addr" --model $m --ids 1,5,7,9,11,13 \
    --method latim-l2,latim-alti-logit,grad-x-input,rollout,mamba-attribution \
    --json "$tmp/cpp_$m.json" --quiet 2>"$tmp/err" || bad "C++ client $m: $(cat "$tmp/err")"
  "$client_bin" explain --server "$addr" --model $m --ids 1,5,7,9,11,13 --method latim-l1 \
    --rows last --top-k 2 --json "$tmp/cpp_sparse_$m.json" --quiet 2>"$tmp/err" ||
    bad "C++ client sparse $m: $(cat "$tmp/err")"
done
"$client_bin" methods --json "$tmp/methods.json" || bad "mamba-explain methods --json"
if PYTHONPATH="$tmp/site" $py "$here/check_client.py" "$addr" "$tmp"; then
  ok "Python client == C++ client (dense and top-k), streaming order, errors, method catalogue"
else
  bad "check_client.py"
fi
finish
