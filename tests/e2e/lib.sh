# Shared helpers of the end-to-end tests: start the real mamba-explaind on 127.0.0.1 with
# ephemeral ports, wait (bounded) for its port line, always kill it on exit, count results.
# Usage: source lib.sh after setting $server_bin and $client_bin.
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1  [${SECONDS}s]"; }
bad() { fail=$((fail + 1)); echo "FAIL $1  [${SECONDS}s]"; return 1; }
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit $?
}

# start_server NAME ARGS... -> sets ${NAME}_pid ${NAME}_port ${NAME}_mport, log in $tmp/NAME.log
start_server() {
  local name=$1
  shift
  "$server_bin" --host 127.0.0.1 --port 0 --metrics_address 127.0.0.1 --metrics_port 0 "$@" \
    >"$tmp/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  eval "${name}_pid=$pid"
  for _ in $(seq 1 600); do
    if grep -q "grpc_port=" "$tmp/$name.log"; then
      eval "${name}_port=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$tmp/$name.log" | head -1)"
      eval "${name}_mport=$(sed -n 's/.*metrics_port=\([-0-9]*\).*/\1/p' "$tmp/$name.log" | head -1)"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "server $name did not start:"
  cat "$tmp/$name.log"
  return 1
}

# expect_code NAME CODE ARGS...: the client must exit non-zero with CODE on stderr.
expect_code() {
  local name=$1 want=$2
  shift 2
  if "$client_bin" "$@" >"$tmp/out" 2>"$tmp/err"; then
    bad "$name: exited 0"
  elif grep -qF -- "$want" "$tmp/err"; then
    ok "$name"
  else
    bad "$name: stderr lacks '$want': $(head -c 400 "$tmp/err")"
  fi
}

# metric VALUE of the first sample line starting with $2 from metrics port $1.
metric() {
  curl -s "http://127.0.0.1:$1/metrics" | awk -v p="$2" 'index($0, p) == 1 {print $NF; exit}'
}
