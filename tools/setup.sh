#!/usr/bin/env bash
# tools/setup.sh [--bench] [--fuzz] - install what spindle needs on Debian 12.
#
# Idempotent: asks dpkg what is already installed and runs apt-get only when
# something is missing, so a repeat run takes well under a second.  Runs
# apt-get directly as root, through sudo otherwise.
#
#   --bench   also install what tools/bench/compare.sh needs (Go, Boost.Context, wrk)
#   --fuzz    also install what tools/fuzz.sh needs (clang, libFuzzer, llvm-symbolizer)
set -euo pipefail

# Build and test: compiler, CMake, pkg-config, Criterion (tests), <sys/sdt.h>
# (USDT probes).  libcurl and c-ares are for the io/ and crawler/ modules;
# zlib for the tests' fault server (gzip bodies).  The io/ tests start their
# own servers on loopback (tests/io/fixture.c): nginx, and dnsmasq-base -
# the dnsmasq binary alone, not the dnsmasq package, whose service would take
# port 53.  Bookworm's nginx-light and nginx-core are only the nginx package
# plus extra modules; the tests need none of them.  openssl makes the TLS
# test's self-signed certificate; ca-certificates are libcurl's default CAs.
# The crawler: gumbo (HTML5 parser), jansson (JSON output), SQLite (state),
# OpenSSL's libcrypto (WARC digests).
packages=(
  build-essential
  cmake
  pkg-config
  libcriterion-dev
  systemtap-sdt-dev
  libcurl4-openssl-dev
  libc-ares-dev
  zlib1g-dev
  nginx
  dnsmasq-base
  openssl
  ca-certificates
  libgumbo-dev
  libjansson-dev
  libsqlite3-dev
  libssl-dev
)
# tests/crawler/test_warc.c reads its WARC files back with the npm package
# warcio (installed by the test into $SPINDLE_NPM_DIR, default
# /tmp/spindle-npm, from the npm registry): node >= 18 (bookworm: 18.x) and
# npm.  NodeSource's nodejs bundles npm and conflicts with Debian's npm.
packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
bench_packages=(golang-go golang-golang-x-net-dev libboost-context-dev wrk)
# The fuzz harnesses (tests/fuzz/, tools/fuzz.sh): clang 14, its runtime
# libraries (libFuzzer and the sanitizers: libclang-rt-14-dev, which clang
# only recommends) and llvm-symbolizer (llvm-14) for readable stacks.
fuzz_packages=(clang libclang-rt-14-dev llvm-14)
missing=()
policy_rc_d=/usr/sbin/policy-rc.d
policy_rc_d_ours=0

usage() {
  sed -n '2,9s/^# \{0,1\}//p' "$0"
}

die() {
  echo "setup.sh: error: $*" >&2
  exit 1
}

parse_args() {
  for arg in "$@"; do
    case "$arg" in
      --bench) packages+=("${bench_packages[@]}") ;;
      --fuzz) packages+=("${fuzz_packages[@]}") ;;
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

# Installing nginx starts its service on port 80 (its postinst runs
# invoke-rc.d / deb-systemd-invoke).  A policy-rc.d that exits 101 forbids
# every service start during the install; written only where there is none
# (Docker images ship one), and removed again on any exit.
forbid_service_starts() {
  [ -e "$policy_rc_d" ] && return 0
  # set -C: fails rather than overwrite one that appeared meanwhile.
  as_root sh -c 'set -C; printf "#!/bin/sh\n# tools/setup.sh: no service starts during apt-get install\nexit 101\n" >"$1" && chmod 755 "$1"' \
    sh "$policy_rc_d" || die "could not write $policy_rc_d"
  policy_rc_d_ours=1
  trap allow_service_starts EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM HUP
}

allow_service_starts() {
  if [ "$policy_rc_d_ours" -eq 1 ]; then
    as_root rm -f "$policy_rc_d" || echo "setup.sh: warning: could not remove $policy_rc_d" >&2
    policy_rc_d_ours=0
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
  forbid_service_starts
  as_root "${apt[@]}" update </dev/null || die "apt-get update failed"
  as_root "${apt[@]}" install --no-install-recommends "${missing[@]}" </dev/null ||
    die "apt-get install failed for: ${missing[*]}"
  allow_service_starts
  mapfile -t missing < <(missing_packages)
  [ "${#missing[@]}" -eq 0 ] || die "still not installed after apt-get: ${missing[*]}"
  echo "setup.sh: done"
}

main() {
  parse_args "$@"
  install_missing
}

main "$@"
