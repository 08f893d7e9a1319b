#!/usr/bin/env bash
# A long input served end to end (issue 18, "serving long prompts"): 200 000 token ids, whose ids
# and token strings (about 1.4 MB) no longer fit in the Header's 1 MiB. The server splits them
# into the Header and InputTokens messages; every reader must reassemble them:
#   the C++ client against the engine (CPU, the 3-layer mamba1_bias_tied fixture, --ids-file,
#     rows last, TOP_K 8): its JSON has every id and token string and the last row of every
#     layer (8 entries, causal); its stream log shows the header, then input_tokens at contiguous
#     offsets before any result, every message under 1 MiB;
#   against the synthetic backend (same model directory; its values are cheap, so each reader
#   costs no second engine run): the HTTP gateway's NDJSON (header + inputTokens reassemble to
#   the ids, results equal the C++ client's), the console's view module (web/explain_view.js,
#   under node when installed) fed those events, and the Python client (installed with pip):
#   ids, tokens and rows equal the C++ client's.
# The engine run takes most of the time (about 30 s on 2 idle cores).
# usage: long_input_test.sh MAMBA_EXPLAIND MAMBA_EXPLAIN
set -u
server_bin=$1
client_bin=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib.sh"
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
n=200000

mkdir -p "$tmp/repo"
cp -r "$root/tests/fixtures/mamba1_bias_tied" "$tmp/repo/m1"
$py -c "
import random; r = random.Random(18)
print('\n'.join(' '.join(str(r.randrange(96)) for _ in range(1000)) for _ in range($n // 1000)))
" >"$tmp/ids.txt"
limits=(--max_tokens 262144 --max_matrix_rows 100000000)

# --- the C++ client, engine -------------------------------------------------------------------
start_server e --model_repository "$tmp/repo" --plaintext "${limits[@]}" || finish
t0=$SECONDS
if "$client_bin" explain --server "127.0.0.1:$e_port" --model m1 --ids-file "$tmp/ids.txt" \
    --method latim-l2 --rows last --top-k 8 --quiet --json "$tmp/engine.json" \
    --stream-log "$tmp/stream.jsonl" 2>"$tmp/err"; then
  ok "C++ client, engine: $n ids, rows last, top-k 8 ($((SECONDS - t0)) s)"
else
  bad "C++ client, engine: $(head -c 600 "$tmp/err")"
  finish
fi
if $py "$here/check_long_input.py" grpc "$tmp/ids.txt" "$tmp/engine.json" "$tmp/stream.jsonl"; then
  ok "C++ client: every id and token, last rows of 8 entries; header + input_tokens, each <= 1 MiB"
else bad "C++ client's result"; fi
kill "$e_pid" 2>/dev/null
wait "$e_pid" 2>/dev/null

# --- the other readers, synthetic backend -------------------------------------------------------
start_server s --model_repository "$tmp/repo" --plaintext --backend synthetic --http_port 0 \
  "${limits[@]}" || finish
H=$(sed -n 's/.*http_port=\([-0-9]*\).*/\1/p' "$tmp/s.log" | head -1)
addr=127.0.0.1:$s_port
"$client_bin" explain --server "$addr" --model m1 --ids-file "$tmp/ids.txt" \
  --method synthetic-decay --rows last --top-k 8 --quiet --json "$tmp/grpc.json" 2>"$tmp/err" ||
  bad "C++ client, synthetic: $(head -c 600 "$tmp/err")"

# --- HTTP gateway (NDJSON) and the console's view module --------------------------------------
if [ -z "$H" ] || [ "$H" -le 0 ]; then
  echo "server built without the HTTP gateway: HTTP and console checks skipped"
else
$py -c "
import json
ids = [int(x) for x in open('$tmp/ids.txt').read().split()]
print(json.dumps({'model': 'm1', 'tokenIds': ids, 'methods': ['synthetic-decay'],
                  'rowSelection': 'ROW_SELECTION_LAST', 'sparsity': {'mode': 'TOP_K', 'topK': 8}}))
" >"$tmp/req.json"
curl -sS -N -H 'Content-Type: application/json' --data-binary @"$tmp/req.json" \
  "http://127.0.0.1:$H/v1/explain?format=ndjson" >"$tmp/http.ndjson" 2>"$tmp/curl.err"
if $py "$here/check_long_input.py" http "$tmp/ids.txt" "$tmp/grpc.json" "$tmp/http.ndjson"; then
  ok "HTTP NDJSON: header + inputTokens reassemble to the ids; results equal gRPC's"
else bad "HTTP: $(head -c 300 "$tmp/http.ndjson") $(cat "$tmp/curl.err")"; fi
if command -v node >/dev/null 2>&1; then
  if node "$here/check_long_input_view.js" "$root/web/explain_view.js" "$tmp/http.ndjson" \
      "$tmp/ids.txt"; then
    ok "web/explain_view.js: the inputTokens events complete ids and tokens"
  else bad "web/explain_view.js on the long stream"; fi
else
  echo "node not installed: the console's view module not checked"
fi
fi

# --- Python client ----------------------------------------------------------------------------
cp -r "$root/client/python" "$tmp/pkg"
if MAMBA_EXPLAIN_PROTO_DIR="$root/proto" $py -m pip install --quiet --no-build-isolation --no-deps \
    --no-index --target "$tmp/site" "$tmp/pkg" >"$tmp/pip.log" 2>&1; then
  if PYTHONPATH="$tmp/site" $py "$here/check_long_input.py" python "$tmp/ids.txt" \
      "$tmp/grpc.json" "$addr"; then
    ok "Python client: header with every id and token, rows equal the C++ client's"
  else bad "Python client"; fi
else
  bad "pip install ./client/python: $(tail -c 800 "$tmp/pip.log")"
fi
finish
