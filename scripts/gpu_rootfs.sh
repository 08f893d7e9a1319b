#!/usr/bin/env bash
# A host without a container runtime or registry (the project's GPU host): assembles the runtime
# filesystem of the GPU image (Dockerfile.gpu's final stage) from a GPU build and the host's
# PyTorch, then runs mamba-explaind from it as the image would, with chroot as uid 65534, and
# proves it: the loader resolves every library inside the tree, health SERVING, one Explain on
# the GPU, the HTTP gateway, a /metrics scrape, and every shared object the running server has
# mapped lies inside the tree; SIGTERM drains it.
#
#   usage: scripts/gpu_rootfs.sh BUILD_DIR ROOTFS_DIR
#   (tools/gpu_rootfs_check.sh builds BUILD_DIR and calls this on the GPU host; docs/operations.md)
#
# The tree, as the image lays it out:
#   /usr/local/bin/{mamba-explaind,mamba-explain}   from BUILD_DIR
#   /opt/libtorch/lib       torch/lib and every nvidia/*/lib of the PyTorch wheels, flattened
#                           (cuBLAS, cuDNN, cuSPARSELt, NVSHMEM, NCCL, ...) as the builder stage does
#   /usr/lib/x86_64-linux-gnu + /lib64/ld-linux-x86-64.so.2
#                           the OS libraries: where the image installs them with apt, here the ldd
#                           closure of the binaries and of LibTorch on this host (glibc, libstdc++,
#                           gRPC 1.51, protobuf 3.21, Abseil 20220623, ICU, cpp-httplib: the
#                           versions Ubuntu 24.04's apt also has), by soname
#   /usr/lib/x86_64-linux-gnu/libcuda.so.1, libnvidia-{ml,ptxjitcompiler,nvvm,gpucomp}.so.*
#                           the driver's user-space libraries, copied in as the NVIDIA container
#                           toolkit mounts them, and ld.so.cache rebuilt (its ldconfig hook)
#   /etc/passwd, /etc/group (nobody 65534), /tmp (1777), /models (the volume: the model
#   repository bind-mounted read-only), /dev /proc /sys bind-mounted from the host
# Environment of the server: exactly Dockerfile.gpu's ENV (LD_LIBRARY_PATH=/opt/libtorch/lib:
# /usr/local/cuda/lib64, NVIDIA_*) plus PATH, HOME=/tmp and CUDA_CACHE_PATH=/tmp/cuda-cache (the
# gpu overlay's); its arguments: the image's CMD with loopback addresses and free ports.
#
# Mode: chroot needs root (the GPU host's commands run as root). Without it (MODE=ldpath, or
# chroot refused) the server runs from the tree's own loader with only the tree's library path
# (--inhibit-cache) and the mapped-objects check is what proves that nothing came from outside.
# Env: DEVICE (cuda), MODEL_DIR (models/copy-mamba1-silu), MODE (chroot|ldpath), KEEP=1 (leave the
# tree). Prints 'gpu_rootfs: OK' last and exits 0 only when every check passed.
set -uo pipefail
build=${1:?usage: gpu_rootfs.sh BUILD_DIR ROOTFS_DIR}
root=${2:?usage: gpu_rootfs.sh BUILD_DIR ROOTFS_DIR}
build=$(cd "$build" && pwd)
mkdir -p "$root" && root=$(cd "$root" && pwd)
# Only a folder this script made (its marker) or an empty one is (re)made: never anything else.
if [ -n "$(ls -A "$root")" ] && [ ! -e "$root/.gpu_rootfs" ] || [ "$root" = / ]; then
  echo "gpu_rootfs: $root is not empty and not a tree of this script: refusing to replace it" >&2
  exit 2
fi
device=${DEVICE:-cuda}
model_dir=${MODEL_DIR:-models/copy-mamba1-silu}
mode=${MODE:-chroot}
chroot_bin=$(command -v chroot || echo /usr/sbin/chroot)  # env -i has no PATH with sbin
t0=$(date +%s)
log() { echo "gpu_rootfs: [$(($(date +%s) - t0))s] $*"; }
failed=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
section() { echo "----- $* -----"; }

# Mounts under the tree (the host's /dev, /proc, /sys are bound there): undone before anything
# under it is removed, and removal never leaves the tree's filesystem (--one-file-system).
mounts_under() { awk -v r="$1/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r; }
unmount_all() { for m in $(mounts_under "$root"); do umount -l "$m" 2>/dev/null; done; }
remove_tree() {
  unmount_all
  if [ -n "$(mounts_under "$root")" ]; then
    echo "gpu_rootfs: still mounted under $root, not removing it: $(mounts_under "$root" | tr '\n' ' ')"
    return 1
  fi
  rm -rf --one-file-system "$root"
}
spid=
cleanup() {
  set +e  # a failing kill/wait must not skip the rest
  [ -n "$spid" ] && kill -KILL "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
  unmount_all
  [ "${KEEP:-0}" = 1 ] || remove_tree
  [ -n "${models_src:-}" ] && rm -rf "$models_src"
}
trap cleanup EXIT
trap 'exit 124' TERM INT  # a timeout still unmounts (the EXIT trap)

# --- assemble ------------------------------------------------------------------------------------
remove_tree || exit 1
lib=usr/lib/x86_64-linux-gnu
mkdir -p "$root"/{usr/local/bin,opt/libtorch/lib,$lib,lib64,etc/ld.so.conf.d,tmp,models,dev,proc,sys,usr/local/cuda/lib64}
chmod 1777 "$root/tmp"
touch "$root/.gpu_rootfs"
install -m 0755 "$build/mamba-explaind" "$build/mamba-explain" "$root/usr/local/bin/"
# Hard links where the tree is on the same filesystem (the same bytes, instant), else copies.
put() { cp -al "$@" 2>/dev/null || cp -a "$@"; }

read -r site torch_version < <(python3 -c 'import torch, os
print(os.path.dirname(os.path.dirname(torch.__file__)), torch.__version__)' 2>/dev/null) || true
if [ -n "${site:-}" ]; then
  put "$site"/torch/lib/*.so* "$root/opt/libtorch/lib/"
  for d in "$site"/nvidia/*/lib "$site"/nvidia/*/*/lib; do
    [ -d "$d" ] && compgen -G "$d/*.so*" >/dev/null && put "$d"/*.so* "$root/opt/libtorch/lib/"
  done
  log "LibTorch $torch_version + NVIDIA wheel libraries from $site: $(ls "$root/opt/libtorch/lib" | wc -l) files in /opt/libtorch/lib"
else
  log "no PyTorch here: LibTorch comes with the OS closure (a CPU dry run, DEVICE=cpu)"
fi

# The driver's user-space libraries, from where this host's loader finds libcuda.so.1.
drv=$(ldconfig -p 2>/dev/null | awk '$1 == "libcuda.so.1" {print $NF; exit}')
if [ -z "$drv" ]; then
  ldp=${LD_LIBRARY_PATH:-}
  for d in ${ldp//:/ } /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu /usr/lib64; do
    [ -e "$d/libcuda.so.1" ] && { drv=$d/libcuda.so.1; break; }
  done
fi
if [ -n "$drv" ]; then
  ddir=$(dirname "$(readlink -f "$drv")")
  for f in "$ddir"/libcuda.so* "$ddir"/libnvidia-ml.so* "$ddir"/libnvidia-ptxjitcompiler.so* \
           "$ddir"/libnvidia-nvvm.so* "$ddir"/libnvidia-gpucomp.so*; do
    [ -e "$f" ] || continue
    if [ -L "$f" ]; then ln -sf "$(basename "$(readlink -f "$f")")" "$root/$lib/$(basename "$f")"
    else put "$f" "$root/$lib/"; fi
  done
  log "driver libraries from $ddir: $(cd "$root/$lib" && ls -d libcuda.so* libnvidia-* 2>/dev/null | tr '\n' ' ')"
elif [ "$device" = cuda ]; then
  fail "libcuda.so.1 not found on this host (ldconfig -p, LD_LIBRARY_PATH, /usr/local/nvidia/lib64)"
fi

# The OS closure, one file per soname, resolved as this host's loader does with LibTorch first.
export LD_LIBRARY_PATH=$root/opt/libtorch/lib:${LD_LIBRARY_PATH:-}
declare -A have=()
closure() {
  ldd "$@" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u
}
# ldd lists the whole transitive closure of each object, so one pass over the binaries, the
# libraries LibTorch may dlopen and the driver's covers everything.
while read -r soname path; do
  [ -n "${have[$soname]:-}" ] && continue
  have[$soname]=1
  case $path in "$root"/*) continue ;; esac
  [ -e "$root/$lib/$soname" ] || cp -L "$path" "$root/$lib/$soname"
done < <(closure "$root"/usr/local/bin/* "$root"/opt/libtorch/lib/*.so* "$root/$lib"/lib*.so*)
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/ld-linux-x86-64.so.2"
ln -sf /lib64/ld-linux-x86-64.so.2 "$root/$lib/ld-linux-x86-64.so.2"
printf '/usr/local/lib\n/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n' \
  >"$root/etc/ld.so.conf.d/x86_64-linux-gnu.conf"
echo 'include /etc/ld.so.conf.d/*.conf' >"$root/etc/ld.so.conf"
ln -sfn usr/lib "$root/lib"
ldconfig -r "$root" 2>/dev/null && log "ld.so.cache rebuilt in the tree (ldconfig -r)" ||
  log "ldconfig -r refused (not root?): the loader's default directories still cover $lib"
printf 'root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
chown 65534:65534 "$root/models"
unset LD_LIBRARY_PATH
log "tree $root: $(du -sh "$root" | cut -f1) ($(ls "$root/$lib" | wc -l) OS/driver files in /$lib)"

# --- run it ----------------------------------------------------------------------------------------
image_env=(PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp
  LD_LIBRARY_PATH=/opt/libtorch/lib:/usr/local/cuda/lib64
  NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility "NVIDIA_REQUIRE_CUDA=cuda>=13.0"
  CUDA_CACHE_PATH=/tmp/cuda-cache)
# The model repository is a volume: a copy of the model (the server refuses symlinks out of its
# repository), bind-mounted read-only over /models.
models_src=$(mktemp -d)
cp -r "$model_dir" "$models_src/"
chmod -R a+rX "$models_src"
model=$(basename "$model_dir")
if [ "$mode" = chroot ]; then
  ok_mounts=1
  for m in dev proc sys; do mount --rbind "/$m" "$root/$m" || ok_mounts=0; done
  { mount --bind "$models_src" "$root/models" && mount -o remount,bind,ro "$root/models"; } || ok_mounts=0
  if [ "$ok_mounts" = 1 ] && env -i "$chroot_bin" --userspec=65534:65534 --groups=65534 "$root" \
       /lib64/ld-linux-x86-64.so.2 --version >/dev/null 2>&1; then
    log "mode chroot: / = the tree, uid 65534, /models the read-only volume"
  else
    log "chroot or its mounts refused here: MODE=ldpath instead"
    unmount_all
    mode=ldpath
  fi
fi
tree_path=$root/opt/libtorch/lib:$root/usr/local/cuda/lib64:$root/$lib
noldpath_env=("${image_env[@]/LD_LIBRARY_PATH=*/LD_LIBRARY_PATH=}")
# inroot PROGRAM ARGS...: a program of the tree (its path inside the tree), with the image's
# environment; chroot: as uid 65534 with / = the tree; ldpath: through the tree's loader with only
# the tree's library path.
if [ "$mode" = chroot ]; then
  inroot() { env -i "${image_env[@]}" "$chroot_bin" --userspec=65534:65534 --groups=65534 "$root" "$@"; }
  listlibs() { inroot /lib64/ld-linux-x86-64.so.2 --list "$1"; }
  models_arg=/models
  tmp_in=/tmp
else
  inroot() {
    local exe=$1
    shift
    env -i "${noldpath_env[@]}" "$root/lib64/ld-linux-x86-64.so.2" --inhibit-cache \
      --library-path "$tree_path" "$root$exe" "$@"
  }
  listlibs() {
    env -i "$root/lib64/ld-linux-x86-64.so.2" --inhibit-cache --library-path "$tree_path" --list "$root$1"
  }
  models_arg=$models_src
  tmp_in=$root/tmp
  log "mode ldpath: the tree's loader with --inhibit-cache --library-path $tree_path, as uid $(id -u)"
fi

section "loader: the libraries of both binaries"
ldlist=$(for b in mamba-explaind mamba-explain; do listlibs "/usr/local/bin/$b"; done 2>&1)
echo "$ldlist" | sort -u
resolved=$(echo "$ldlist" | awk '$2 == "=>" {print $3}' | sort -u)
if echo "$ldlist" | grep -q 'not found'; then
  fail "loader: $(echo "$ldlist" | grep 'not found' | sort -u | tr '\n' ' ')"
elif [ "$mode" = ldpath ] && echo "$resolved" | grep -v "^$root/" | grep -q .; then
  fail "loader: resolved outside the tree: $(echo "$resolved" | grep -v "^$root/" | tr '\n' ' ')"
else
  pass "loader: $(echo "$resolved" | grep -c .) libraries, every one resolved inside the tree"
fi

section "server"
# The GPU's device nodes as uid 65534 sees them (the container runtime passes the same ones).
[ "$device" = cuda ] && ls -l /dev/nvidia* 2>&1 | awk '{print "device node:", $1, $NF}'
slog=$root/tmp/server.log
# The image's CMD with loopback addresses and free ports (printed by the server), and the HTTP
# gateway the manifests turn on. Started without a shell in between (env, chroot and the loader
# exec), so that $! is the server and SIGTERM reaches it.
server_args=(--model_repository="$models_arg" --device="$device" --plaintext --readiness=all
  --host 127.0.0.1 --port 0 --metrics_address 127.0.0.1 --metrics_port 0 --http_port 0)
if [ "$mode" = chroot ]; then
  env -i "${image_env[@]}" "$chroot_bin" --userspec=65534:65534 --groups=65534 "$root" \
    /usr/local/bin/mamba-explaind "${server_args[@]}" >"$slog" 2>&1 &
else
  env -i "${noldpath_env[@]}" "$root/lib64/ld-linux-x86-64.so.2" --inhibit-cache \
    --library-path "$tree_path" "$root/usr/local/bin/mamba-explaind" "${server_args[@]}" >"$slog" 2>&1 &
fi
spid=$!
log "server started (pid $spid), waiting for its ports"
port=
for _ in $(seq 1 1800); do
  port=$(sed -n 's/.*grpc_port=\([0-9]*\).*/\1/p' "$slog" | head -1)
  [ -n "$port" ] && break
  kill -0 "$spid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  cat "$slog"
  fail "server did not start"
  echo "gpu_rootfs: FAILED ($failed)"
  exit 1
fi
mport=$(sed -n 's/.*metrics_port=\([-0-9]*\).*/\1/p' "$slog" | head -1)
hport=$(sed -n 's/.*http_port=\([-0-9]*\).*/\1/p' "$slog" | head -1)
log "server pid $spid: grpc $port, metrics $mport, http $hport ($(awk '/^Uid:/ {print "uid " $2}' /proc/$spid/status))"
if [ "$mode" = chroot ]; then
  uid=$(awk '/^Uid:/ {print $2}' /proc/$spid/status)
  sroot=$(readlink /proc/$spid/root)
  [ "$uid" = 65534 ] && [ "$sroot" = "$root" ] && pass "server runs as uid 65534 with / = the tree" ||
    fail "server: uid $uid, root $sroot"
fi
S=127.0.0.1:$port
state=
for _ in $(seq 1 120); do
  state=$(inroot /usr/local/bin/mamba-explain health --server "$S" --service mamba_explain.v1.Explainer --timeout 2 2>&1)
  [ "$state" = SERVING ] && break
  kill -0 "$spid" 2>/dev/null || break
  sleep 1
done
[ "$state" = SERVING ] && pass "health (client in the tree): mamba_explain.v1.Explainer $state [$(($(date +%s) - t0))s]" ||
  fail "health: $state"
inroot /usr/local/bin/mamba-explain models --server "$S" --json "$tmp_in/models.json" >/dev/null 2>&1
python3 - "$root/tmp/models.json" "$device" <<'PY' && pass "model served on $device" || fail "models: $(head -c 300 "$root/tmp/models.json" 2>/dev/null)"
import json, sys
m = json.load(open(sys.argv[1]))
print("models:", [(x["name"], x["state"], x["device"], x["precision"]) for x in m])
sys.exit(0 if m and all(x["state"] == "READY" and x["device"].startswith(sys.argv[2]) for x in m) else 1)
PY

section "explain"
ids=0,5,9,3,12,7,2,14,6,1,5,9,3,12,7,2,14
tx=$(date +%s.%N)
if inroot /usr/local/bin/mamba-explain explain --server "$S" --model "$model" --ids "$ids" \
    --method latim-l2,latim-alti-logit --json "$tmp_in/explain.json" --quiet 2>&1; then
  python3 - "$root/tmp/explain.json" "$tx" <<'PY' && pass "Explain answered on $device" || fail "Explain result"
import json, sys, time
d = json.load(open(sys.argv[1]))
res = d["results"]
n = len(d["ids"])
print(f"explain: {len(res)} results ({sorted({r['method'] for r in res})}) over {n} tokens, "
      f"client wall {time.time() - float(sys.argv[2]):.2f} s")
print("summary:", json.dumps(d.get("summary")))
print("meta:", json.dumps({k: d.get("meta", {}).get(k) for k in ("precision", "server", "version")}))
ok = res and all(r["method"] in ("latim-l2", "latim-alti-logit") for r in res)
ok = ok and all(len(row) == n for r in res if r.get("matrix") for row in r["matrix"])
sys.exit(0 if ok else 1)
PY
else fail "Explain: exit $?"; fi

section "HTTP gateway"
if [ "${hport:--1}" -gt 0 ]; then
  body=$(curl -sS -m 10 "http://127.0.0.1:$hport/v1/models")
  echo "$body" | head -c 300; echo
  echo "$body" | grep -q '"READY"' && pass "HTTP gateway: GET /v1/models" || fail "HTTP gateway /v1/models"
  curl -sS -N -m 60 -d "{\"model\":\"$model\",\"tokenIds\":[$ids],\"methods\":[\"latim-l2\"]}" \
    "http://127.0.0.1:$hport/v1/explain?format=ndjson" >"$root/tmp/http.ndjson"
  grep -q '"summary"' "$root/tmp/http.ndjson" &&
    pass "HTTP gateway: POST /v1/explain streamed $(grep -c '"layerResult"' "$root/tmp/http.ndjson") layer results" ||
    fail "HTTP explain: $(head -c 300 "$root/tmp/http.ndjson")"
else fail "HTTP gateway did not start (http_port=$hport)"; fi

section "metrics"
if [ "${mport:--1}" -gt 0 ] && curl -fsS -m 10 "http://127.0.0.1:$mport/metrics" >"$root/tmp/metrics.txt"; then
  grep -E '^mamba_explain_(requests_total|gpu_memory_bytes|batch_size_count|build_info|model_ready)' "$root/tmp/metrics.txt"
  grep -q '^mamba_explain_requests_total{.*code="OK".*method="Explain"' "$root/tmp/metrics.txt" &&
    pass "/metrics: $(grep -c '^mamba_explain_' "$root/tmp/metrics.txt") mamba_explain_ samples, the Explain counted OK" ||
    fail "/metrics has no OK Explain"
  if [ "$device" = cuda ]; then
    awk '/^mamba_explain_gpu_memory_bytes/ && $NF > 0 {f=1} END {exit !f}' "$root/tmp/metrics.txt" &&
      pass "/metrics: GPU memory in use" || fail "/metrics: no GPU memory reported"
  fi
else
  fail "/metrics scrape (metrics_port=$mport)"
  # civetweb's own reason (the server only sees "null context"): tools/metrics_probe, when it was
  # built, in the tree as the server runs, then on the host as uid 65534 and as root.
  if [ -x "$build/metrics_probe" ]; then
    cp "$build/metrics_probe" "$root/usr/local/bin/"
    probe=$root/usr/local/bin/metrics_probe
    echo "--- metrics_probe in the tree ($mode, uid 65534):"
    inroot /usr/local/bin/metrics_probe 127.0.0.1:0 2>&1 | tail -15
    # The same binary and libraries on the host's / (the tree's loader and library path).
    echo "--- metrics_probe on the host's /, uid 65534:"
    env -i "$chroot_bin" --userspec=65534:65534 --groups=65534 / "$root/lib64/ld-linux-x86-64.so.2" \
      --inhibit-cache --library-path "$tree_path" "$probe" 127.0.0.1:0 2>&1 | tail -8
    echo "--- metrics_probe on the host's /, uid $(id -u):"
    env -i "$root/lib64/ld-linux-x86-64.so.2" --inhibit-cache --library-path "$tree_path" \
      "$probe" 127.0.0.1:0 2>&1 | tail -8
  fi
fi

section "mapped shared objects of the running server"
maps=$(awk '$6 ~ /^\// {print $6}' /proc/$spid/maps | sort -u)
sos=$(echo "$maps" | grep -E '\.so(\.|$)')
outside=$(echo "$maps" | grep -v "^$root/" | grep -vE '^/(dev|memfd:|SYSV)' | grep -v '^$' || true)
echo "$sos" | sed "s|^$root||" | awk -F/ '{print $NF}' | tr '\n' ' ' | fold -w 160; echo
echo "libcuda: $(echo "$sos" | grep -m1 libcuda.so || echo 'not mapped')"
if [ -z "$outside" ]; then
  pass "all $(echo "$sos" | grep -c .) mapped shared objects are files of the tree"
else fail "mapped from outside the tree: $(echo "$outside" | tr '\n' ' ')"; fi
if [ "$device" = cuda ]; then
  echo "$sos" | grep -q "^$root/.*libcuda\.so" && pass "libcuda mapped from the tree's copy" ||
    fail "libcuda not mapped from the tree"
  echo "$sos" | grep -q "^$root/opt/libtorch/lib/libtorch_cuda\.so" && pass "LibTorch CUDA mapped from /opt/libtorch/lib" ||
    fail "libtorch_cuda not mapped from the tree"
  command -v nvidia-smi >/dev/null &&
    nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader 2>/dev/null | sed 's/^/nvidia-smi: /'
fi

section "SIGTERM"
kill -TERM "$spid"
wait "$spid"
rc=$?
spid=
tail -3 "$slog"
grep -q "stopped" "$slog" && [ "$rc" = 0 ] && pass "SIGTERM: drained and stopped (exit 0)" || fail "SIGTERM: exit $rc"
section "server log"
grep -v '^$' "$slog" | head -40
log "total $(($(date +%s) - t0))s, mode $mode, device $device, $failed failed"
[ "$failed" = 0 ] && echo "gpu_rootfs: OK" || { echo "gpu_rootfs: FAILED ($failed)"; exit 1; }
