#!/usr/bin/env bash
# The metrics endpoint degrades clearly: when /metrics cannot start (its port is taken by another
# server's /metrics), mamba-explaind logs an ERROR naming the address, reports metrics_port=-1
# and keeps serving gRPC (health SERVING, ListModels); with --metrics_required it exits non-zero
# instead. Synthetic backend: no model compute.
# usage: metrics_degrade_test.sh MAMBA_EXPLAIND MAMBA_EXPLAIN
set -u
server_bin=$1
client_bin=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

srepo=$tmp/srepo
mkdir -p "$srepo/m"
cp "$here/../fixtures/mamba1_bias_tied/config.json" "$srepo/m/"
start_server first --model_repository "$srepo" --plaintext --backend synthetic ||
  { bad "first server"; finish; }
[ "${first_mport:--1}" -gt 0 ] && ok "first server serves metrics" || bad "first metrics port"

# A second server asks for the same metrics port.
"$server_bin" --host 127.0.0.1 --port 0 --metrics_address 127.0.0.1 --metrics_port "$first_mport" \
  --model_repository "$srepo" --plaintext --backend synthetic >"$tmp/second.log" 2>&1 &
pids+=("$!")
for _ in $(seq 1 300); do grep -q "grpc_port=" "$tmp/second.log" && break; sleep 0.1; done
port=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$tmp/second.log" | head -1)
if [ -n "$port" ] && grep -q "metrics_port=-1" "$tmp/second.log" &&
  grep -q "ERROR: cannot serve metrics on 127.0.0.1:$first_mport" "$tmp/second.log"; then
  ok "port taken: error logged, metrics_port=-1, server up"
else
  bad "port taken: $(head -c 600 "$tmp/second.log")"
fi
if [ -n "$port" ] && "$client_bin" health --server "127.0.0.1:$port" | grep -q "^SERVING" &&
  "$client_bin" models --server "127.0.0.1:$port" | grep -q '"m"'; then
  ok "gRPC still served without metrics"
else
  bad "gRPC without metrics"
fi

# --metrics_required: the same situation is fatal.
if timeout 60 "$server_bin" --host 127.0.0.1 --port 0 --metrics_address 127.0.0.1 \
  --metrics_port "$first_mport" --metrics_required --model_repository "$srepo" --plaintext \
  --backend synthetic >"$tmp/required.log" 2>&1; then
  bad "--metrics_required: exited 0"
elif grep -q "cannot serve metrics" "$tmp/required.log" && ! grep -q "grpc_port=" "$tmp/required.log"; then
  ok "--metrics_required exits"
else
  bad "--metrics_required: $(head -c 600 "$tmp/required.log")"
fi
finish
