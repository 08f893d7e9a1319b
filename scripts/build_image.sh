#!/usr/bin/env bash
# Builds the CPU image (Dockerfile) daemonlessly with buildah, then proves it: starts mamba-explaind
# from the image, runs the client's health check, one Explain (LaTIM l2 on the demo model baked
# into the image) and a /metrics scrape against it. Needs root (or rootless buildah set up) and no
# container registry: where none can be reached, the base image named by the Dockerfile is made
# here with debootstrap (Debian 12 minbase from this machine's own APT mirror) and the build runs
# with --pull-never.
#
# usage: scripts/build_image.sh [--no-run | --no-build] [--tag NAME]
#   ME_BASE_IMAGE  base image name the Dockerfile uses (default: its DEBIAN_IMAGE)
#   ME_KEEP=1      leave the started server and work folder (for debugging)
# Prints timings and 'build_image: OK' last; the run is recorded in docs/operations.md.
set -euo pipefail
cd "$(dirname "$0")/.."
run=1
build=1
tag=localhost/mamba-explain:cpu-$(git rev-parse --short HEAD 2>/dev/null || echo dev)
while [ $# -gt 0 ]; do
  case $1 in
    --no-run) run=0 ;;
    --no-build) build=0 ;;  # prove an image built before (--tag)
    --tag) tag=$2; shift ;;
    *) echo "usage: $0 [--no-run | --no-build] [--tag NAME]" >&2; exit 2 ;;
  esac
  shift
done
base=${ME_BASE_IMAGE:-$(sed -n 's/^ARG DEBIAN_IMAGE=//p' Dockerfile)}
t0=$(date +%s)
log() { echo "build_image: [$(($(date +%s) - t0))s] $*" >&2; }

need=()
for tool in buildah debootstrap curl; do command -v $tool >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} (Debian packages)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${need[@]}" crun fuse-overlayfs uidmap >/dev/null
fi
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}

cfg() { buildah inspect --type image "$tag" | python3 -c 'import json, sys
c = json.load(sys.stdin)["Docker"]["config"]
print(json.dumps(c.get(sys.argv[1])) if sys.argv[1] != "User" else c.get("User", ""))' "$1"; }
if [ "$build" = 1 ]; then
# --- base image: the registry's if it is already local, else a debootstrap'd Debian 12 ---------
if buildah inspect --type image "$base" >/dev/null 2>&1; then
  log "base image $base is local"
else
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
  [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)
  rootfs=$(mktemp -d /var/tmp/me-rootfs.XXXXXX)
  log "no $base here: debootstrap --variant=minbase bookworm from this machine's mirror"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 ||
    { tail -20 "$rootfs.log" >&2; exit 1; }
  # As the slim image: no apt lists, caches, docs; apt keeps no packages.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
  ctr=$(buildah from scratch)
  buildah copy --quiet "$ctr" "$rootfs" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd /bin/bash "$ctr"
  buildah commit --quiet --rm "$ctr" "$base" >/dev/null
  rm -rf "$rootfs" "$rootfs.log"
  log "base image $base made"
fi

# --- the image ------------------------------------------------------------------------------------
tb=$(date +%s)
log "buildah build -f Dockerfile -t $tag (builder stage compiles the server)"
buildah build --pull-never --layers --format docker -f Dockerfile -t "$tag" \
  --build-arg DEBIAN_IMAGE="$base" \
  --build-arg VERSION="$(git describe --always --dirty 2>/dev/null || echo dev)" \
  --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
  --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --build-arg BUILD_JOBS="$(nproc)" . >&2
log "image built in $(($(date +%s) - tb))s: $tag ($(buildah images --format '{{.Size}}' "$tag"))"

log "HEALTHCHECK: $(cfg Healthcheck)"
fi
[ "$run" = 1 ] || { echo "build_image: OK (built, not run)"; exit 0; }

# --- run it: the image's own filesystem, its user, entrypoint and health command ----------------
# The container is started with buildah's chroot isolation on the host network (no daemon, no
# network namespace needed), ports chosen here so that they do not collide.
work=$(mktemp -d)
ctr=$(buildah from --pull-never "$tag")   # the server's container
cctr=$(buildah from --pull-never "$tag")  # the client's, from the same image
cleanup() {
  set +e  # a failing kill/wait must not skip the rest (errexit applies in traps)
  [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  [ "${ME_KEEP:-0}" = 1 ] || { buildah rm "$ctr" "$cctr" >/dev/null 2>&1; rm -rf "$work"; }
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
entry=$(cfg Entrypoint)
user=$(cfg User)
log "start: entrypoint $entry as user $user, ports $port/$mport"
buildah run --isolation chroot --network host --user "$user" "$ctr" -- \
  /usr/local/bin/mamba-explaind --model_repository=/models --device=cpu --plaintext \
  --host 127.0.0.1 --port "$port" --metrics_address 127.0.0.1 --metrics_port "$mport" \
  >"$work/server.log" 2>&1 &
server_pid=$!
client() { buildah run --isolation chroot --network host --user "$user" "$cctr" -- \
  /usr/local/bin/mamba-explain "$@"; }
ok=0
for _ in $(seq 1 120); do
  if client health --server "127.0.0.1:$port" --service mamba_explain.v1.Explainer \
      --timeout 2 >"$work/health.txt" 2>&1; then ok=1; break; fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 1
done
[ "$ok" = 1 ] || { echo "server did not become healthy:" >&2; cat "$work/server.log" "$work/health.txt" >&2; exit 1; }
log "health: $(tr '\n' ' ' <"$work/health.txt")"
ids=5,9,3,12,7,2,14,6,0,5,9,3,12,7,2,14
client explain --server "127.0.0.1:$port" --model copy-mamba1-silu --ids "$ids" \
  --method latim-l2 --layers all --rows last --dense --json /tmp/explain.json \
  >"$work/explain.out" 2>&1 || { cat "$work/explain.out" "$work/server.log" >&2; exit 1; }
buildah run --isolation chroot --user "$user" "$cctr" -- cat /tmp/explain.json >"$work/explain.json"
python3 - "$work/explain.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
res = r["results"]
assert res and all(x["method"] == "latim-l2" for x in res), res
n = len(r["ids"])
assert all(len(row) == n for x in res for row in x["matrix"]), "matrix width"
print(f"build_image: explain answered: {len(res)} layers of latim-l2 over {n} tokens, "
      f"batch_size {r['summary'].get('batch_size')}", file=sys.stderr)
PY
curl -fsS "http://127.0.0.1:$mport/metrics" >"$work/metrics.txt"
grep -q '^mamba_explain_requests_total{.*code="OK"' "$work/metrics.txt" ||
  { echo "no OK request in /metrics" >&2; cat "$work/metrics.txt" >&2; exit 1; }
log "metrics: $(grep -c '^mamba_explain_' "$work/metrics.txt") mamba_explain_ samples"
# SIGTERM to the server process itself (as the container runtime does), found by its port.
spid=$(ss -ltnpH "sport = :$port" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
kill -TERM "${spid:-$server_pid}"
wait "$server_pid" || true
server_pid=
grep -q "stopped" "$work/server.log" && log "SIGTERM: drained and stopped"
log "total $(($(date +%s) - t0))s"
echo "build_image: OK"
