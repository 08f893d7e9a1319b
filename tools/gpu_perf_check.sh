#!/usr/bin/env bash
# GPU host: serving throughput of issue 11's target table with `mamba-explain perf`. Builds the
# server and client (build-gpu, the GPU host's recipe), makes random 130m-shaped Mamba-1 and
# Mamba-2 checkpoints with HF transformers (24 layers, d_model 768, GPT-NeoX vocabulary; HF's
# own initialisation, seed 0), starts two mamba-explaind on CUDA serving both (the default
# --max_batch_size 32 and --max_batch_size 1), then per model runs 128-token requests:
#   latim-l2 last row and all rows at concurrency 32 on both servers (batching gain),
#   latim-l2 last row at concurrency 1 (latency), grad-x-input, mamba-lrp and
#   integrated-gradients (30 steps) last row at concurrency 32, and a method mix (each request
#   asks latim-l2 or grad-x-input at random, about half each; they share batches, each method
#   family running once per batch over its requests) on both servers.
# Writes one perf JSON (and CSV) per run and summary.md under $OUT/perf, plus the server logs.
# About 6-7 minutes with build-gpu already built. Environment: PRECISION (bf16), DURATION (5 s
# per level), WARMUP (2 s), EXTRA (more perf flags, e.g. "--top-k 16").
#   source .device/env.sh && bash tools/gpu_perf_check.sh
set -uo pipefail
# The carried Debian packages live under /opt/deb (.device/env.sh); their .pc files say /usr.
[ -d /opt/deb ] && export PKG_CONFIG_SYSROOT_DIR=/opt/deb
out=${OUT:-/tmp}/perf
mkdir -p "$out"
B=./build-gpu
precision=${PRECISION:-bf16}
duration=${DURATION:-5}
warmup=${WARMUP:-2}
extra=${EXTRA:-}
cmake -S . -B build-gpu -G Ninja $DEVICE_CMAKE_ARGS >"$out/cmake.log" 2>&1 ||
  { tail -50 "$out/cmake.log"; exit 1; }
cmake --build build-gpu -j16 --target mamba-explaind mamba-explain metrics_probe \
  >"$out/build.log" 2>&1 || { grep -E "error|Error" -A5 "$out/build.log" | head -80; exit 1; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/device.txt"
git rev-parse HEAD | tee -a "$out/device.txt"
date -u | tee -a "$out/device.txt"
$B/metrics_probe 127.0.0.1:0 >"$out/metrics_probe.txt" 2>&1; tail -3 "$out/metrics_probe.txt"

repo=$(mktemp -d)
python3 - "$repo" <<'PY' || { echo "model creation failed"; exit 1; }
import sys, torch
from transformers import Mamba2Config, Mamba2ForCausalLM, MambaConfig, MambaForCausalLM
repo = sys.argv[1]
torch.manual_seed(0)
m1 = MambaForCausalLM(MambaConfig(vocab_size=50280, hidden_size=768, num_hidden_layers=24,
                                  state_size=16, expand=2, conv_kernel=4))
m1.save_pretrained(f"{repo}/m1-130m", safe_serialization=True)
m2 = Mamba2ForCausalLM(Mamba2Config(vocab_size=50288, hidden_size=768, num_hidden_layers=24,
                                    state_size=128, expand=2, head_dim=64, num_heads=24,
                                    n_groups=1, conv_kernel=4, chunk_size=256))
m2.save_pretrained(f"{repo}/m2-130m", safe_serialization=True)
print("models:", repo)
PY

# start NAME ARGS...: a server on CUDA serving both models; sets ${NAME}_port.
start() {
  local name=$1
  shift
  $B/mamba-explaind --model_repository "$repo" --device cuda --precision "$precision" \
    --host 127.0.0.1 --port 0 --metrics_address 127.0.0.1 --metrics_port 0 --plaintext \
    --max_queue 256 "$@" >"$out/server_$name.log" 2>&1 &
  eval "${name}_pid=$!"
}
start batched --max_batch_size 32
start solo --max_batch_size 1
for name in batched solo; do
  port=
  for _ in $(seq 1 1800); do
    port=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$out/server_$name.log" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "server $name did not start"; cat "$out/server_$name.log"; exit 1; }
  eval "${name}_port=$port"
  grep -E "metrics|grpc_port" "$out/server_$name.log" | head -3
done

# run MODEL NAME SERVER_PORT ARGS...
run() {
  local model=$1 name=$2 port=$3
  shift 3
  echo "== $model $name"
  $B/mamba-explain perf --server "127.0.0.1:$port" --model "$model" --input-length 128 \
    --duration "$duration" --warmup "$warmup" --drain-timeout 15 --quiet \
    --json "$out/${model}_$name.json" --csv "$out/${model}_$name.csv" $extra "$@" 2>&1 | tail -3
}
for model in m1-130m m2-130m; do
  run $model latim_last_c32_b32 "$batched_port" --method latim-l2 --rows last --concurrency 32
  run $model latim_last_c32_b1 "$solo_port" --method latim-l2 --rows last --concurrency 32
  run $model latim_all_c32_b32 "$batched_port" --method latim-l2 --rows all --concurrency 32
  run $model latim_all_c32_b1 "$solo_port" --method latim-l2 --rows all --concurrency 32
  run $model latim_last_c1 "$batched_port" --method latim-l2 --rows last --concurrency 1
  run $model gxi_last_c32 "$batched_port" --method grad-x-input --rows last --concurrency 32
  run $model lrp_last_c32 "$batched_port" --method mamba-lrp --rows last --concurrency 32
  run $model ig30_last_c32 "$batched_port" --method integrated-gradients --ig-steps 30 \
    --rows last --concurrency 32
  run $model mix_last_c32_b32 "$batched_port" --method latim-l2,grad-x-input --rows last \
    --concurrency 32
  run $model mix_last_c32_b1 "$solo_port" --method latim-l2,grad-x-input --rows last \
    --concurrency 32
done
mport=$(sed -n 's/.*metrics_port=\([-0-9]*\).*/\1/p' "$out/server_batched.log" | head -1)
if [ "${mport:--1}" -gt 0 ]; then
  curl -s "127.0.0.1:$mport/metrics" | grep -E "^mamba_explain_(batch_size_(sum|count)|requests_total)" |
    head -20 >"$out/metrics.txt"
  echo "metrics: $(wc -l <"$out/metrics.txt") lines"
fi
kill -TERM "$batched_pid" "$solo_pid"
wait "$batched_pid" "$solo_pid"

python3 - "$out" "$precision" <<'PY' | tee "$out/summary.md"
import glob, json, os, sys
out, precision = sys.argv[1], sys.argv[2]
print(f"precision {precision}; 128-token inputs; {open(os.path.join(out, 'device.txt')).read().strip()}")
print()
print("| model | run | req/s | p50 ms | p99 ms | mean batch | server queue / compute ms | status |")
print("|---|---|---|---|---|---|---|---|")
tp = {}
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    r = json.load(open(path))
    if "levels" not in r:
        continue
    l = r["levels"][0]
    name = os.path.basename(path)[:-5]
    model, run = name.split("_", 1)
    tp[(model, run)] = l["throughput_rps"]
    s = l["server_ms"]
    print(f"| {model} | {run} | {l['throughput_rps']:.1f} | {l['latency_ms']['p50']:.1f} | "
          f"{l['latency_ms']['p99']:.1f} | {l['mean_batch_size']:.1f} | "
          f"{s['queue']['mean']:.1f} / {s['compute']['mean']:.1f} | {l['status_counts']} |")
print()
for (model, run), v in sorted(tp.items()):
    if run.endswith("_b32") and (model, run[:-4] + "_b1") in tp:
        solo = tp[(model, run[:-4] + "_b1")]
        print(f"batching gain {model} {run[:-4]}: {v / solo if solo else float('inf'):.1f}x")
PY
