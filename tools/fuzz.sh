#!/usr/bin/env bash
# tools/fuzz.sh [NAME...] [--seconds N] [--build-dir DIR] [--no-build] [-- LIBFUZZER_ARGS...]
#
# Builds the libFuzzer harnesses (tests/fuzz/fuzz_NAME.c; clang, ASan+UBSan,
# see docs/fuzzing.md) and runs each for N seconds (default 60), one after
# the other, on a copy of its seed corpus (tests/fuzz/corpus/NAME/) in a
# temporary directory, with its dictionary (tests/fuzz/fuzz_NAME.dict) if
# there is one.  NAME is a harness's name, with or without "fuzz_"
# (default: every harness).  Prints one line per harness:
#
#   fuzz: name=url execs=123456 exec_per_s=2057 cov=2950 ft=9107 corpus=411 seconds=60 result=ok
#
# and, for a finding (a crash, an assertion of the harness, a sanitizer
# report, a timeout, a leak or running out of memory), result=crash and
# input=PATH: the input that did it, kept under the build directory's
# fuzz-findings/NAME/ with the log beside it.  Exits 0 when nothing was
# found, 1 on a finding, 2 on bad usage, 3 when the build failed.
#
#   --seconds N      how long each harness runs (libFuzzer's -max_total_time)
#   --build-dir DIR  the fuzz build directory (default: build-fuzz/ in the
#                    repository root, or $SPINDLE_FUZZ_BUILD_DIR)
#   --no-build       run what DIR holds, without configuring or building
#   -- ARGS          more libFuzzer options for every harness
#
# Environment: JOBS (compile jobs, default nproc), CC (the compiler, default
# clang), ASAN_OPTIONS and UBSAN_OPTIONS (added to the defaults below).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SPINDLE_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=60
do_build=1
names=()
extra=()

usage() {
  sed -n '2,31s/^# \{0,1\}//p' "$0"
}

die() {
  echo "fuzz.sh: error: $*" >&2
  exit "${2:-2}"
}

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --seconds)
        [ $# -ge 2 ] && [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "--seconds needs a whole number of seconds > 0"
        seconds=$2
        shift
        ;;
      --build-dir)
        [ $# -ge 2 ] || die "--build-dir needs a directory"
        build=$2
        shift
        ;;
      --no-build) do_build=0 ;;
      --) shift; extra=("$@"); break ;;
      -h | --help) usage; exit 0 ;;
      -*) usage >&2; die "unknown option '$1'" ;;
      *) names+=("${1#fuzz_}") ;;
    esac
    shift
  done
  case "$build" in /*) ;; *) build=$PWD/$build ;; esac
}

# The harnesses to run: the names given, checked, or all of tests/fuzz/.
select_harnesses() {
  local all=() f
  for f in "$root"/tests/fuzz/fuzz_*.c; do
    [ -e "$f" ] || continue
    f=${f##*/fuzz_}
    all+=("${f%.c}")
  done
  [ "${#all[@]}" -gt 0 ] || die "no harness in $root/tests/fuzz/"
  if [ "${#names[@]}" -eq 0 ]; then
    names=("${all[@]}")
    return
  fi
  local n
  for n in "${names[@]}"; do
    [ -e "$root/tests/fuzz/fuzz_$n.c" ] || die "no harness '$n' (have: ${all[*]})"
  done
}

build_harnesses() {
  [ "$do_build" -eq 1 ] || return 0
  local cc=${CC:-clang} targets=() n
  command -v "$cc" >/dev/null 2>&1 || die "$cc not found (Debian: bash tools/setup.sh --fuzz)" 3
  for n in "${names[@]}"; do targets+=("fuzz_$n"); done
  echo "fuzz.sh: building ${targets[*]} in $build"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$cc" \
    -DSPINDLE_SANITIZE=address -DSPINDLE_BUILD_FUZZ=ON -DSPINDLE_BUILD_TESTS=OFF \
    -DSPINDLE_BUILD_TOOLS=OFF -DSPINDLE_BUILD_EXAMPLES=OFF >"$build.configure.log" 2>&1 ||
    { cat "$build.configure.log" >&2; die "configuring $build failed" 3; }
  cmake --build "$build" -j "${JOBS:-$(nproc)}" --target "${targets[@]}" >"$build.build.log" 2>&1 ||
    { tail -n 40 "$build.build.log" >&2; die "building the harnesses failed (log: $build.build.log)" 3; }
}

# The value after "key:" in libFuzzer's log (the last one), or 0.
stat_of() {
  local v
  v=$(grep -o "$1[[:space:]]*[0-9][0-9]*" "$2" | tail -n 1 | grep -o '[0-9][0-9]*$' || true)
  echo "${v:-0}"
}

# Runs harness $1; prints its line; returns 1 on a finding.
run_harness() {
  local name=$1 bin="$build/bin/fuzz_$1" work findings log rc=0
  [ -x "$bin" ] || die "$bin is missing (build it, or drop --no-build)" 3
  work=$(mktemp -d "${TMPDIR:-/tmp}/spindle-fuzz-$name.XXXXXX")
  findings="$build/fuzz-findings/$name"
  mkdir -p "$work/corpus" "$findings"
  if [ -d "$root/tests/fuzz/corpus/$name" ]; then
    cp -R "$root/tests/fuzz/corpus/$name/." "$work/corpus/"
  fi
  local args=(-max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 -print_final_stats=1
    -artifact_prefix="$work/")
  [ -f "$root/tests/fuzz/fuzz_$name.dict" ] && args+=(-dict="$root/tests/fuzz/fuzz_$name.dict")
  log="$work/log"
  "$bin" "${args[@]}" ${extra[@]+"${extra[@]}"} "$work/corpus" >"$log" 2>&1 || rc=$?
  local execs rate cov ft corp input="" result=ok
  execs=$(stat_of 'stat::number_of_executed_units:' "$log")
  rate=$(stat_of 'stat::average_exec_per_sec:' "$log")
  cov=$(stat_of ' cov:' "$log")
  ft=$(stat_of ' ft:' "$log")
  corp=$(stat_of ' corp:' "$log")
  local found
  found=$(find "$work" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'leak-*' \
    -o -name 'oom-*' -o -name 'slow-unit-*' \) | head -n 1)
  if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
    result=crash
    if [ -n "$found" ]; then
      cp "$found" "$findings/"
      input="$findings/${found##*/}"
    fi
    cp "$log" "$findings/log"
  fi
  echo "fuzz: name=$name execs=$execs exec_per_s=$rate cov=$cov ft=$ft corpus=$corp seconds=$seconds" \
    "result=$result${input:+ input=$input}"
  if [ "$result" != ok ]; then
    echo "fuzz.sh: fuzz_$name found something (exit $rc); log: $findings/log; reproduce: $bin ${input:-<input>}" >&2
    grep -E 'ERROR|SUMMARY|fuzz_[a-z_]+:|runtime error|Assertion' "$log" | head -n 20 >&2 || true
  fi
  rm -rf "$work"
  [ "$result" = ok ]
}

main() {
  parse_args "$@"
  select_harnesses
  build_harnesses
  export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
  local sym
  for sym in llvm-symbolizer llvm-symbolizer-14 llvm-symbolizer-15 llvm-symbolizer-16; do
    if command -v "$sym" >/dev/null 2>&1; then
      export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v "$sym")}
      break
    fi
  done
  local failed=0 n
  for n in "${names[@]}"; do
    run_harness "$n" || failed=1
  done
  exit "$failed"
}

main "$@"
