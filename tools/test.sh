#!/usr/bin/env bash
# tools/test.sh [plain|asan|tsan|all]... [-- CTEST_ARGS...] - build and test spindle.
#
# Installs the dependencies (tools/setup.sh), then for each build asked for
# (default: all) configures with -DSPINDLE_WERROR=ON, builds with -j$(nproc)
# and runs `ctest --output-on-failure -j1`:
#   plain  build/        RelWithDebInfo
#   asan   build-asan/   RelWithDebInfo, -DSPINDLE_SANITIZE=address (ASan+UBSan)
#   tsan   build-tsan/   RelWithDebInfo, -DSPINDLE_SANITIZE=thread  (TSan)
# Arguments after -- go to ctest (for example: tools/test.sh plain -- -R channel).
# Goes on to the next build after a failure, prints one summary line per build
# and exits non-zero if anything failed.
#
# Environment:
#   SPINDLE_BUILD_DIR     the plain build's directory; the others get -asan/-tsan
#                         appended (default: build/ in the repository root)
#   SPINDLE_SKIP_SETUP=1  do not run tools/setup.sh
#   JOBS                  parallel compile jobs (default: nproc)
#   ASAN_OPTIONS, UBSAN_OPTIONS, TSAN_OPTIONS   replace spindle's defaults
#                         (halt on the first error; printed at the start)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
base=${SPINDLE_BUILD_DIR:-$root/build}
jobs=${JOBS:-$(nproc)}
builds=()
ctest_args=()
declare -A summary=()
total_passed=0
total_failed=0

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:print_summary=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

usage() {
  sed -n '2,22s/^# \{0,1\}//p' "$0"
}

say() {
  printf '\n== test.sh: %s\n' "$*"
}

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      plain | asan | tsan) builds+=("$1") ;;
      all) builds+=(plain asan tsan) ;;
      --) shift; ctest_args=("$@"); break ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; echo "test.sh: error: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
  done
  [ "${#builds[@]}" -gt 0 ] || builds=(plain asan tsan)
}

print_environment() {
  say "spindle at $root; ${#builds[@]} build(s): ${builds[*]}; $jobs compile jobs"
  echo "$(uname -srm); $(nproc) CPUs"
  echo "$(cc --version | head -n 1); $(cmake --version | head -n 1)"
  echo "ASAN_OPTIONS=$ASAN_OPTIONS"
  echo "UBSAN_OPTIONS=$UBSAN_OPTIONS"
  echo "TSAN_OPTIONS=$TSAN_OPTIONS"
}

setup() {
  if [ "${SPINDLE_SKIP_SETUP:-0}" = 1 ]; then
    say "setup skipped (SPINDLE_SKIP_SETUP=1)"
    return 0
  fi
  say "setup: bash tools/setup.sh"
  bash "$root/tools/setup.sh"
}

# warcio (npm) reads back the WARC files the tests write: an independent
# reader, which CI requires.  Installed once here, into $SPINDLE_NPM_DIR
# (default /tmp/spindle-npm) with the marker the tests look for
# (tests/crawler/crawl_harness.c), so that a registry that cannot be
# reached ends the run at once with npm's reason, rather than each WARC
# test waiting for npm to give up.  The same npm flags as the tests'.
warcio_preflight() {
  local dir=${SPINDLE_NPM_DIR:-/tmp/spindle-npm}
  [ -f "$dir/.spindle-warcio-installed" ] && return 0
  say "warcio: npm install --prefix $dir warcio@2"
  mkdir -p "$dir"
  if ! command -v npm >/dev/null; then
    echo "test.sh: error: npm is not installed; the WARC tests read their files with warcio (npm)" >&2
    return 1
  fi
  if ! npm install --prefix "$dir" warcio@2 --no-audit --no-fund --fetch-retries=0 --fetch-timeout=30000 \
    >"$dir/npm-install.log" 2>&1; then
    echo "test.sh: error: cannot install warcio from the npm registry, which the WARC tests need" \
      "to read back spindle's WARC files; npm said:" >&2
    grep -E 'npm (ERR|error)' "$dir/npm-install.log" | head -n 5 >&2 || tail -n 5 "$dir/npm-install.log" >&2
    cp "$dir/npm-install.log" "$dir/.spindle-warcio-failed"
    return 1
  fi
  rm -f "$dir/.spindle-warcio-failed"
  touch "$dir/.spindle-warcio-installed"
}

# TSan of GCC 12 aborts with "FATAL: ThreadSanitizer: unexpected memory
# mapping" when the kernel places mappings where its shadow layout does not
# expect them, as kernels with high mmap randomisation (vm.mmap_rnd_bits > 28)
# do.  A small threaded TSan program tells what works on this machine; the
# ctest run then uses the first of: ASLR off through `setarch -R` (also rules
# out rare unlucky layouts), plain, or vm.mmap_rnd_bits=28 (root only).
# Sets the array tsan_launcher.
tsan_launcher=()
choose_tsan_launcher() {
  local dir=$1 cc probe arch bits
  cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$dir/CMakeCache.txt")
  probe=$dir/tsan-probe
  arch=$(uname -m)
  cat >"$probe.c" <<'PROBE'
#include <pthread.h>
#include <stdio.h>
static int counter;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *work(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  counter++;
  pthread_mutex_unlock(&lock);
  return NULL;
}
int main(void) {
  pthread_t t;
  if (pthread_create(&t, NULL, work, NULL) != 0) return 1;
  work(NULL);
  pthread_join(t, NULL);
  printf("tsan probe ok (%d)\n", counter);
  return counter == 2 ? 0 : 1;
}
PROBE
  if ! "$cc" -fsanitize=thread -g -O1 -pthread "$probe.c" -o "$probe"; then
    echo "test.sh: error: $cc cannot build a -fsanitize=thread program" >&2
    return 1
  fi
  if setarch "$arch" -R true 2>/dev/null && setarch "$arch" -R "$probe" >"$probe.log" 2>&1; then
    tsan_launcher=(setarch "$arch" -R)
    echo "TSan probe passes with ASLR off: running ctest under '${tsan_launcher[*]}'"
    return 0
  fi
  if "$probe" >"$probe.log" 2>&1; then
    tsan_launcher=()
    echo "TSan probe passes with ASLR on (setarch -R is not permitted here): running ctest as is"
    return 0
  fi
  bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)
  if [ "$bits" -gt 28 ] && [ "$(id -u)" -eq 0 ]; then
    echo "TSan probe fails with vm.mmap_rnd_bits=$bits: setting it to 28"
    if sysctl -w vm.mmap_rnd_bits=28 && "$probe" >"$probe.log" 2>&1; then
      tsan_launcher=()
      return 0
    fi
  fi
  echo "test.sh: error: a TSan-built program cannot run on this machine, neither with" \
    "ASLR off (setarch -R) nor as is; try 'sysctl -w vm.mmap_rnd_bits=28' as root." \
    "The probe said:" >&2
  cat "$probe.log" >&2
  return 1
}

# Reads ctest's closing line from $1, adds its counts to the totals and sets
# counts to "N passed, M failed" (empty if there is no such line).
counts=
count_tests() {
  local line failed total
  counts=
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -n 1) || return 0
  [ -n "$line" ] || return 0
  failed=$(sed -E 's/.* ([0-9]+) tests? failed out of.*/\1/' <<<"$line")
  total=$(sed -E 's/.*failed out of ([0-9]+).*/\1/' <<<"$line")
  total_passed=$((total_passed + total - failed))
  total_failed=$((total_failed + failed))
  counts="$((total - failed)) passed, $failed failed"
}

# run_build KIND: configure, build and test one build; records its summary.
run_build() {
  local kind=$1 dir sanitize t0 t_build rc
  case "$kind" in
    plain) dir=$base sanitize= ;;
    asan) dir=$base-asan sanitize=address ;;
    tsan) dir=$base-tsan sanitize=thread ;;
  esac
  t0=$SECONDS

  say "$kind: configure $dir (SPINDLE_SANITIZE='$sanitize')"
  if ! cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSPINDLE_WERROR=ON -DSPINDLE_SANITIZE="$sanitize"; then
    summary[$kind]="FAIL at configure"
    return 1
  fi

  say "$kind: build (-j$jobs)"
  if ! cmake --build "$dir" -j "$jobs"; then
    summary[$kind]="FAIL at build ($((SECONDS - t0)) s)"
    return 1
  fi
  t_build=$((SECONDS - t0))

  local launcher=()
  if [ "$kind" = tsan ]; then
    if ! choose_tsan_launcher "$dir"; then
      summary[$kind]="FAIL: TSan programs cannot run on this machine"
      return 1
    fi
    launcher=("${tsan_launcher[@]}")
  fi

  say "$kind: ${launcher[*]:+${launcher[*]} }ctest --output-on-failure -j1 ${ctest_args[*]}"
  t0=$SECONDS
  rc=0
  "${launcher[@]}" ctest --test-dir "$dir" --output-on-failure -j1 --no-tests=error \
    "${ctest_args[@]}" 2>&1 | tee "$dir/ctest.log" || rc=$?
  count_tests "$dir/ctest.log"
  if [ "$rc" -ne 0 ] && grep -q 'Could not initialize inheritable arena' "$dir/ctest.log"; then
    echo "test.sh: note: Criterion's fork-per-test runner cannot start in a TSan build" \
      "(its arena needs address space that TSan reserves); TSan tests must not use Criterion's runner" >&2
  fi
  if [ "$rc" -ne 0 ]; then
    summary[$kind]="FAIL: ${counts:-ctest exited $rc}"
  else
    summary[$kind]="PASS: $counts"
  fi
  summary[$kind]+=" (build ${t_build} s, tests $((SECONDS - t0)) s)"
  return "$rc"
}

main() {
  parse_args "$@"
  local kind status=0
  setup
  warcio_preflight || return 1
  print_environment
  for kind in "${builds[@]}"; do
    run_build "$kind" || status=1
  done
  say "summary"
  for kind in "${builds[@]}"; do
    printf '%-6s %s\n' "$kind" "${summary[$kind]}"
  done
  echo "total: $total_passed passed, $total_failed failed"
  return "$status"
}

main "$@"
