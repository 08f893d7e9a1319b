#!/usr/bin/env bash
# CORS of the HTTP gateway (--http_cors_origins, server/http_cors.h) with curl against the real
# server (synthetic backend, ephemeral ports): preflights from an allowed and a foreign origin,
# Access-Control-Allow-Origin on JSON replies, errors and the SSE stream for the allowed origin
# only, nothing by default, "*" and a refused flag value.
# usage: http_cors_e2e_test.sh MAMBA_EXPLAIND MAMBA_EXPLAIN
set -u
server_bin=$1
client_bin=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

http_port_of() { sed -n 's/.*http_port=\([-0-9]*\).*/\1/p' "$tmp/$1.log" | head -1; }
# hdr FILE NAME -> the value of header NAME in a curl -D dump ('' when absent)
hdr() { awk -v n="$(echo "$2" | tr 'A-Z' 'a-z')" 'BEGIN {FS=": "} {k=tolower($1)} k == n {sub(/\r$/, "", $2); print $2}' "$1" | tail -1; }
code() { awk '/^HTTP\// {c=$2} END {print c}' "$1"; }

mkdir -p "$tmp/repo/deep"
python3 - "$here/../fixtures/mamba1_bias_tied/config.json" "$tmp/repo/deep/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["num_hidden_layers"] = 4
json.dump(c, open(sys.argv[2], "w"))
PY
ORIGIN=https://dash.example.com
start_server c --model_repository "$tmp/repo" --plaintext --backend synthetic --http_port 0 \
  --http_cors_origins "$ORIGIN, http://localhost:3000" || finish
U=http://127.0.0.1:$(http_port_of c)
req='{"model":"deep","tokenIds":[1,2,3],"methods":["synthetic-decay"]}'

# --- preflight -------------------------------------------------------------------------------
curl -sS -o "$tmp/b" -D "$tmp/h" -X OPTIONS -H "Origin: $ORIGIN" \
  -H 'Access-Control-Request-Method: POST' \
  -H 'Access-Control-Request-Headers: content-type, authorization' "$U/v1/explain"
if [ "$(code "$tmp/h")" = 204 ] && [ "$(hdr "$tmp/h" Access-Control-Allow-Origin)" = "$ORIGIN" ] &&
   [ "$(hdr "$tmp/h" Access-Control-Allow-Methods)" = "GET, POST" ] &&
   hdr "$tmp/h" Access-Control-Allow-Headers | grep -q Authorization &&
   [ "$(hdr "$tmp/h" Access-Control-Max-Age)" = 600 ]; then
  ok "preflight from an allowed origin: 204 with Allow-Origin/-Methods/-Headers/Max-Age"
else bad "allowed preflight: $(cat "$tmp/h" "$tmp/b")"; fi
curl -sS -o "$tmp/b" -D "$tmp/h" -X OPTIONS -H "Origin: https://evil.example.com" \
  -H 'Access-Control-Request-Method: POST' "$U/v1/explain"
if [ "$(code "$tmp/h")" = 403 ] && [ -z "$(hdr "$tmp/h" Access-Control-Allow-Origin)" ] &&
   grep -q '"PERMISSION_DENIED"' "$tmp/b" && grep -q evil.example.com "$tmp/b"; then
  ok "preflight from a foreign origin: 403 PERMISSION_DENIED naming it, no Allow-Origin"
else bad "foreign preflight: $(cat "$tmp/h" "$tmp/b")"; fi
curl -sS -o "$tmp/b" -D "$tmp/h" -X OPTIONS -H "Origin: $ORIGIN" \
  -H 'Access-Control-Request-Method: DELETE' "$U/v1/models"
[ "$(code "$tmp/h")" = 403 ] && ok "preflight for DELETE: 403" || bad "DELETE preflight: $(code "$tmp/h")"
curl -sS -o "$tmp/b" -D "$tmp/h" -X OPTIONS "$U/v1/models"
[ "$(code "$tmp/h")" = 204 ] && [ "$(hdr "$tmp/h" Allow)" = "GET, POST, OPTIONS" ] &&
  ok "plain OPTIONS (no Origin): 204 Allow" || bad "plain OPTIONS: $(cat "$tmp/h")"

# --- actual requests ---------------------------------------------------------------------------
curl -sS -o "$tmp/b" -D "$tmp/h" -H "Origin: http://localhost:3000" "$U/v1/models"
if [ "$(code "$tmp/h")" = 200 ] && [ "$(hdr "$tmp/h" Access-Control-Allow-Origin)" = http://localhost:3000 ] &&
   [ "$(hdr "$tmp/h" Vary)" = Origin ] &&
   [ "$(hdr "$tmp/h" Access-Control-Expose-Headers)" = "Retry-After, WWW-Authenticate" ]; then
  ok "GET /v1/models from an allowed origin: Allow-Origin, Vary, Expose-Headers"
else bad "GET with Origin: $(cat "$tmp/h")"; fi
curl -sS -N -o "$tmp/sse.txt" -D "$tmp/h" -H "Origin: $ORIGIN" -d "$req" "$U/v1/explain"
if [ "$(code "$tmp/h")" = 200 ] && [ "$(hdr "$tmp/h" Access-Control-Allow-Origin)" = "$ORIGIN" ] &&
   grep -q '^event: summary' "$tmp/sse.txt"; then
  ok "POST /v1/explain (SSE stream) from an allowed origin carries Allow-Origin"
else bad "SSE with Origin: $(cat "$tmp/h") $(head -c 300 "$tmp/sse.txt")"; fi
curl -sS -o "$tmp/b" -D "$tmp/h" -H "Origin: $ORIGIN" "$U/v1/models/nope"
[ "$(code "$tmp/h")" = 404 ] && [ "$(hdr "$tmp/h" Access-Control-Allow-Origin)" = "$ORIGIN" ] &&
  ok "an error reply (404) is readable by the allowed origin" || bad "404 with Origin: $(cat "$tmp/h")"
curl -sS -o "$tmp/b" -D "$tmp/h" -H "Origin: https://evil.example.com" "$U/v1/models"
[ "$(code "$tmp/h")" = 200 ] && [ -z "$(hdr "$tmp/h" Access-Control-Allow-Origin)" ] &&
  ok "a foreign origin's reply has no Allow-Origin (the browser withholds it)" ||
  bad "foreign GET: $(cat "$tmp/h")"
kill -TERM "$c_pid"; wait "$c_pid"

# --- default: none; "*"; a bad value ---------------------------------------------------------------
start_server d --model_repository "$tmp/repo" --plaintext --backend synthetic --http_port 0 || finish
D=http://127.0.0.1:$(http_port_of d)
curl -sS -o "$tmp/b" -D "$tmp/h" -H "Origin: $ORIGIN" "$D/v1/models"
[ -z "$(hdr "$tmp/h" Access-Control-Allow-Origin)" ] && ok "default: no Allow-Origin" ||
  bad "default sent Allow-Origin"
curl -sS -o "$tmp/b" -D "$tmp/h" -X OPTIONS -H "Origin: $ORIGIN" \
  -H 'Access-Control-Request-Method: GET' "$D/v1/models"
[ "$(code "$tmp/h")" = 403 ] && grep -q "not enabled" "$tmp/b" &&
  ok "default: a preflight gets 403 (CORS not enabled)" || bad "default preflight: $(cat "$tmp/h" "$tmp/b")"
kill -TERM "$d_pid"; wait "$d_pid"
start_server a --model_repository "$tmp/repo" --plaintext --backend synthetic --http_port 0 \
  --http_cors_origins '*' || finish
curl -sS -o "$tmp/b" -D "$tmp/h" -H "Origin: https://any.example" \
  "http://127.0.0.1:$(http_port_of a)/v1/models"
[ "$(hdr "$tmp/h" Access-Control-Allow-Origin)" = "*" ] && [ -z "$(hdr "$tmp/h" Vary)" ] &&
  ok "'*': Allow-Origin * without Vary" || bad "'*': $(cat "$tmp/h")"
kill -TERM "$a_pid"; wait "$a_pid"
"$server_bin" --model_repository "$tmp/repo" --plaintext --backend synthetic --port 0 \
  --metrics_port -1 --http_port 0 --http_cors_origins 'https://dash.example.com/' >"$tmp/x.log" 2>&1
rc=$?
[ "$rc" = 2 ] && grep -q -- "--http_cors_origins" "$tmp/x.log" &&
  ok "a path in --http_cors_origins is refused (exit 2, flag named)" ||
  bad "bad origin: exit $rc $(cat "$tmp/x.log")"
finish
