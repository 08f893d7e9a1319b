#!/usr/bin/env bash
# The HTTP/JSON gateway of mamba-explaind (docs/api.md) end to end, with curl against the real
# server on 127.0.0.1 (ephemeral ports):
#   engine backend on a committed copy model: GET /v1/models, /v1/models/{name}, POST
#   /v1/tokenize, POST /v1/explain streamed as SSE (`curl -N`) and as NDJSON, every value equal
#   to the gRPC client's result for the same request; status codes mapped from the gRPC ones
#   (400, 404, 429, 401, 413, 503 while draining) with the JSON error body; the console and its
#   files at / and /web/.
#   synthetic backend with a per-layer delay: results arrive while the server still computes,
#   and a client that disconnects cancels the computation (the Explain request is counted
#   CANCELLED and the model is free again); bearer tokens and TLS as for gRPC.
# usage: http_gateway_test.sh MAMBA_EXPLAIND MAMBA_EXPLAIN
set -u
server_bin=$1
client_bin=$2
here=$(cd "$(dirname "$0")" && pwd)
models=$(cd "$here/../../models" && pwd)
source "$here/lib.sh"

http_port_of() { sed -n 's/.*http_port=\([-0-9]*\).*/\1/p' "$tmp/$1.log" | head -1; }
# status FILE.headers -> the HTTP status code of the last response in a curl -D dump
status() { awk '/^HTTP\// {code=$2} END {print code}' "$1"; }
# expect_http NAME WANT_CODE WANT_STATUS CURL_ARGS...: code and the error body's "status".
expect_http() {
  local name=$1 want=$2 want_status=$3
  shift 3
  curl -sS -D "$tmp/h" -o "$tmp/b" "$@" 2>"$tmp/curl.err"
  local got
  got=$(status "$tmp/h")
  if [ "$got" = "$want" ] && { [ -z "$want_status" ] || python3 -c "
import json, sys; b = json.load(open('$tmp/b'))
assert b['status'] == '$want_status' and b['message'] and b['code'] > 0, b" 2>/dev/null; }; then
    ok "$name: HTTP $got $want_status"
  else
    bad "$name: HTTP $got (want $want $want_status): $(head -c 300 "$tmp/b") $(cat "$tmp/curl.err")"
  fi
}

mkdir -p "$tmp/repo"
cp -r "$models/copy-mamba1-silu" "$tmp/repo/copy"
start_server e --model_repository "$tmp/repo" --plaintext --http_port 0 --max_tokens 64 || finish
H=$(http_port_of e)
[ -n "$H" ] && [ "$H" -gt 0 ] && ok "http_port printed ($H)" || { bad "no http_port: $(cat "$tmp/e.log")"; finish; }
U=http://127.0.0.1:$H

# --- models, tokenize -------------------------------------------------------------------------
expect_http "GET /v1/models" 200 "" "$U/v1/models"
python3 -c "
import json; m = json.load(open('$tmp/b'))['models']
assert [x['name'] for x in m] == ['copy'] and m[0]['state'] == 'READY' and m[0]['nLayers'] > 0, m
assert 'latim-l2' in m[0]['methods'], m" && ok "models JSON: copy READY with its methods" || bad "models JSON"
expect_http "GET /v1/models/copy" 200 "" "$U/v1/models/copy"
expect_http "GET /v1/models/nope" 404 NOT_FOUND "$U/v1/models/nope"
expect_http "POST /v1/tokenize without a tokenizer" 400 FAILED_PRECONDITION \
  -H 'Content-Type: application/json' -d '{"model":"copy","text":"hi"}' "$U/v1/tokenize"

# --- Explain: SSE and NDJSON against the gRPC result -------------------------------------------
ids=5,7,3,2,9,11,8,15,5,7,3,2
req='{"model":"copy","tokenIds":['$ids'],"methods":["latim-l2","latim-alti-logit","grad-x-input"],"sparsity":{"mode":"DENSE"}}'
"$client_bin" explain --server "127.0.0.1:$e_port" --model copy --ids $ids \
  --method latim-l2,latim-alti-logit,grad-x-input --dense --json "$tmp/grpc.json" --quiet \
  2>"$tmp/grpc.err" || bad "gRPC explain: $(cat "$tmp/grpc.err")"
curl -sS -N -D "$tmp/sse.h" -H 'Content-Type: application/json' -d "$req" "$U/v1/explain" \
  >"$tmp/sse.txt" 2>"$tmp/curl.err"
if [ "$(status "$tmp/sse.h")" = 200 ] && grep -qi '^content-type: text/event-stream' "$tmp/sse.h"; then
  ok "curl -N /v1/explain streams text/event-stream"
else bad "SSE: $(head -c 300 "$tmp/sse.h") $(head -c 300 "$tmp/sse.txt")"; fi
curl -sS -N -H 'Accept: application/x-ndjson' -d "$req" "$U/v1/explain" >"$tmp/nd1.txt"
curl -sS -N -d "$req" "$U/v1/explain?format=ndjson" >"$tmp/nd2.txt"
if python3 "$here/compare_http.py" "$tmp/grpc.json" "$tmp/sse.txt" "$tmp/nd1.txt" "$tmp/nd2.txt"; then
  ok "SSE and NDJSON events equal the gRPC result (every value)"
else bad "HTTP results differ from gRPC"; fi

# --- status codes --------------------------------------------------------------------------
J=(-H 'Content-Type: application/json')
expect_http "unknown method" 400 INVALID_ARGUMENT "${J[@]}" \
  -d '{"model":"copy","tokenIds":[1,2],"methods":["nope"]}' "$U/v1/explain"
expect_http "unknown model" 404 NOT_FOUND "${J[@]}" \
  -d '{"model":"nope","tokenIds":[1,2],"methods":["latim-l2"]}' "$U/v1/explain"
expect_http "body not JSON" 400 INVALID_ARGUMENT "${J[@]}" -d '{"model":' "$U/v1/explain"
expect_http "misspelt field" 400 INVALID_ARGUMENT "${J[@]}" -d '{"modell":"copy"}' "$U/v1/explain"
expect_http "too many tokens" 429 RESOURCE_EXHAUSTED "${J[@]}" \
  -d "{\"model\":\"copy\",\"tokenIds\":[$(seq -s, 1 65 | sed 's/[0-9]*/1/g')],\"methods\":[\"latim-l2\"]}" \
  "$U/v1/explain"
expect_http "bad Grpc-Timeout" 400 INVALID_ARGUMENT "${J[@]}" -H 'Grpc-Timeout: soon' \
  -d '{"model":"copy","tokenIds":[1,2],"methods":["latim-l2"]}' "$U/v1/explain"
expect_http "bad format" 400 INVALID_ARGUMENT "${J[@]}" \
  -d '{"model":"copy","tokenIds":[1,2],"methods":["latim-l2"]}' "$U/v1/explain?format=xml"
expect_http "unknown path" 404 NOT_FOUND "$U/v2/nothing"
head -c 5000000 /dev/zero | tr '\0' ' ' >"$tmp/big"
expect_http "body over --max_receive_message_bytes" 413 RESOURCE_EXHAUSTED "${J[@]}" \
  --data-binary "@$tmp/big" "$U/v1/explain"

# --- the console ---------------------------------------------------------------------------
curl -sS -D "$tmp/c.h" -o "$tmp/c.html" "$U/"
if [ "$(status "$tmp/c.h")" = 200 ] && grep -q "mamba-explain console" "$tmp/c.html" &&
   ! grep -qiE "(src|href)=\"?(https?:)?//" "$tmp/c.html"; then
  ok "console at / (no network references)"
else bad "console: $(head -c 200 "$tmp/c.h")"; fi
for f in explain_view.js explain_view.css console.js console.css; do
  curl -sS -o "$tmp/f" -w '%{http_code} %{content_type}\n' "$U/web/$f" >"$tmp/fw"
  cmp -s "$tmp/f" "$here/../../web/$f" && grep -q '^200 ' "$tmp/fw" && ok "/web/$f served as in web/" ||
    bad "/web/$f: $(cat "$tmp/fw")"
done
expect_http "missing console file" 404 NOT_FOUND "$U/web/nope.js"

# --- draining: new calls get 503 ----------------------------------------------------------
kill -TERM "$e_pid"
for _ in $(seq 1 50); do grep -q draining "$tmp/e.log" && break; sleep 0.1; done
curl -sS -D "$tmp/h" -o "$tmp/b" "${J[@]}" -d "$req" "$U/v1/explain" 2>/dev/null
code=$(status "$tmp/h")
# Between "draining" and the listener closing, a call gets 503; after it, no connection at all.
if [ "$code" = 503 ] || [ -z "$code" ]; then ok "while draining: ${code:-connection refused}"
else bad "while draining: HTTP $code $(head -c 200 "$tmp/b")"; fi
wait "$e_pid" && ok "server exits 0 on SIGTERM with the gateway" || bad "server exit: $(tail -3 "$tmp/e.log")"

# --- streaming and cancellation (synthetic backend, 300 ms per layer) ------------------------
mkdir -p "$tmp/srepo/deep"
python3 - "$here/../fixtures/mamba1_bias_tied/config.json" "$tmp/srepo/deep/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["num_hidden_layers"] = 40
json.dump(c, open(sys.argv[2], "w"))
PY
start_server s --model_repository "$tmp/srepo" --plaintext --backend synthetic --http_port 0 \
  --synthetic_layer_delay_ms 300 --max_batch_size 1 --max_queue_delay_ms 0 || finish
S=http://127.0.0.1:$(http_port_of s)
sreq='{"model":"deep","tokenIds":[1,2,3,4],"methods":["synthetic-decay"]}'
# 40 layers x 300 ms = 12 s of work; the client hangs up after 2 s.
curl -sS -N -m 2 "${J[@]}" -d "$sreq" "$S/v1/explain" >"$tmp/part.txt" 2>/dev/null
layers=$(grep -c '^event: layerResult' "$tmp/part.txt")
if grep -q '^event: header' "$tmp/part.txt" && [ "$layers" -ge 1 ] && ! grep -q '^event: summary' "$tmp/part.txt"; then
  ok "results stream while the server computes ($layers layers within 2 s, no summary yet)"
else bad "partial stream: $layers layers; $(head -c 300 "$tmp/part.txt")"; fi
cancelled=""
for _ in $(seq 1 50); do  # bounded: 5 s, well under the 10 s the job had left
  cancelled=$(metric "$s_mport" 'mamba_explain_requests_total{code="CANCELLED",method="Explain"')
  [ -n "$cancelled" ] && break
  sleep 0.1
done
if [ "$cancelled" = 1 ]; then ok "the disconnect cancelled the Explain call (counted CANCELLED)"
else bad "no CANCELLED Explain after the disconnect: $(curl -s "http://127.0.0.1:$s_mport/metrics" | grep requests_total)"; fi
# The model's worker is free again: a short request completes at once (1 layer, not 10 s).
start=$SECONDS
curl -sS -N "${J[@]}" -d '{"model":"deep","tokenIds":[1,2],"methods":["synthetic-decay"],"layers":[0]}' \
  "$S/v1/explain?format=ndjson" >"$tmp/after.txt"
if grep -q '"summary"' "$tmp/after.txt" && [ $((SECONDS - start)) -lt 8 ]; then
  ok "after the cancellation the model serves the next request"
else bad "next request: $(tail -c 300 "$tmp/after.txt")"; fi
kill -TERM "$s_pid"; wait "$s_pid"

# --- bearer tokens and TLS -----------------------------------------------------------------
pki=$tmp/pki
mkdir -p "$pki"
(
  cd "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext
) >"$tmp/openssl.log" 2>&1 || { bad "openssl: $(tail -5 "$tmp/openssl.log")"; finish; }
echo secret-token >"$tmp/tokens"
start_server t --model_repository "$tmp/srepo" --backend synthetic --http_port 0 \
  --tls_cert "$pki/server.pem" --tls_key "$pki/server.key" --auth_tokens_file "$tmp/tokens" || finish
T=https://127.0.0.1:$(http_port_of t)
expect_http "TLS, no token" 401 UNAUTHENTICATED --cacert "$pki/ca.pem" "$T/v1/models"
grep -qi '^www-authenticate: bearer' "$tmp/h" && ok "401 names the Bearer scheme" || bad "no WWW-Authenticate"
expect_http "TLS, wrong token" 401 UNAUTHENTICATED --cacert "$pki/ca.pem" \
  -H 'Authorization: Bearer wrong' "$T/v1/models"
expect_http "TLS, good token" 200 "" --cacert "$pki/ca.pem" -H 'Authorization: Bearer secret-token' \
  "$T/v1/models"
curl -sS -N --cacert "$pki/ca.pem" -H 'Authorization: Bearer secret-token' "${J[@]}" \
  -d '{"model":"deep","tokenIds":[1,2],"methods":["synthetic-decay"],"layers":[0,1]}' \
  "$T/v1/explain" >"$tmp/tls.txt"
grep -q '^event: summary' "$tmp/tls.txt" && ok "TLS + token: Explain streams to the summary" ||
  bad "TLS explain: $(head -c 300 "$tmp/tls.txt")"
if curl -sS -o /dev/null "http://127.0.0.1:$(http_port_of t)/v1/models" 2>/dev/null; then
  bad "plaintext HTTP answered on a TLS server"
else ok "no plaintext on a TLS server"; fi
finish
