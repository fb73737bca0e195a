#!/usr/bin/env bash
# compare.sh: run spindle-bench (C) and spindle-bench-go (Go peer) on the
# same benchmarks, interleaving their runs so machine noise hits both, and
# print one summary line per benchmark:
#
#   bench=NAME workers=N spindle_ns_per_op=.. go_ns_per_op=.. speedup=GO/SPINDLE
#   spindle_wall_ns=.. go_wall_ns=.. spindle_rss_kb=.. go_rss_kb=..
#
# (one line each; medians of ns_per_op and wall_ns, max of rss_kb; speedup > 1
# means spindle is faster). Progress and per-run lines go to stderr.
#
# usage: tools/bench/compare.sh [--build-dir DIR] [--runs R] [--workers N] [BENCH...]
set -euo pipefail

prog=compare.sh
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
godir="$root/tools/bench/go"
gobin="$godir/spindle-bench-go"

all_benches=(switch sleep sleep-1m spawn-many yield-many ping-pong chained-spawn skynet fib)

usage() {
    cat <<EOF
usage: tools/bench/compare.sh [--build-dir DIR] [--runs R] [--workers N] [BENCH...]

  --build-dir DIR  CMake build directory holding bin/spindle-bench (default: build,
                   relative to the repository root)
  --runs R         runs per implementation, interleaved C/Go (default 5)
  --workers N      worker threads / GOMAXPROCS for both (default: nproc = $(nproc))
  BENCH...         benchmarks to run (default: all):
                     ${all_benches[*]}
                   sleep-1m = sleep --tasks 1000000 --ms 1000

Sizes passed to both programs:
  switch         --iters 10000000
  sleep          --tasks 10000 --ms 1000
  sleep-1m       sleep --tasks 1000000 --ms 1000
  spawn-many     --tasks 100000
  yield-many     --tasks 200 --yields 1000
  ping-pong      --iters 1000000
  chained-spawn  --tasks 100000
  skynet         --size 1000000
  fib            30

Output, one line per benchmark (medians of ns_per_op and wall_ns, max of rss_kb;
speedup = go_ns_per_op / spindle_ns_per_op, > 1 means spindle is faster):
  bench=NAME workers=N spindle_ns_per_op=.. go_ns_per_op=.. speedup=.. spindle_wall_ns=.. go_wall_ns=.. spindle_rss_kb=.. go_rss_kb=..
EOF
}

die() { echo "$prog: $*" >&2; exit 1; }
bad_usage() { echo "$prog: $*" >&2; echo "try '$0 --help'" >&2; exit 2; }

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

build_dir="$root/build"
runs=5
workers="$(nproc)"
benches=()

while (($#)); do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --build-dir) (($# >= 2)) || bad_usage "--build-dir needs a value"; build_dir="$2"; shift 2 ;;
        --build-dir=*) build_dir="${1#*=}"; shift ;;
        --runs) (($# >= 2)) || bad_usage "--runs needs a value"; runs="$2"; shift 2 ;;
        --runs=*) runs="${1#*=}"; shift ;;
        --workers) (($# >= 2)) || bad_usage "--workers needs a value"; workers="$2"; shift 2 ;;
        --workers=*) workers="${1#*=}"; shift ;;
        -*) bad_usage "unknown option '$1'" ;;
        *) benches+=("$1"); shift ;;
    esac
done

if ! is_uint "$runs" || ((10#$runs < 1)); then bad_usage "--runs must be a positive integer (got '$runs')"; fi
if ! is_uint "$workers" || ((10#$workers < 1)); then bad_usage "--workers must be a positive integer (got '$workers')"; fi
((${#benches[@]})) || benches=("${all_benches[@]}")

# Arguments (after the program name) for each benchmark; identical for C and Go.
bench_args() {
    case "$1" in
        switch)        echo "switch --iters 10000000" ;;
        sleep)         echo "sleep --tasks 10000 --ms 1000" ;;
        sleep-1m)      echo "sleep --tasks 1000000 --ms 1000" ;;
        spawn-many)    echo "spawn-many --tasks 100000" ;;
        yield-many)    echo "yield-many --tasks 200 --yields 1000" ;;
        ping-pong)     echo "ping-pong --iters 1000000" ;;
        chained-spawn) echo "chained-spawn --tasks 100000" ;;
        skynet)        echo "skynet --size 1000000" ;;
        fib)           echo "fib 30" ;;
        *)             return 1 ;;
    esac
}

for b in "${benches[@]}"; do
    bench_args "$b" >/dev/null || bad_usage "unknown benchmark '$b' (known: ${all_benches[*]})"
done

cbin="$build_dir/bin/spindle-bench"
if [[ ! -x "$cbin" ]]; then
    die "spindle-bench not found at '$cbin' (build it first: cmake -S . -B build && cmake --build build; or pass --build-dir DIR)"
fi

# Build the Go peer if it is missing or older than its sources.
go_stale() {
    [[ ! -x "$gobin" ]] && return 0
    [[ -n "$(find "$godir" -maxdepth 1 \( -name '*.go' -o -name go.mod \) -newer "$gobin" -print -quit)" ]]
}
if go_stale; then
    command -v go >/dev/null 2>&1 || die "go not found in PATH (needed to build $gobin)"
    echo "$prog: building $gobin" >&2
    gocache_tmp=""
    if [[ -z "${GOCACHE:-}" && -z "${HOME:-}" && -z "${XDG_CACHE_HOME:-}" ]]; then
        gocache_tmp="$(mktemp -d)"
        export GOCACHE="$gocache_tmp"
    fi
    (cd "$godir" && GOFLAGS=-mod=mod GOPROXY=off go build -o spindle-bench-go .) \
        || die "building the Go peer failed"
    [[ -n "$gocache_tmp" ]] && rm -rf "$gocache_tmp"
fi

# run_one IMPL_LABEL BINARY ARGS... -> prints the program's result line on stdout
run_one() {
    local label="$1"; shift
    local out rc=0
    out="$("$@" 2>&1)" || rc=$?
    if ((rc != 0)); then
        echo "$prog: $label failed (exit $rc): $*" >&2
        printf '%s\n' "$out" | sed 's/^/    /' >&2
        exit 1
    fi
    local line
    # spindle-bench switch also prints Boost.Context's line (impl=boost-fcontext): not spindle's
    line="$(printf '%s\n' "$out" | awk '/(^|[ \t])wall_ns=/ && /(^|[ \t])ns_per_op=/ && !/impl=boost-fcontext/ { l = $0 } END { print l }')"
    [[ -n "$line" ]] || { echo "$prog: $label printed no result line: $*" >&2; printf '%s\n' "$out" | sed 's/^/    /' >&2; exit 1; }
    printf '%s\n' "$line"
}

# field KEY: value of KEY=... in the line on stdin ("" if absent)
field() {
    awk -v k="$1" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }'
}

# summarise the collected lines (on stdin, one "impl ns_per_op wall_ns rss_kb" per run)
summarise() {
    awk -v bench="$1" -v workers="$2" '
        function median(a, n,   i, j, t) {
            for (i = 2; i <= n; i++) {            # insertion sort, n is small
                t = a[i]
                for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]
                a[j + 1] = t
            }
            return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        $1 == "spindle" { sn++; sp[sn] = $2 + 0; sw[sn] = $3 + 0; if ($4 + 0 > srss) srss = $4 + 0 }
        $1 == "go"      { gn++; gp[gn] = $2 + 0; gw[gn] = $3 + 0; if ($4 + 0 > grss) grss = $4 + 0 }
        END {
            s_ns = median(sp, sn); g_ns = median(gp, gn)
            s_w = median(sw, sn);  g_w = median(gw, gn)
            speed = (s_ns > 0) ? sprintf("%.2f", g_ns / s_ns) : "inf"
            printf "bench=%s workers=%s spindle_ns_per_op=%.2f go_ns_per_op=%.2f speedup=%s spindle_wall_ns=%.0f go_wall_ns=%.0f spindle_rss_kb=%d go_rss_kb=%d\n",
                bench, workers, s_ns, g_ns, speed, s_w, g_w, srss, grss
        }'
}

for b in "${benches[@]}"; do
    read -r -a args <<<"$(bench_args "$b")"
    samples=""
    s_result="" g_result=""
    for ((r = 1; r <= runs; r++)); do
        # alternate which implementation goes first
        if ((r % 2)); then order=(spindle go); else order=(go spindle); fi
        for impl in "${order[@]}"; do
            if [[ $impl == spindle ]]; then
                line="$(run_one "spindle-bench $b" "$cbin" "${args[@]}" --workers "$workers" --runs 1)"
            else
                line="$(run_one "spindle-bench-go $b" "$gobin" "${args[@]}" --workers "$workers" --runs 1)"
            fi
            echo "$prog: [$b run $r/$runs $impl] $line" >&2
            nspo="$(field ns_per_op <<<"$line")"
            wall="$(field wall_ns <<<"$line")"
            rss="$(field rss_kb <<<"$line")"
            res="$(field result <<<"$line")"
            [[ -n "$nspo" && -n "$wall" && -n "$rss" ]] \
                || die "$impl $b: missing ns_per_op/wall_ns/rss_kb in: $line"
            if [[ $impl == spindle ]]; then s_result="$res"; else g_result="$res"; fi
            samples+="$impl $nspo $wall $rss"$'\n'
        done
    done
    if [[ -n "$s_result" && -n "$g_result" && "$s_result" != "$g_result" ]]; then
        echo "$prog: warning: $b: result differs: spindle result=$s_result, go result=$g_result" >&2
    fi
    printf '%s' "$samples" | summarise "$b" "$workers"
done
