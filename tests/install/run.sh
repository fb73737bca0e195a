#!/usr/bin/env bash
# tests/install/run.sh BUILD_DIR SOURCE_DIR [SANITIZE] [CC] - the install_consumer test.
#
# Installs the build in BUILD_DIR (`cmake --install`) into a temporary prefix,
# then builds tests/install/consumer/main.c against that prefix twice and runs
# both programs:
#   1. consumer/CMakeLists.txt: find_package(spindle REQUIRED), spindle::spindle
#   2. cc main.c $(pkg-config --cflags --libs spindle), PKG_CONFIG_PATH in the prefix
# SANITIZE is the build's SPINDLE_SANITIZE ('', address or thread): a program
# linked to a sanitized libspindle must be built with the same sanitizer.
# CC is the build's C compiler (default: cc).  Fails, with a message, if
# anything cannot be done; skips nothing.
set -euo pipefail

fail() {
  echo "install_consumer: FAIL: $*" >&2
  exit 1
}

[ $# -ge 2 ] || fail "usage: run.sh BUILD_DIR SOURCE_DIR [SANITIZE] [CC]"
build=$(cd "$1" && pwd) || fail "no build directory '$1'"
source=$(cd "$2" && pwd) || fail "no source directory '$2'"
sanitize=${3:-}
cc=${4:-cc}

# shellcheck disable=SC2054 # the commas belong to one compiler flag
case "$sanitize" in
  "") sanflags=() ;;
  address) sanflags=(-fsanitize=address,undefined) ;;
  thread) sanflags=(-fsanitize=thread) ;;
  *) fail "unknown SANITIZE '$sanitize'" ;;
esac
command -v pkg-config >/dev/null 2>&1 || fail "pkg-config is not installed (bash tools/setup.sh)"
command -v "$cc" >/dev/null 2>&1 || fail "no C compiler '$cc'"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spindle-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

echo "-- cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; fail "cmake --install failed"; }

# Both GNUInstallDirs layouts: lib/ and lib/<multiarch>/.
config=$(find "$prefix" -name spindleConfig.cmake -print -quit)
pc=$(find "$prefix" -name spindle.pc -print -quit)
[ -n "$config" ] || fail "the install has no spindleConfig.cmake"
[ -n "$pc" ] || fail "the install has no spindle.pc"
[ -f "$prefix/include/spindle/spindle.h" ] || fail "the install has no include/spindle/spindle.h"

echo "-- find_package(spindle): configure and build consumer/"
cmake -S "$source/tests/install/consumer" -B "$tmp/cmake-build" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS="${sanflags[*]}" \
  >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log" >&2; fail "configuring the find_package(spindle) consumer failed"; }
cmake --build "$tmp/cmake-build" >"$tmp/build.log" 2>&1 ||
  { cat "$tmp/build.log" >&2; fail "building the find_package(spindle) consumer failed"; }
echo "-- run the find_package(spindle) consumer"
"$tmp/cmake-build/consumer" || fail "the find_package(spindle) consumer exited $?"

echo "-- pkg-config: cc main.c \$(pkg-config --cflags --libs spindle)"
export PKG_CONFIG_PATH=${pc%/*}
flags=$(pkg-config --cflags --libs spindle) || fail "pkg-config --cflags --libs spindle failed"
libdir=$(pkg-config --variable=libdir spindle)
includedir=$(pkg-config --variable=includedir spindle)
echo "   $flags"
# A .pc that names some other prefix (the configure-time one) would build
# against whatever spindle happens to be installed there, or not at all.
if ! [ "$includedir" -ef "$prefix/include" ] || ! [ "$libdir" -ef "${pc%/pkgconfig/spindle.pc}" ]; then
  fail "spindle.pc names includedir=$includedir libdir=$libdir, not the prefix given to" \
    "cmake --install ($prefix): spindle.pc must derive its paths from \${pcfiledir}"
fi
# shellcheck disable=SC2086 # $flags is a list of compiler arguments
"$cc" "${sanflags[@]}" -o "$tmp/consumer-pc" "$source/tests/install/consumer/main.c" \
  $flags -Wl,-rpath,"$libdir" || fail "compiling the consumer with pkg-config's flags failed"
echo "-- run the pkg-config consumer"
"$tmp/consumer-pc" || fail "the pkg-config consumer exited $?"

echo "install_consumer: PASS"
