#!/usr/bin/env bash
# GPU host, issue 18's "a served 262 144-token request returns the last row through the client":
# builds the server and the client (build-gpu, the GPU host's recipe) while HF transformers makes
# random 130m-shaped Mamba-2 and Mamba-1 checkpoints (24 layers, d_model 768, GPT-NeoX vocabulary,
# HF's initialisation, seed 0; as tools/gpu_perf_check.sh), starts mamba-explaind on CUDA with
# --max_tokens 1048576 (bf16, 2 GiB LaTIM budget as latim_bench), and sends each model one
# 262 144-token request through the C++ client: --ids-file, rows last, LaTIM ℓ2, TOP_K 16, all 24
# layers. Its ids and token strings (~2.6 MB) travel in the Header and InputTokens messages.
# Records under $OUT: per model the client's exit code and wall time, the server's timings
# (summary), peak GPU memory (nvidia-smi sampled every 100 ms, and the server's reserved-memory
# gauge), whether the client got every id back, the top entries of the last row at layers 0 and
# 23, and the stream log (message kinds and sizes); plus the server log and summary.txt.
# About 1.5 minutes with build-gpu already built (model creation overlaps the build); a fresh
# build of the two binaries adds its own time. Environment: ARCHS ("mamba2 mamba1"), N (262144),
# TOP_K (16), PRECISION (bf16), SKIP_BUILD=1 (reuse ./build-gpu as it is).
#   source .device/env.sh && bash tools/gpu_longserve_check.sh
set -euo pipefail
# The carried Debian packages live under /opt/deb (.device/env.sh); their .pc files say /usr.
[ -d /opt/deb ] && export PKG_CONFIG_SYSROOT_DIR=/opt/deb
out=${OUT:-/tmp}/longserve
mkdir -p "$out"
B=./build-gpu
archs=${ARCHS:-mamba2 mamba1}
n=${N:-262144}
top_k=${TOP_K:-16}
precision=${PRECISION:-bf16}
t0=$(date +%s)
stamp() { echo "[$(($(date +%s) - t0)) s] $*" | tee -a "$out/summary.txt"; }
work=$(mktemp -d)
spid=
mpid=
cleanup() {
  [ -n "$mpid" ] && kill "$mpid" 2>/dev/null || true
  if [ -n "$spid" ] && kill -0 "$spid" 2>/dev/null; then
    kill -TERM "$spid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$spid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
: >"$out/summary.txt"
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  git rev-parse HEAD 2>/dev/null || true
  date -u
} | tee -a "$out/summary.txt"

# Random checkpoints on the CPU, in the background while the binaries build.
python3 - "$work/repo" >"$out/models.log" 2>&1 <<'PY' &
import sys, torch
from transformers import Mamba2Config, Mamba2ForCausalLM, MambaConfig, MambaForCausalLM
repo = sys.argv[1]
torch.manual_seed(0)
m2 = Mamba2ForCausalLM(Mamba2Config(vocab_size=50288, hidden_size=768, num_hidden_layers=24,
                                    state_size=128, expand=2, head_dim=64, num_heads=24,
                                    n_groups=1, conv_kernel=4, chunk_size=256))
m2.save_pretrained(f"{repo}/m2-130m", safe_serialization=True)
del m2
m1 = MambaForCausalLM(MambaConfig(vocab_size=50280, hidden_size=768, num_hidden_layers=24,
                                  state_size=16, expand=2, conv_kernel=4))
m1.save_pretrained(f"{repo}/m1-130m", safe_serialization=True)
print("models:", repo)
PY
models_pid=$!
python3 -c "
import random; r = random.Random(18)
print('\n'.join(' '.join(str(r.randrange(50280)) for _ in range(1024)) for _ in range($n // 1024)))
" >"$work/ids.txt"
[ "$(wc -w <"$work/ids.txt")" -eq "$n" ] || { echo "N must be a multiple of 1024"; exit 1; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cmake -S . -B build-gpu -G Ninja $DEVICE_CMAKE_ARGS >"$out/cmake.log" 2>&1 ||
    { tail -50 "$out/cmake.log"; exit 1; }
  timeout 900 cmake --build build-gpu -j16 --target mamba-explaind mamba-explain \
    >"$out/build.log" 2>&1 || { grep -E "error|Error" -A5 "$out/build.log" | head -80; exit 1; }
fi
stamp "built"
wait "$models_pid" || { echo "model creation failed:"; tail -20 "$out/models.log"; exit 1; }
stamp "models made"

$B/mamba-explaind --model_repository "$work/repo" --device cuda --precision "$precision" \
  --host 127.0.0.1 --port 0 --metrics_address 127.0.0.1 --metrics_port 0 --plaintext \
  --max_tokens 1048576 --memory_budget_mib 2048 >"$out/server.log" 2>&1 &
spid=$!
port=
for _ in $(seq 1 1800); do
  port=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$out/server.log" | head -1)
  [ -n "$port" ] && break
  kill -0 "$spid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { echo "server did not start:"; tail -30 "$out/server.log"; exit 1; }
mport=$(sed -n 's/.*metrics_port=\([-0-9]*\).*/\1/p' "$out/server.log" | head -1)
S=127.0.0.1:$port
timeout 30 $B/mamba-explain models --server "$S" >"$out/models.json" 2>&1 || true
head -c 800 "$out/models.json" | tee -a "$out/summary.txt"
echo
stamp "server ready (grpc $port, metrics ${mport:-none})"

status=0
for arch in $archs; do
  case $arch in mamba2) model=m2-130m ;; mamba1) model=m1-130m ;; *) echo "ARCHS: $arch?"; exit 1 ;; esac
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 \
    >"$out/gpu_mem_$arch.csv" 2>/dev/null &
  mpid=$!
  start=$(date +%s.%N)
  rc=0
  timeout 240 $B/mamba-explain explain --server "$S" --model "$model" --ids-file "$work/ids.txt" \
    --method latim-l2 --rows last --top-k "$top_k" --timeout 200 --quiet \
    --json "$work/$arch.json" --stream-log "$out/stream_$arch.jsonl" 2>"$out/client_$arch.err" ||
    rc=$?
  end=$(date +%s.%N)
  kill "$mpid" 2>/dev/null || true
  wait "$mpid" 2>/dev/null || true
  mpid=
  [ "$rc" -eq 0 ] || status=1
  reserved=
  if [ -n "${mport:-}" ] && [ "$mport" -gt 0 ]; then
    reserved=$(curl -s --max-time 5 "http://127.0.0.1:$mport/metrics" |
      awk '/^mamba_explain_gpu_memory_bytes/ && /reserved/ {print $NF; exit}' || true)
  fi
  python3 - "$arch" "$rc" "$start" "$end" "$work/ids.txt" "$work/$arch.json" \
    "$out/gpu_mem_$arch.csv" "${reserved:-}" "$out/client_$arch.err" <<'PY' |
import json, sys
arch, rc, start, end, ids_path, json_path, mem_path, reserved, err_path = sys.argv[1:]
print(f"== {arch}: client exit {rc}, wall {float(end) - float(start):.2f} s")
mem = [int(x) for x in open(mem_path).read().split() if x.strip().isdigit()]
if mem:
    print(f"GPU memory used (nvidia-smi, whole device, 100 ms samples): peak {max(mem)} MiB, "
          f"before {mem[0]} MiB")
if reserved:
    print(f"server gauge mamba_explain_gpu_memory_bytes{{state=reserved}}: "
          f"{float(reserved) / 2**30:.2f} GiB")
if rc != "0":
    print("client stderr:", open(err_path).read()[-1500:])
    sys.exit(0)
ids = [int(x) for x in open(ids_path).read().split()]
d = json.load(open(json_path))
print(f"ids back: {len(d['ids'])} (equal to the sent ids: {d['ids'] == ids}), "
      f"token strings: {len(d['tokens'])}, target rows: {d['target_rows']}")
s = d.get("summary", {})
print("summary:", {k: s.get(k) for k in ("queue_ms", "compute_ms", "stream_ms", "total_ms",
                                         "layer_results", "nnz", "kept_mass")})
results = d["results"]
print(f"results: {len(results)} (layers {results[0]['layer']}..{results[-1]['layer']})")
for r in (results[0], results[-1]):
    row = r["matrix"][0]
    top = sorted(((abs(v), j, v) for j, v in enumerate(row) if v != 0), reverse=True)[:8]
    print(f"layer {r['layer']} last row, top entries (position: value):",
          ", ".join(f"{j}: {v:.4g}" for _, j, v in top),
          f"| kept_mass {r.get('kept_mass')}, approx_error {r.get('approx_error')}")
PY
    tee -a "$out/summary.txt" || status=1
  stamp "$arch done"
done
kill -TERM "$spid" 2>/dev/null || true
wait "$spid" 2>/dev/null || true
spid=
tail -5 "$out/server.log" >>"$out/summary.txt"
stamp "done (exit $status)"
exit $status
