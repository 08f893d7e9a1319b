#!/usr/bin/env bash
# Sums the static TLS (PT_TLS MemSiz) of a binary and every library it loads: glibc puts that
# block at the top of each new thread's stack and refuses pthread_create (EINVAL) when the
# requested stack size cannot hold it. Debian's civetweb asks for 102 400-byte worker stacks.
#   tools/static_tls.sh BINARY
set -euo pipefail
bin=$1
total=0
for f in "$bin" $(ldd "$bin" | awk '/=> \//{print $3}'); do
  hex=$(readelf -lW "$f" 2>/dev/null | awk '$1=="TLS"{print $6}' | head -1)
  sz=$(( ${hex:-0} ))
  if [ -n "${sz:-}" ] && [ "$sz" -gt 0 ]; then
    total=$((total + sz))
    [ "$sz" -ge 4096 ] && printf '%9d %s\n' "$sz" "$(basename "$f")"
  fi
done
echo "static TLS total: $total bytes (civetweb worker stack: 102400)"
