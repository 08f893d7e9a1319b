# Sourced by the tools/gpu_*.sh scripts on the GPU host (after `source .device/env.sh`): the
# carried Debian packages' sysroot, the log folder ($OUT when set), elapsed-time stamps, and the
# configure/build steps of build-gpu with their logs kept and their errors shown.
# The carried Debian packages live under /opt/deb (.device/env.sh); their .pc files say /usr.
[ -d /opt/deb ] && export PKG_CONFIG_SYSROOT_DIR=/opt/deb
out=${OUT:-/tmp}
t0=$(date +%s)
stamp() { echo "[$(($(date +%s) - t0)) s] $*"; }
# gpu_configure [cmake args...]: configures build-gpu (log $out/cmake.log); exits on failure.
gpu_configure() {
  # shellcheck disable=SC2086  # DEVICE_CMAKE_ARGS is a list of flags
  cmake -S . -B build-gpu -G Ninja $DEVICE_CMAKE_ARGS "$@" >"$out/cmake.log" 2>&1 ||
    { tail -50 "$out/cmake.log"; exit 1; }
}
# gpu_build target...: builds them in build-gpu (log $out/build.log); exits on failure.
gpu_build() {
  cmake --build build-gpu -j16 --target "$@" >"$out/build.log" 2>&1 ||
    { grep -E "error|Error" -A5 "$out/build.log" | head -80; exit 1; }
}
