#!/usr/bin/env bash
# tools/seed-demo.sh [--sleep SECONDS] [--scale SCALE] [--tasks N] - the seed tutorial's programs.
#
# Installs the dependencies (tools/setup.sh), builds spindle (build/,
# RelWithDebInfo) and runs the three programs of the asyncio tutorial that
# spindle grows from, timing each:
#   seed-sleep  [SECONDS]   one task awaiting sleep(SECONDS)        (default 10: about 10 s)
#   seed-gather [SCALE]     two tasks sleeping 5 s and 4 s, gathered (about 5 s, not 9 s)
#   seed-many   --tasks N   N tasks each sleeping 1 s, gathered      (default 10000: about 1 s)
#
# Environment:
#   SPINDLE_BUILD_DIR     build directory (default: build/ in the repository root)
#   SPINDLE_SKIP_SETUP=1  do not run tools/setup.sh
#   JOBS                  parallel compile jobs (default: nproc)
#   SPINDLE_WORKERS, SPINDLE_STATS=1   passed on to the programs (see README.md)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SPINDLE_BUILD_DIR:-$root/build}
jobs=${JOBS:-$(nproc)}
sleep_args=()
gather_args=()
many_args=()

usage() {
  sed -n '2,16s/^# \{0,1\}//p' "$0"
}

say() {
  printf '\n== seed-demo.sh: %s\n' "$*"
}

die() {
  echo "seed-demo.sh: error: $*" >&2
  exit 1
}

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --sleep) [ $# -ge 2 ] || die "--sleep needs SECONDS"; sleep_args=("$2"); shift ;;
      --scale) [ $# -ge 2 ] || die "--scale needs SCALE"; gather_args=("$2"); shift ;;
      --tasks) [ $# -ge 2 ] || die "--tasks needs N"; many_args=(--tasks "$2"); shift ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument '$1'" ;;
    esac
    shift
  done
}

setup() {
  if [ "${SPINDLE_SKIP_SETUP:-0}" = 1 ]; then
    say "setup skipped (SPINDLE_SKIP_SETUP=1)"
    return 0
  fi
  say "setup: bash tools/setup.sh"
  bash "$root/tools/setup.sh"
}

build() {
  say "build: $build"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPINDLE_BUILD_EXAMPLES=ON
  cmake --build "$build" -j "$jobs" --target seed-sleep seed-gather seed-many
}

# run PROGRAM ARGS...: runs build/bin/PROGRAM, echoing the command line and
# then its wall-clock time.
run() {
  local program=$build/bin/$1 TIMEFORMAT="-- $1: %R s wall clock"
  shift
  [ -x "$program" ] || die "$program was not built"
  say "${program#"$root"/}${*:+ $*}"
  time "$program" "$@"
}

# 1. asyncio: loop.run_until_complete(sleep()) with asyncio.sleep(10).
run_sleep() {
  run seed-sleep "${sleep_args[@]}"
}

# 2. asyncio: gather(coroutine_1(), coroutine_2()), sleeping 5 s and 4 s.
run_gather() {
  run seed-gather "${gather_args[@]}"
}

# 3. asyncio: 10,000 ensure_future(sleep()) of 1 s each, gathered.
run_many() {
  run seed-many "${many_args[@]}"
}

main() {
  parse_args "$@"
  setup
  build
  run_sleep
  run_gather
  run_many
  say "done"
}

main "$@"
