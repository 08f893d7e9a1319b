#!/usr/bin/env bash
# Perf smoke test: `mamba-explain perf` against the real mamba-explaind (CPU) serving the
# committed copy model (models/copy-mamba1-silu), at concurrency 8 for a few seconds. Checks the
# report (JSON fields per level, CSV, the server's Summary split, status counts, percentiles in
# order), the open-loop mode, and that dynamic batching works without costing throughput: a
# server with the default --max_batch_size forms batches (mean batch size > 1.5) and is not
# slower than one with --max_batch_size 1. On this tiny CPU model the two are close (per-request
# work dominates; the gain is a GPU matter, tools/gpu_perf_check.sh), and throughput on a shared
# 2-core machine (ctest -j2) swings by ±30 %, so: both servers run single-threaded (intra-op
# threads on an oversubscribed machine stall the larger batched ops), they are measured
# alternately, twice each, and the best run of each is compared with a 40 % margin. That still
# fails when batching serialises or stalls requests (a batch that waits out its queue delay, a
# batch per request) but not on a neighbour's burst. A closed-loop method mix (latim-l2 and
# grad-x-input) must form batches too.
# usage: perf_smoke_test.sh MAMBA_EXPLAIND MAMBA_EXPLAIN
set -u
server_bin=$1
client_bin=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

repo=$tmp/repo
mkdir -p "$repo"
cp -r "$here/../../models/copy-mamba1-silu" "$repo/copy"
export OMP_NUM_THREADS=1
start_server batched --model_repository "$repo" --plaintext || { bad "server (batched)"; finish; }
start_server solo --model_repository "$repo" --plaintext --max_batch_size 1 ||
  { bad "server (max_batch_size 1)"; finish; }
unset OMP_NUM_THREADS

# perf NAME PORT ARGS...: a closed-loop run, report in $tmp/NAME.json / .csv.
perf() {
  local name=$1 port=$2
  shift 2
  "$client_bin" perf --server "127.0.0.1:$port" --model copy --method latim-l2 \
    --input-length 12,16 --warmup 1 --json "$tmp/$name.json" --csv "$tmp/$name.csv" "$@" \
    >"$tmp/$name.out" 2>"$tmp/$name.err"
}

for round in 1 2; do
  perf "batched$round" "$batched_port" --rows last --concurrency 8 --duration 3 ||
    bad "perf batched round $round: $(tail -c 400 "$tmp/batched$round.err")"
  perf "solo$round" "$solo_port" --rows last --concurrency 8 --duration 3 ||
    bad "perf solo round $round: $(tail -c 400 "$tmp/solo$round.err")"
done
grep -q "concurrency" "$tmp/batched1.out" && grep -q "measure" "$tmp/batched1.err" &&
  ok "table on stdout, progress on stderr" || bad "table/progress: $(head -c 400 "$tmp/batched1.out")"

# Report fields (both servers), the batch sizes, and the throughput comparison.
if python3 - "$tmp" <<'PY'; then ok "report fields, batching forms batches and is not slower"; else bad "report/batching"; fi
import csv, json, sys
tmp = sys.argv[1]
def level(name):
    r = json.load(open(f"{tmp}/{name}.json"))
    assert r["model"] == "copy" and r["methods"] == ["latim-l2"] and r["rows"] == "last", r
    assert r["mode"] == "concurrency" and r["input_lengths"] == [12, 16], r
    assert len(r["levels"]) == 1, r
    l = r["levels"][0]
    assert l["concurrency"] == 8, l
    assert l["throughput_rps"] > 0 and l["ok"] > 0, l
    lat = l["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"], lat
    assert set(l["status_counts"]) == {"OK"} and l["status_counts"]["OK"] == l["ok"], l
    s = l["server_ms"]
    for part in ("queue", "compute", "stream", "total"):
        assert s[part]["count"] == l["ok"], (part, s)
    # The server's total covers its queue and compute time of the request.
    assert s["total"]["mean"] + 1e-6 >= s["compute"]["mean"] and s["compute"]["mean"] > 0, s
    rows = list(csv.DictReader(open(f"{tmp}/{name}.csv")))
    assert len(rows) == 1 and int(rows[0]["concurrency"]) == 8 and float(rows[0]["throughput_rps"]) > 0, rows
    return l
batched = [level(f"batched{i}") for i in (1, 2)]
solo = [level(f"solo{i}") for i in (1, 2)]
for l in solo:
    assert abs(l["mean_batch_size"] - 1) < 1e-9, l["mean_batch_size"]
mean_batch = max(l["mean_batch_size"] for l in batched)
best_batched = max(l["throughput_rps"] for l in batched)
best_solo = max(l["throughput_rps"] for l in solo)
print(f"batched: {best_batched:.1f} req/s (mean batch {mean_batch:.2f}); "
      f"max_batch_size 1: {best_solo:.1f} req/s")
assert mean_batch > 1.5, mean_batch
assert best_batched >= 0.6 * best_solo, (best_batched, best_solo)
PY

# Open loop (Poisson arrivals) and a method mix.
if "$client_bin" perf --server "127.0.0.1:$batched_port" --model copy \
  --method latim-l2,grad-x-input --rows last --input-length 8 --request-rate 20 --duration 2 \
  --warmup 0.5 --quiet --json "$tmp/rate.json" >"$tmp/rate.out" 2>"$tmp/rate.err" &&
  python3 - "$tmp/rate.json" <<'PY'; then ok "open loop, method mix"; else bad "open loop: $(tail -c 400 "$tmp/rate.err")"; fi
import json, sys
r = json.load(open(sys.argv[1]))
assert r["mode"] == "request_rate" and r["methods"] == ["latim-l2", "grad-x-input"], r
l = r["levels"][0]
assert l["request_rate"] == 20 and l["ok"] > 0 and l["issued_rps"] > 0, l
PY

# Closed loop with a method mix: requests asking latim-l2 or grad-x-input share batches (one
# family call each inside a batch, serving/batch_plan.h); every request succeeds.
if "$client_bin" perf --server "127.0.0.1:$batched_port" --model copy \
  --method latim-l2,grad-x-input --rows last --input-length 12,16 --concurrency 8 --duration 2 \
  --warmup 0.5 --quiet --json "$tmp/mix.json" >"$tmp/mix.out" 2>"$tmp/mix.err" &&
  python3 - "$tmp/mix.json" <<'PY'; then ok "method mix shares batches"; else bad "method mix: $(tail -c 400 "$tmp/mix.err")"; fi
import json, sys
l = json.load(open(sys.argv[1]))["levels"][0]
print(f"method mix: {l['throughput_rps']:.1f} req/s, mean batch {l['mean_batch_size']:.2f}")
assert l["ok"] > 0 and set(l["status_counts"]) == {"OK"}, l
assert l["mean_batch_size"] > 1.5, l["mean_batch_size"]
PY

expect_code "perf: unknown model" "NOT_FOUND" perf --server "127.0.0.1:$batched_port" \
  --model nope --duration 1
expect_code "perf: bad concurrency" "concurrency" perf --server "127.0.0.1:$batched_port" \
  --model copy --concurrency 0
finish
