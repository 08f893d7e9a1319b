#!/usr/bin/env bash
# End-to-end: graceful drain on SIGTERM (health flips to NOT_SERVING, new calls UNAVAILABLE, the
# running stream completes, exit 0) and authentication (TLS, mTLS client certificates made with
# openssl, bearer tokens from a tokens file: UNAUTHENTICATED otherwise). Real binaries over
# 127.0.0.1 with ephemeral ports; synthetic backend so no timing depends on model compute.
# usage: drain_auth_test.sh MAMBA_EXPLAIND MAMBA_EXPLAIN
set -u
server_bin=$1
client_bin=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
srepo=$tmp/srepo
mkdir -p "$srepo/deep"
python3 - "$here/../fixtures/mamba1_bias_tied/config.json" "$srepo/deep/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["num_hidden_layers"] = 40
json.dump(c, open(sys.argv[2], "w"))
PY

# --- drain ---------------------------------------------------------------------------------------
start_server drn --model_repository "$srepo" --plaintext --backend synthetic \
  --synthetic_layer_delay_ms 100 --max_queue_delay_ms 0 --drain_grace_s 60 || finish
S="--server 127.0.0.1:$drn_port"
$client_bin explain $S --model deep --ids 1,2,3 --methods synthetic-decay --quiet \
  --json "$tmp/drain.json" --stream-log "$tmp/drain.log" 2>"$tmp/drain.err" &
cpid=$!
for _ in $(seq 1 300); do grep -q layer_result "$tmp/drain.log" 2>/dev/null && break; sleep 0.05; done
kill -TERM "$drn_pid"
state=""
for _ in $(seq 1 200); do
  state=$($client_bin health $S 2>/dev/null)
  [ "$state" = NOT_SERVING ] && break
  sleep 0.05
done
if [ "$state" = NOT_SERVING ]; then ok "health flips to NOT_SERVING on SIGTERM"
else bad "health after SIGTERM: '$state'"; fi
expect_code "new Explain while draining -> UNAVAILABLE" "UNAVAILABLE" explain $S --model deep --ids 1,2 --methods synthetic-decay --quiet
wait "$cpid"
crc=$?
if [ $crc = 0 ] && python3 -c "
import json; d = json.load(open('$tmp/drain.json'))
assert len(d['results']) == 40 and d['summary']['layer_results'] >= 40" 2>>"$tmp/drain.err"; then
  ok "the running stream completes during the drain"
else bad "drained stream: rc=$crc $(tail -c 400 "$tmp/drain.err")"; fi
wait "$drn_pid"
src=$?
if [ $src = 0 ] && grep -q "stopped" "$tmp/drn.log"; then ok "server exits 0 after draining"
else bad "server exit $src: $(tail -3 "$tmp/drn.log")"; fi

# --- TLS, mTLS, bearer tokens ----------------------------------------------------------------
pki=$tmp/pki
mkdir -p "$pki"
(
  cd "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext
  openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=client
  openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2
) >"$tmp/openssl.log" 2>&1 || { bad "openssl: $(tail -5 "$tmp/openssl.log")"; finish; }
printf '# tokens\n\nsecret-token-1\nsecret-token-2\n' >"$tmp/tokens"
echo secret-token-2 >"$tmp/good"
echo wrong >"$tmp/wrong"
start_server sec --model_repository "$srepo" --backend synthetic --tls_cert "$pki/server.pem" \
  --tls_key "$pki/server.key" --tls_client_ca "$pki/ca.pem" --auth_tokens_file "$tmp/tokens" || finish
S="--server 127.0.0.1:$sec_port --tls-ca $pki/ca.pem"
M="--tls-cert $pki/client.pem --tls-key $pki/client.key"
if $client_bin models $S $M --token-file "$tmp/good" >/dev/null 2>"$tmp/err"; then
  ok "mTLS + bearer token: ListModels"; else bad "mTLS + token: $(cat "$tmp/err")"; fi
if $client_bin explain $S $M --token-file "$tmp/good" --model deep --ids 1,2 --methods synthetic-decay \
  --layers 0 --quiet >/dev/null 2>"$tmp/err"; then ok "mTLS + bearer token: Explain"
else bad "mTLS + token Explain: $(cat "$tmp/err")"; fi
expect_code "no token -> UNAUTHENTICATED" "UNAUTHENTICATED" models $S $M
expect_code "wrong token -> UNAUTHENTICATED" "UNAUTHENTICATED" models $S $M --token-file "$tmp/wrong"
expect_code "Explain without token -> UNAUTHENTICATED" "UNAUTHENTICATED" explain $S $M --model deep --ids 1 --methods synthetic-decay
expect_code "no client certificate -> UNAVAILABLE" "UNAVAILABLE" models $S --token-file "$tmp/good" --timeout 5
expect_code "plaintext client -> UNAVAILABLE" "UNAVAILABLE" models --server 127.0.0.1:$sec_port --token-file "$tmp/good" --timeout 5
if [ "$($client_bin health $S $M)" = SERVING ]; then ok "health needs no token"
else bad "health without token"; fi
kill -TERM "$sec_pid"; wait "$sec_pid"
start_server tls --model_repository "$srepo" --backend synthetic --tls_cert "$pki/server.pem" \
  --tls_key "$pki/server.key" || finish
if $client_bin models --server 127.0.0.1:$tls_port --tls-ca "$pki/ca.pem" >/dev/null 2>"$tmp/err"; then
  ok "TLS without client certificates"; else bad "TLS: $(cat "$tmp/err")"; fi
kill -TERM "$tls_pid"; wait "$tls_pid"
finish
