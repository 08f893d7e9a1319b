#!/usr/bin/env bash
# GPU host (no registry, no container runtime): assembles the GPU image's runtime filesystem
# (Dockerfile.gpu's final stage: /usr/local/bin/{mamba-explaind,mamba-explain}, LibTorch and the
# NVIDIA wheel libraries in /opt/libtorch/lib, user 65534, /models) from the GPU build and the
# host's PyTorch, then runs the server from it with chroot as uid 65534 on the GPU: health, one
# Explain, the /metrics scrape. Run from the project root after the GPU build:
#
#   source .device/env.sh && cmake -S . -B build-gpu -G Ninja $DEVICE_CMAKE_ARGS \
#     -DCMAKE_CUDA_ARCHITECTURES='80-real;90-real;90-virtual' -DME_BUILD_TESTS=OFF \
#     && cmake --build build-gpu --target mamba-explaind mamba-explain \
#     && bash scripts/gpu_rootfs.sh build-gpu /tmp/me-rootfs
#
# The image's OS libraries (gRPC, protobuf, Abseil, ICU, glibc) come from its base and apt; here
# they are the ldd closure of the binaries on this host (the Debian 12 packages of .device/ and
# the host's glibc), copied with the dynamic loader, so the tree needs nothing from outside it
# except the GPU driver's libraries, which are copied in as the NVIDIA container runtime would
# mount them. Env: METRICS_PORT (default 9464; -1 where civetweb cannot start, e.g. gVisor);
# DEVICE (default cuda).
# Prints 'gpu_rootfs: OK' last.
set -euo pipefail
build=${1:?usage: gpu_rootfs.sh BUILD_DIR OUT_DIR}
out=${2:?usage: gpu_rootfs.sh BUILD_DIR OUT_DIR}
t0=$(date +%s)
log() { echo "gpu_rootfs: [$(($(date +%s) - t0))s] $*" >&2; }

rm -rf "$out"
mkdir -p "$out"/{usr/local/bin,opt/libtorch/lib,etc,tmp,models,dev,proc,sys}
chmod 1777 "$out/tmp"
install -m 0755 "$build/mamba-explaind" "$build/mamba-explain" "$out/usr/local/bin/"

# LibTorch and every NVIDIA library the PyTorch distribution ships (cuBLAS, cuDNN, cuSPARSELt,
# NVSHMEM, NCCL, ...), as Dockerfile.gpu flattens them.
# Without PyTorch (a CPU build against Debian's LibTorch, DEVICE=cpu: a dry run of this script
# anywhere) LibTorch comes with the ldd closure below.
site=$(python3 -c 'import torch, os; print(os.path.dirname(os.path.dirname(torch.__file__)))' 2>/dev/null || true)
if [ -n "$site" ]; then
  cp -a "$site"/torch/lib/*.so* "$out/opt/libtorch/lib/"
  for d in "$site"/nvidia/*/lib "$site"/nvidia/cu*/lib; do
    [ -d "$d" ] && cp -a "$d"/*.so* "$out/opt/libtorch/lib/" 2>/dev/null || true
  done
fi
log "LibTorch + NVIDIA wheel libraries: $(ls "$out/opt/libtorch/lib" | wc -l) files"
device=${DEVICE:-cuda}

# The OS closure: every library ldd resolves outside /opt/libtorch, at its own path, plus the
# loader. LD_LIBRARY_PATH inside the tree: /opt/libtorch/lib first, then the copied paths.
export LD_LIBRARY_PATH=$out/opt/libtorch/lib:${LD_LIBRARY_PATH:-}
missing=$(ldd "$out"/usr/local/bin/* | grep 'not found' | grep -v 'libcuda.so' || true)
[ -z "$missing" ] || { echo "unresolved libraries:" >&2; echo "$missing" >&2; exit 1; }
libdirs=()
while read -r lib; do
  [ -n "$lib" ] || continue
  case $lib in "$out"/*) continue ;; esac
  mkdir -p "$out$(dirname "$lib")"
  cp -L "$lib" "$out$lib"
  d=$(dirname "$lib")
  [[ " ${libdirs[*]:-} " == *" $d "* ]] || libdirs+=("$d")
done < <(ldd "$out"/usr/local/bin/* "$out"/opt/libtorch/lib/*.so* 2>/dev/null |
  awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' | sort -u)
# The driver's user-space libraries (what the NVIDIA container runtime mounts).
for lib in $(ldconfig -p 2>/dev/null | awk '/libcuda\.so|libnvidia-ml\.so|libnvidia-ptxjitcompiler\.so/ {print $NF}' | sort -u); do
  mkdir -p "$out$(dirname "$lib")"
  cp -L "$lib" "$out$lib"
  d=$(dirname "$lib")
  [[ " ${libdirs[*]} " == *" $d "* ]] || libdirs+=("$d")
done
printf 'root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$out/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$out/etc/group"
cp -r models/copy-mamba1-silu "$out/models/"
chown -R 65534:65534 "$out/models"
tree_ld=/opt/libtorch/lib:$(IFS=:; echo "${libdirs[*]}")
log "rootfs $out: $(du -sh "$out" | cut -f1), library path $tree_ld"

# --- run from it --------------------------------------------------------------------------------
for m in dev proc sys; do mount --rbind "/$m" "$out/$m"; done
cleanup() {
  set +e  # a failing kill/wait must not skip the rest (errexit applies in traps)
  [ -n "${spid:-}" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
  for m in dev proc sys; do umount -l "$out/$m" 2>/dev/null || true; done
}
trap cleanup EXIT
chroot_bin=$(command -v chroot)
inroot() { env -i LD_LIBRARY_PATH="$tree_ld" "$chroot_bin" --userspec=65534:65534 "$out" "$@"; }
mport=${METRICS_PORT:-9464}
# Started without a shell in between, so that $! is the server itself (env and chroot exec it).
env -i LD_LIBRARY_PATH="$tree_ld" "$chroot_bin" --userspec=65534:65534 "$out" \
  /usr/local/bin/mamba-explaind --model_repository=/models --device="$device" --plaintext \
  --readiness=all --host 127.0.0.1 --port 0 --metrics_address 127.0.0.1 --metrics_port "$mport" \
  >"$out/tmp/server.log" 2>&1 &
spid=$!
port=
for _ in $(seq 1 1200); do
  port=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$out/tmp/server.log")
  [ -n "$port" ] && break
  kill -0 "$spid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { cat "$out/tmp/server.log" >&2; exit 1; }
log "server (chroot, uid 65534, $device) on port $port: $(grep -c . "$out/tmp/server.log") log lines"
log "health: $(inroot /usr/local/bin/mamba-explain health --server "127.0.0.1:$port" --service mamba_explain.v1.Explainer)"
ids=0,5,9,3,12,7,2,14,6,1,5,9,3,12,7,2,14
inroot /usr/local/bin/mamba-explain explain --server "127.0.0.1:$port" --model copy-mamba1-silu \
  --ids "$ids" --method latim-l2,latim-alti --json /tmp/explain.json 2>&1 | tail -2
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("gpu_rootfs: explain:", len(d["results"]), "results, summary", d.get("summary"))' "$out/tmp/explain.json"
if [ "$mport" -ge 0 ]; then
  curl -fsS "http://127.0.0.1:$mport/metrics" | grep -E '^mamba_explain_(requests_total|gpu_memory_bytes|batch_size_count)' ||
    log "metrics scrape failed (civetweb in gVisor? rerun with METRICS_PORT=-1)"
fi
kill -TERM "$spid"
wait "$spid" || true
spid=
tail -2 "$out/tmp/server.log"
log "total $(($(date +%s) - t0))s"
echo "gpu_rootfs: OK"
