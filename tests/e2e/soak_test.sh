#!/usr/bin/env bash
# Soak (issue 12; docs/reliability.md "Soak"): the real mamba-explaind (engine backend, CPU) on
# 127.0.0.1 serving the committed copy model ("copy", 2 layers) and an 8-layer copy of it ("deep",
# make_deep_model.py), under a bounded load that repeats in cycles (about 45 s on an idle 2-core
# machine) until DURATION_S has passed:
#   A. mixed load, 15 s: `mamba-explain perf`, concurrency 4, inputs of 8/16/32 ids, a mix of
#      LaTIM (l2, alti-logit), gradient (grad-x-input, integrated-gradients 8 steps) and hidden
#      attention (mamba-attention, rollout) requests;
#   B. slow readers, ~10 s: two clients open a dense mamba-attention explanation of 64 ids on
#      "deep" (8 layers x 16 KiB; the server runs with --max_stream_buffer_bytes 64 KiB so that
#      they fill it without minutes of CPU), read the Header, stall 6 s and cancel; a third
#      stalls 8 s, past --stream_stall_timeout_s (4 s), and then reads on (cut off by the server
#      or not, depending on how fast the layers came); perf at concurrency 2 meanwhile;
#   C. cancel storm: 40 concurrent LaTIM Explain calls of 32 ids cancelled after 0-500 ms (every
#      third by its deadline instead, every fifth read to the end) and four CLI clients on "deep"
#      killed with SIGKILL mid-stream;
#   D. quiesce: wait (bounded, 120 s) until the in-flight gauge and every pending gauge are 0, then
#      sample the server's RSS, open file descriptors, threads and the gauges.
# The first cycle warms up (allocator arenas, gRPC and LibTorch thread pools); its sample is the
# baseline. The load is small on purpose (a niced run on a shared machine still completes cycles):
# what is measured is that nothing accumulates. Fails when any later sample has in-flight or
# pending != 0, file descriptors above the
# baseline + 4, threads above the baseline + 8, RSS above the baseline + 64 MB (final) or + 128 MB
# (any cycle), when a phase gets a status other than OK / CANCELLED / DEADLINE_EXCEEDED /
# RESOURCE_EXHAUSTED (queue full), when the server stops answering, or when it does not exit 0
# on SIGTERM. Every sample goes to SOAK_CSV (default: the temporary directory, printed).
# Run it niced on a shared machine: nice -n 19 tests/e2e/soak_test.sh ... 1800
# usage: soak_test.sh MAMBA_EXPLAIND MAMBA_EXPLAIN GRPC_PROBE [DURATION_S (90)]
set -u
server_bin=$1
client_bin=$2
probe_bin=$3
duration=${4:-90}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

repo=$tmp/repo
mkdir -p "$repo/deep"
cp -r "$here/../../models/copy-mamba1-silu" "$repo/copy"
python3 "$here/make_deep_model.py" "$repo/copy" "$repo/deep" 8 || { bad "deep model"; finish; }
export OMP_NUM_THREADS=1
start_server soak --model_repository "$repo" --plaintext --stream_stall_timeout_s 4 \
  --max_stream_buffer_bytes 65536 \
  --drain_grace_s 2 --stop_grace_s 3 || { bad "server"; finish; }
unset OMP_NUM_THREADS
pid=$soak_pid
S="--server 127.0.0.1:$soak_port"
csv=${SOAK_CSV:-$tmp/soak.csv}
echo "cycle,elapsed_s,rss_mb,fds,threads,inflight,pending,perf_ok,perf_other,stalled_reader_code,storm" >"$csv"

log() { echo "[$((SECONDS - start)) s] $*"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
threads() { awk '/^Threads/ {print $2}' "/proc/$pid/status"; }
fds() { ls "/proc/$pid/fd" | wc -l; }
pending() {
  curl -s "http://127.0.0.1:$soak_mport/metrics" |
    awk '/^mamba_explain_pending_requests\{/ {s += $NF} END {print s + 0}'
}
quiesce() {
  for _ in $(seq 1 1200); do
    [ "$(metric "$soak_mport" mamba_explain_inflight_streams)" = 0 ] && [ "$(pending)" = 0 ] &&
      return 0
    sleep 0.1
  done
  return 1
}
# perf_run NAME ARGS...: statuses other than OK and queue-full go to perf_other.
perf_run() {
  local name=$1
  shift
  "$client_bin" perf $S --quiet --warmup 0 --json "$tmp/$name.json" "$@" >"$tmp/$name.out" \
    2>"$tmp/$name.err" || echo "perf $name failed: $(tail -c 300 "$tmp/$name.err")" >&2
}
perf_counts() {  # -> "OK OTHER" summed over the given reports
  python3 - "$@" <<'PY'
import json, sys
ok = other = 0
for path in sys.argv[1:]:
    try:
        r = json.load(open(path))
    except Exception:
        other += 1
        continue
    for level in r["levels"]:
        for code, n in level["status_counts"].items():
            if code == "OK":
                ok += n
            elif code not in ("RESOURCE_EXHAUSTED",):
                other += n
print(ok, other)
PY
}

MIX="latim-l2,latim-alti-logit,grad-x-input,integrated-gradients,mamba-attention,rollout"
cycle=0
start=$SECONDS
base_rss=0 base_fds=0 base_threads=0 max_rss=0
problems=0
while :; do
  cycle=$((cycle + 1))
  rm -f "$tmp"/perf*.json
  # A. mixed load
  log "cycle $cycle: A mixed load"
  perf_run perfA --model copy --method "$MIX" --ig-steps 8 --input-length 8,16,32 \
    --concurrency 4 --duration 15
  # B. slow readers (+ light load)
  slow=()
  log "cycle $cycle: B slow readers"
  for i in 1 2; do
    "$probe_bin" stall $S --model deep --method mamba-attention --ids 64 --id_mod 16 --stall_s 6 \
      --cancel >"$tmp/slow$i.out" 2>&1 &
    slow+=($!)
  done
  "$probe_bin" stall $S --model deep --method mamba-attention --ids 64 --id_mod 16 --stall_s 8 \
    >"$tmp/slow3.out" 2>&1 &
  slow+=($!)
  perf_run perfB --model copy --method latim-l2,grad-x-input --input-length 16 --concurrency 2 \
    --duration 8
  wait "${slow[@]}"
  # The reader that did not cancel: cut off (code 1) only when the server's buffer stayed full
  # for 4 s, which these small streams reach only on a fast machine (gRPC's transport window
  # takes the first ~64 KiB+); recorded, not asserted (reliability_e2e_test asserts the cut-off
  # with 240 MiB streams). It must end with OK or CANCELLED, nothing else.
  code3=$(sed -n 's/^code=\([0-9]*\).*/\1/p' "$tmp/slow3.out" | tail -1)
  case "$code3" in 0|1) ;; *)
    echo "cycle $cycle: stalled reader ended with code '$code3': $(head -c 300 "$tmp/slow3.out")" >&2
    problems=$((problems + 1)) ;;
  esac
  # C. cancel storm
  log "cycle $cycle: C cancel storm"
  "$probe_bin" storm $S --model copy --method latim-l2 --calls 40 --ids 32 --id_mod 16 \
    --cancel_ms_max 500 --seed "$cycle" >"$tmp/storm.out" 2>"$tmp/storm.err"
  storm=$(tail -1 "$tmp/storm.out")
  case "$storm" in *" other=0") ;; *)
    echo "cycle $cycle: storm: $storm $(head -c 300 "$tmp/storm.err")" >&2
    problems=$((problems + 1)) ;;
  esac
  kills=()
  for i in 1 2 3 4; do
    "$client_bin" explain $S --model deep --ids "$(seq -s, 1 15),$(seq -s, 1 15)" \
      --method latim-l2,latim-alti --quiet >/dev/null 2>&1 &
    kills+=($!)
  done
  sleep 0.$((3 + cycle % 6))
  kill -9 "${kills[@]}" 2>/dev/null
  wait "${kills[@]}" 2>/dev/null
  # D. quiesce and sample
  log "cycle $cycle: D quiesce"
  if ! quiesce; then
    echo "cycle $cycle: not quiet after 120 s (inflight $(metric "$soak_mport" mamba_explain_inflight_streams), pending $(pending))" >&2
    problems=$((problems + 1))
  fi
  sleep 2
  if ! kill -0 "$pid" 2>/dev/null; then bad "server died in cycle $cycle"; finish; fi
  r=$(($(rss_kb) / 1024)) f=$(fds) t=$(threads)
  inflight=$(metric "$soak_mport" mamba_explain_inflight_streams) pend=$(pending)
  read -r pok pother < <(perf_counts "$tmp"/perf*.json)
  echo "$cycle,$((SECONDS - start)),$r,$f,$t,$inflight,$pend,$pok,$pother,$code3,\"$storm\"" >>"$csv"
  echo "cycle $cycle at $((SECONDS - start)) s: rss ${r} MB, fds $f, threads $t, inflight $inflight, pending $pend, perf ok $pok other $pother; $storm"
  [ "$pother" = 0 ] || { echo "cycle $cycle: perf got other statuses" >&2; problems=$((problems + 1)); }
  [ "$pok" -gt 0 ] || { echo "cycle $cycle: no perf request succeeded" >&2; problems=$((problems + 1)); }
  if [ "$cycle" = 1 ]; then
    base_rss=$r base_fds=$f base_threads=$t
  else
    [ "$r" -gt "$max_rss" ] && max_rss=$r
    if [ "$inflight" != 0 ] || [ "$pend" != 0 ] || [ "$f" -gt $((base_fds + 4)) ] ||
      [ "$t" -gt $((base_threads + 8)) ] || [ "$r" -gt $((base_rss + 128)) ]; then
      echo "cycle $cycle: over the baseline (rss $base_rss MB, fds $base_fds, threads $base_threads)" >&2
      problems=$((problems + 1))
    fi
  fi
  [ $((SECONDS - start)) -ge "$duration" ] && [ "$cycle" -ge 2 ] && break
done

echo "soak: $cycle cycles in $((SECONDS - start)) s; baseline rss $base_rss MB, fds $base_fds, threads $base_threads; last rss $r MB, fds $f, threads $t; max rss after warm-up $max_rss MB; samples in $csv"
[ "$problems" = 0 ] && ok "every cycle: statuses as expected, quiet within 120 s, within the bounds" ||
  bad "$problems problems (above)"
if [ "$r" -le $((base_rss + 64)) ] && [ "$f" -le $((base_fds + 4)) ] && [ "$t" -le $((base_threads + 8)) ] &&
  [ "$inflight" = 0 ] && [ "$pend" = 0 ]; then
  ok "RSS, fds, threads and the in-flight/pending gauges back to baseline (rss +$((r - base_rss)) MB, fds +$((f - base_fds)), threads +$((t - base_threads)))"
else bad "not back to baseline"; fi
if "$client_bin" explain $S --model copy --ids 1,2,3,4 --method latim-l2 --quiet >/dev/null 2>"$tmp/last.err"; then
  ok "the server still answers"
else bad "final request: $(head -c 300 "$tmp/last.err")"; fi
kill -TERM "$pid"
if wait "$pid"; then ok "server exits 0 on SIGTERM"; else bad "server exit $?: $(tail -5 "$tmp/soak.log")"; fi
finish
