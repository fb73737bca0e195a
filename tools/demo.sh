#!/usr/bin/env bash
# tools/demo.sh [--hosts N] [--pages N] [--concurrency N] [--out DIR] - crawl a demo site.
#
# On a fresh Debian 12 machine: installs the dependencies (tools/setup.sh),
# builds spindle (build/), generates a demo site of interlinked pages over
# several virtual hosts (tools/sitegen.c: robots.txt rules, broken links,
# non-HTML files, and the exact set of pages a correct crawl must reach),
# serves it with nginx on 127.0.0.1 and names its hosts with dnsmasq on
# 127.0.0.1, crawls it with spindle-crawl, checks the crawl against the
# expected set, prints the summary and where the output went, and stops the
# servers it started.  Nothing leaves the machine.
#
#   --hosts N        virtual hosts (default 4)
#   --pages N        HTML pages in all (default 2000)
#   --concurrency N  transfers in flight (default 64)
#   --out DIR        where the site and the crawl's output go (default build/demo)
#
# Environment: SPINDLE_BUILD_DIR (default build/), SPINDLE_SKIP_SETUP=1,
# JOBS (parallel compile jobs).  The seed tutorial's three asyncio programs
# in C: tools/seed-demo.sh.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SPINDLE_BUILD_DIR:-$root/build}
jobs=${JOBS:-$(nproc)}
hosts=4
pages=2000
concurrency=64
out=
pids=()

usage() { sed -n '2,20s/^# \{0,1\}//p' "$0"; }
say() { printf '\n== demo.sh: %s\n' "$*"; }
die() {
  echo "demo.sh: error: $*" >&2
  exit 1
}
is_uint() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -gt 0 ]; }
# shellcheck source=tools/lib/loopback.sh
. "$root/tools/lib/loopback.sh" # free_port, wait_port

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --hosts | --pages | --concurrency | --out)
        [ $# -ge 2 ] || { usage >&2; die "$1 needs a value"; }
        case "$1" in
          --hosts) is_uint "$2" || die "--hosts wants a positive number, not '$2'"; hosts=$2 ;;
          --pages) is_uint "$2" || die "--pages wants a positive number, not '$2'"; pages=$2 ;;
          --concurrency) is_uint "$2" || die "--concurrency wants a positive number, not '$2'"; concurrency=$2 ;;
          --out) out=$2 ;;
        esac
        shift 2
        ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument '$1'" ;;
    esac
  done
  out=${out:-$build/demo}
}

# Stops what this script started, by PID.
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}

build_all() {
  if [ "${SPINDLE_SKIP_SETUP:-0}" != 1 ]; then
    say "setup: bash tools/setup.sh"
    bash "$root/tools/setup.sh"
  fi
  say "build: $build"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j "$jobs" --target spindle-crawl spindle-sitegen >/dev/null
}

start_servers() {
  rm -rf "$out"
  mkdir -p "$out"
  web_port=$(free_port)
  say "site: $hosts hosts, $pages pages, in $out/site"
  "$build/bin/spindle-sitegen" --out "$out/site" --hosts "$hosts" --pages "$pages" --port "$web_port"
  /usr/sbin/nginx -p "$out/site/" -c "$out/site/nginx.conf" -e "$out/site/error.log" &
  pids+=($!)
  wait_port "$web_port" "${pids[-1]}" || die "nginx did not start (see $out/site/error.log)"
  dns_port=$(free_port)
  mapfile -t records <"$out/site/dnsmasq.args"
  local as_root=()
  [ "$(id -u)" -eq 0 ] && as_root=(--user=root --group=root)
  /usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --local=/#/ \
    --bind-interfaces --listen-address=127.0.0.1 --port="$dns_port" --pid-file= \
    --log-facility="$out/site/dnsmasq.log" "${as_root[@]}" "${records[@]}" &
  pids+=($!)
  wait_port "$dns_port" "${pids[-1]}" || die "dnsmasq did not start (see $out/site/dnsmasq.log)"
  echo "nginx on 127.0.0.1:$web_port, dnsmasq on 127.0.0.1:$dns_port"
}

crawl() {
  local seed="http://h0.demo.test:$web_port/"
  say "crawl: spindle-crawl --allow-domain demo.test $seed"
  "$build/bin/spindle-crawl" --allow-domain demo.test --dns-server "127.0.0.1:$dns_port" \
    --concurrency "$concurrency" --output "$out/crawl.jsonl" --warc "$out/crawl.warc.gz" \
    --stats "$out/stats.json" "$seed"
}

# Every expected page fetched with 200, nothing else with 200.
check() {
  local got expected missing extra
  got=$(grep -o '"url":"[^"]*","final_url":[^,]*,"status":200' "$out/crawl.jsonl" |
    sed 's/^"url":"\([^"]*\)".*/\1/' | "$build/bin/spindle-crawl" --normalize - | sort -u)
  expected=$(sort -u "$out/site/expected.txt")
  missing=$(comm -13 <(echo "$got") <(echo "$expected") | grep -c . || true)
  extra=$(comm -23 <(echo "$got") <(echo "$expected") | grep -c . || true)
  say "check: $(echo "$expected" | grep -c .) pages expected; $missing missing, $extra unexpected"
  [ "$missing" -eq 0 ] && [ "$extra" -eq 0 ] || die "the crawl does not match $out/site/expected.txt"
  echo "output: $out/crawl.jsonl (one JSON object per URL), $out/crawl.warc.gz (WARC), $out/stats.json"
}

main() {
  parse_args "$@"
  trap cleanup EXIT
  build_all
  start_servers
  crawl
  check
}

main "$@"
