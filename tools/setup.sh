#!/usr/bin/env bash
# tools/setup.sh [--bench] - install what spindle needs on Debian 12.
#
# Idempotent: asks dpkg what is already installed and runs apt-get only when
# something is missing, so a repeat run takes well under a second.  Runs
# apt-get directly as root, through sudo otherwise.
#
#   --bench   also install what tools/bench/compare.sh needs (Go, Boost.Context)
set -euo pipefail

# Build and test: compiler, CMake, pkg-config, Criterion (tests), <sys/sdt.h>
# (USDT probes).  libcurl and c-ares are for the io/ and crawler/ modules.
packages=(
  build-essential
  cmake
  pkg-config
  libcriterion-dev
  systemtap-sdt-dev
  libcurl4-openssl-dev
  libc-ares-dev
)
bench_packages=(golang-go libboost-context-dev)
missing=()

usage() {
  sed -n '2,8s/^# \{0,1\}//p' "$0"
}

die() {
  echo "setup.sh: error: $*" >&2
  exit 1
}

parse_args() {
  for arg in "$@"; do
    case "$arg" in
      --bench) packages+=("${bench_packages[@]}") ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument '$arg'" ;;
    esac
  done
}

# Prints the packages of "${packages[@]}" that are not installed.
missing_packages() {
  local p status
  for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$status" = installed ] || echo "$p"
  done
}

# Runs its arguments as root: directly, or through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "not root and sudo is not installed: run as root, or install as root: ${missing[*]}"
  fi
}

install_missing() {
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    die "apt-get/dpkg-query not found: spindle's setup expects Debian 12 (bookworm).
On another system install the equivalents of: ${packages[*]}"
  fi
  mapfile -t missing < <(missing_packages)
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup.sh: all ${#packages[@]} packages already installed"
    return 0
  fi
  echo "setup.sh: installing ${missing[*]}"
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -qq -y -o DPkg::Lock::Timeout=300)
  as_root "${apt[@]}" update </dev/null || die "apt-get update failed"
  as_root "${apt[@]}" install --no-install-recommends "${missing[@]}" </dev/null ||
    die "apt-get install failed for: ${missing[*]}"
  mapfile -t missing < <(missing_packages)
  [ "${#missing[@]}" -eq 0 ] || die "still not installed after apt-get: ${missing[*]}"
  echo "setup.sh: done"
}

main() {
  parse_args "$@"
  install_missing
}

main "$@"
