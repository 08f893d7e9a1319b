#!/usr/bin/env bash
# Validates deploy/ (ctest deploy_manifests_test):
#  1. renders every overlay with `kubectl kustomize` (deploy/k8s/overlays/*);
#  2. checks every object against the Kubernetes / prometheus-operator schemas and the project's
#     deployment rules (validate.mjs: restricted Pod Security, probes, drain timing, HPA wiring,
#     adapter rule, runbooks);
#  3. `promtool check rules` and `promtool test rules` (deploy/tests/alerts_test.yaml) on the
#     PrometheusRule's groups;
#  4. cross-checks against the real server: each overlay's exact args start mamba-explaind (device
#     forced to cpu, ports and paths local), the probes' gRPC services answer SERVING, the HTTP
#     gateway the manifests expose answers with the bearer token (401 without), --help
#     documents every flag used, and every metric that the rules, the adapter rule and the
#     dashboard name is in a live /metrics scrape after one Explain; --readiness=all|any.
# usage: validate.sh MAMBA_EXPLAIND MAMBA_EXPLAIN
# Needs kubectl (with its built-in kustomize), promtool (Debian's prometheus), node with
# deploy/tests/node_modules (npm ci). Exits 77 (skipped) only when kubectl is not installed.
set -u
server_bin=$1
client_bin=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../..
source "$root/tests/e2e/lib.sh"
out=$tmp/out
mkdir -p "$out"

command -v kubectl >/dev/null || { echo "SKIP: kubectl not installed"; exit 77; }
command -v promtool >/dev/null || { bad "promtool not installed (apt-get install prometheus)"; finish; }
[ -d "$here/node_modules" ] || (cd "$here" && npm ci --silent --no-audit --no-fund) ||
  { bad "npm ci in deploy/tests"; finish; }

# --- 1. render -----------------------------------------------------------------------------------
overlays=()
for dir in "$root"/deploy/k8s/overlays/*/; do
  name=$(basename "$dir")
  if kubectl kustomize "$dir" >"$out/$name.yaml" 2>"$out/$name.err"; then
    ok "kubectl kustomize overlays/$name ($(grep -c '^kind:' "$out/$name.yaml") objects)"
    overlays+=("$out/$name.yaml")
  else bad "kubectl kustomize overlays/$name: $(cat "$out/$name.err")"; fi
done
[ ${#overlays[@]} -ge 2 ] || finish

# --- 2. schemas and rules --------------------------------------------------------------------------
if node "$here/validate.mjs" manifests "$out" "${overlays[@]}" >"$out/manifests.log"; then
  ok "schemas and deployment rules ($(tail -1 "$out/manifests.log"))"
else grep -v '^ok' "$out/manifests.log"; bad "schemas and deployment rules"; finish; fi

# --- 3. promtool ---------------------------------------------------------------------------------
if (cd "$out" && promtool check rules rules.yaml >check.log 2>&1); then
  ok "promtool check rules ($(grep -o '[0-9]* rules found' "$out/check.log"))"
else bad "promtool check rules: $(cat "$out/check.log")"; fi
if (cd "$out" && promtool test rules alerts_test.yaml >test.log 2>&1); then
  ok "promtool test rules ($(grep -c 'alertname:' "$here/alerts_test.yaml") alert expectations)"
else bad "promtool test rules: $(cat "$out/test.log")"; fi

# --- 4. the server -----------------------------------------------------------------------------------
"$server_bin" --help >"$out/help.txt" 2>&1
repo=$tmp/repo
mkdir -p "$repo"
cp -r "$root/tests/fixtures/mamba1_bias_tied" "$repo/m1"  # copies: the server refuses symlinks out of its repository
cp -r "$root/tests/fixtures/mamba2_g1" "$repo/m2"
printf '# comment\nvalidate-token\n' >"$tmp/tokens"
echo validate-token >"$tmp/token"
# An overlay's args, made local: paths, loopback, ephemeral ports, cpu.
local_args() {
  node -e '
    const refs = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const local = {model_repository: process.argv[3], auth_tokens_file: process.argv[4],
      host: "127.0.0.1", port: "0", metrics_address: "127.0.0.1", metrics_port: "0", device: "cpu",
      http_host: "127.0.0.1", http_port: "0"};
    for (const a of refs.args[process.argv[2]]) {
      const m = /^--([a-z_0-9]+)=/.exec(a);
      console.log(m && m[1] in local ? `--${m[1]}=${local[m[1]]}` : a);
    }' "$out/refs.json" "$1" "$repo" "$tmp/tokens"
}
for overlay in "${overlays[@]}"; do
  name=$(basename "$overlay" .yaml)
  mapfile -t args < <(local_args "$name")
  # start_server adds --host/--port/...: the overlay's own (localised) values come after and win.
  start_server "$name" "${args[@]}" || { bad "overlay $name's args start the server"; continue; }
  ok "overlay $name's args start the server"
  port_var=${name}_port
  mport_var=${name}_mport
  S="--server 127.0.0.1:${!port_var} --token-file $tmp/token"
  for svc in $(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).probeServices.join(" "))' "$out/refs.json") ""; do
    state=$($client_bin health $S ${svc:+--service "$svc"} 2>&1)
    [ "$state" = SERVING ] && ok "$name: probe service '$svc' SERVING" || bad "$name: probe service '$svc': $state"
  done
  if $client_bin explain $S --model m1 --ids 1,2,3,4 --method latim-l2 --quiet \
      --json "$tmp/$name.json" >/dev/null 2>"$tmp/err"; then ok "$name: Explain with the bearer token"
  else bad "$name: Explain: $(cat "$tmp/err")"; fi
  # The HTTP gateway the overlay turns on (--http_port, the Service's and NetworkPolicy's http
  # port): it listens, requires the same token and answers the same service.
  hport=$(sed -n 's/.*http_port=\([-0-9]*\).*/\1/p' "$tmp/$name.log" | head -1)
  hexpect=$(node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1])); console.log(r.ports[process.argv[2]].http ? "on" : "off")' "$out/refs.json" "$name")
  if [ "$hexpect" = on ] && [ "${hport:--1}" -gt 0 ]; then
    code=$(curl -sS -o "$tmp/h.json" -w '%{http_code}' -H "Authorization: Bearer validate-token" \
      "http://127.0.0.1:$hport/v1/models")
    noauth=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/v1/models")
    if [ "$code" = 200 ] && grep -q '"m1"' "$tmp/h.json" && [ "$noauth" = 401 ]; then
      ok "$name: HTTP gateway (--http_port) serves /v1/models with the token, 401 without"
    else bad "$name: HTTP gateway: $code / $noauth $(head -c 200 "$tmp/h.json")"; fi
  else bad "$name: HTTP gateway: overlay ${hexpect}, server http_port=${hport:-none}"; fi
  curl -fsS "http://127.0.0.1:${!mport_var}/metrics" >"$out/metrics-$name.txt" ||
    bad "$name: /metrics scrape"
done
first=$(basename "${overlays[0]}" .yaml)
if node "$here/validate.mjs" server "$out" "$out/help.txt" "$out/metrics-$first.txt" >"$out/server.log"; then
  ok "flags in --help, metric names in /metrics ($(tail -1 "$out/server.log"))"
else grep -v '^ok' "$out/server.log"; bad "flags and metric names against the server"; fi

# --readiness: all keeps the replica unready while a model failed to load; any does not.
mkdir -p "$tmp/brepo/broken"
cp -r "$root/tests/fixtures/mamba1_bias_tied" "$tmp/brepo/m1"
echo '{' >"$tmp/brepo/broken/config.json"
start_server rall --model_repository "$tmp/brepo" --plaintext --readiness=all || finish
start_server rany --model_repository "$tmp/brepo" --plaintext --readiness=any || finish
$client_bin health --server "127.0.0.1:$rall_port" --service mamba_explain.v1.Explainer 2>&1 |
  grep -q NOT_SERVING &&
  ok "--readiness=all: a failed model keeps Explainer NOT_SERVING" || bad "--readiness=all with a failed model"
[ "$($client_bin health --server "127.0.0.1:$rany_port" --service mamba_explain.v1.Explainer 2>&1)" = SERVING ] &&
  ok "--readiness=any: one ready model is enough" || bad "--readiness=any with one ready model"
if "$server_bin" --model_repository "$tmp/brepo" --plaintext --readiness=some >/dev/null 2>&1; then
  bad "--readiness=some refused"; else ok "--readiness=some refused"; fi
finish
