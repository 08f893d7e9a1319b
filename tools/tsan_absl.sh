#!/usr/bin/env bash
# Builds Debian's own Abseil (the source package of the installed libabsl20220623, Debian patches
# applied) with -fsanitize=thread, as shared libraries with Debian's SONAMEs and options
# (debian/rules: C++17, BUILD_SHARED_LIBS=ON, CMAKE_BUILD_TYPE=None, dpkg-buildflags; the
# patched options.h, which must be byte-identical to /usr/include/absl/base/options.h), and
# installs them into a private prefix. With that lib dir first on LD_LIBRARY_PATH, our code and
# Debian's libgrpc/libgrpc++ (which link libabsl_synchronization & co. dynamically) all run the
# instrumented absl::Mutex, so ThreadSanitizer sees its happens-before edges.
# Idempotent: a prefix with a stamp for the installed version is reused as is.
# usage: tools/tsan_absl.sh [PREFIX]   (prints the prefix's lib dir on its last line)
set -euo pipefail
prefix=${1:-${TSAN_ABSL_PREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/mamba-explain/tsan-absl}}
version=$(dpkg-query -W -f='${Version}' libabsl20220623)
stamp=$prefix/.built-$version
libdir=$prefix/lib
if [[ -f $stamp ]]; then echo "$libdir"; exit 0; fi
mkdir -p "$prefix/src"
cd "$prefix/src"
if ! ls abseil_"$version".dsc >/dev/null 2>&1; then
  if ! apt-get source --download-only "abseil=$version" >&2; then
    # No deb-src line: add one for the suites the binary packages come from.
    [[ $(id -u) == 0 ]] || { echo "tsan_absl: need deb-src for bookworm (run as root once)" >&2; exit 1; }
    cat >/etc/apt/sources.list.d/debian-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -q >&2
    apt-get source --download-only "abseil=$version" >&2
  fi
fi
rm -rf abseil build
dpkg-source -x abseil_"$version".dsc abseil >&2
# Same public headers and options as the -dev package we compile against, or the ABI differs.
for h in $(cd abseil && find absl -name '*.h' -o -name '*.inc'); do
  if [[ -f /usr/include/$h ]] && ! cmp -s "abseil/$h" "/usr/include/$h"; then
    echo "tsan_absl: abseil/$h differs from /usr/include/$h" >&2; exit 1
  fi
done
# dpkg-buildflags of Debian's build (hardening=+bindnow), plus ThreadSanitizer, with the same
# compiler as Debian's package and our TSan build (g++ 12: one TSan runtime, libtsan).
flags="$(DEB_BUILD_MAINT_OPTIONS=hardening=+bindnow dpkg-buildflags --get CXXFLAGS) -fsanitize=thread"
cppflags=$(DEB_BUILD_MAINT_OPTIONS=hardening=+bindnow dpkg-buildflags --get CPPFLAGS)
ldflags="$(DEB_BUILD_MAINT_OPTIONS=hardening=+bindnow dpkg-buildflags --get LDFLAGS) -fsanitize=thread"
cmake -S abseil -B build -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_COMPILER=g++ \
  -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON -DBUILD_TESTING=OFF \
  -DCMAKE_CXX_FLAGS="$cppflags $flags" -DCMAKE_SHARED_LINKER_FLAGS="$ldflags" \
  -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib >&2
nice cmake --build build -j"${TSAN_JOBS:-2}" >&2
cmake --install build >&2
# Every Debian libabsl_*.so.20220623 must have its instrumented twin, or the loader mixes them.
for f in /usr/lib/x86_64-linux-gnu/libabsl_*.so.20220623; do
  [[ -e $libdir/$(basename "$f") ]] || { echo "tsan_absl: no $(basename "$f") built" >&2; exit 1; }
done
touch "$stamp"
echo "$libdir"
