#!/usr/bin/env bash
# io_compare.sh: spindle's HTTP client and resolver beside their peers, on
# loopback only.  Starts its own nginx (a small static site) and dnsmasq,
# then, interleaving R runs of each tool:
#
#   http-get  wrk -t W -c C -d Ds URL
#             curl --parallel --parallel-max min(C,300) over N copies of URL
#             spindle-bench http-get --url URL --concurrency C --requests N --workers W
#   resolve   gai-bench --threads C (getaddrinfo on a thread pool)
#             spindle-bench resolve --concurrency C --workers W --no-cache
#   http-get-big  spindle-bench http-get with 10,000 concurrent requests, once
#                 against the plain URL and once against a rate-limited copy
#                 (every request in flight at once): fds and memory before and after
#
# and prints one summary line per comparison on stdout (medians), per-run
# lines on stderr.  Run it as root: it re-executes itself in a private
# network and mount namespace (unshare), where dnsmasq takes 127.0.0.1:53 and
# a bind-mounted /etc/resolv.conf points getaddrinfo at it, and nothing it
# starts can clash with the host's ports.  Without root it uses the host's
# loopback and skips getaddrinfo.
#
# usage: tools/bench/io_compare.sh [--build-dir DIR] [--runs R] [--workers N]
#                                  [--concurrency C] [--requests N] [...]
set -euo pipefail
shopt -s inherit_errexit # command substitutions stop at the first failure too

prog=io_compare.sh
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
self="$root/tools/bench/io_compare.sh"
orig_args=("$@")

usage() {
    cat <<EOF
usage: tools/bench/io_compare.sh [options]

  --build-dir DIR        CMake build directory holding bin/spindle-bench and bin/gai-bench
                         (default: build/ in the repository root)
  --runs R               runs per tool, interleaved (default 3)
  --workers N            spindle workers and wrk threads (default: nproc = $(nproc))
  --concurrency C        concurrent requests (wrk connections, curl --parallel-max up to
                         curl's maximum of 300, spindle tasks) and concurrent lookups
                         (gai-bench threads, spindle tasks) (default 100)
  --requests N           requests per curl and spindle run (default 50000)
  --duration S           seconds per wrk run (default 5)
  --lookups M            lookups per gai-bench and spindle resolve run (default 100000)
  --names N              distinct names looked up, n0.bench.test ... (default 1000)
  --big-concurrency C    the one run with many concurrent requests (default 10000)
  --big-requests N       its requests (default 20000)
  --only LIST            comma-separated subset of: http,resolve,big (default: all)
  --no-netns             do not enter a private network namespace (getaddrinfo is skipped)
  -h, --help             this text

Every tool runs on the same nginx (one worker process, keep-alive) or dnsmasq,
sharing the machine's cores with it; nothing is pinned.  One URL is fetched by
all three HTTP clients (a 2 KB file of the generated site).

Output (stdout), medians over the runs:
  bench=http-get workers=W concurrency=C requests=N spindle_rps=.. wrk_rps=.. curl_rps=..
    ratio_wrk=SPINDLE/WRK ratio_curl=SPINDLE/CURL spindle_cpu_us=.. wrk_cpu_us=.. curl_cpu_us=..
    curl_parallel_max=.. spindle_rss_kb=..
  bench=resolve workers=W concurrency=C lookups=M names=N spindle_lps=.. gai_lps=..
    ratio_gai=SPINDLE/GAI spindle_cpu_us=.. gai_cpu_us=.. spindle_queries=.. spindle_rss_kb=..
    gai_rss_kb=..
  (*_cpu_us: the client's CPU time, user + system, per request or lookup, from GNU time
  /usr/bin/time; nan without it)
  bench=http-get-big workers=W concurrency=C requests=N path=.. rps=.. errors=.. max_inflight=..
    fds_before=.. fds_after=.. rss_peak_kb=.. rss_before_kb=.. rss_after_kb=.. rss_trimmed_kb=..
    heap_before_kb=.. heap_after_kb=..
  bench=http-get-big-slow ...   the same against /slow/ (nginx limit_rate 2 KB/s, so each
                                response takes ~1 s and the requests overlap: max_inflight)
(one line each; fds and memory are spindle-bench's own, before the runtime starts and
after it is freed; rss_trimmed_kb after malloc_trim(0), heap_* = malloc'd bytes in use).
Exits non-zero if any tool failed or reported an error.
EOF
}

die() { echo "$prog: $*" >&2; exit 1; }
warn() { echo "$prog: $*" >&2; }
bad_usage() { echo "$prog: $*" >&2; echo "try '$0 --help'" >&2; exit 2; }
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

build_dir="$root/build"
runs=3
workers="$(nproc)"
concurrency=100
requests=50000
duration=5
lookups=100000
names=1000
big_c=10000
big_n=20000
only="http,resolve,big"
use_netns=1
in_netns=0

need_val() { (($1 >= 2)) || bad_usage "$2 needs a value"; }
while (($#)); do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --in-netns) in_netns=1; shift ;;   # internal: already re-executed under unshare
        --no-netns) use_netns=0; shift ;;
        --*=*) opt="${1%%=*}"; val="${1#*=}"; shift; set -- "$opt" "$val" "$@"; continue ;;
        --build-dir) need_val $# "$1"; build_dir="$2"; shift 2 ;;
        --runs) need_val $# "$1"; runs="$2"; shift 2 ;;
        --workers) need_val $# "$1"; workers="$2"; shift 2 ;;
        --concurrency) need_val $# "$1"; concurrency="$2"; shift 2 ;;
        --requests) need_val $# "$1"; requests="$2"; shift 2 ;;
        --duration) need_val $# "$1"; duration="$2"; shift 2 ;;
        --lookups) need_val $# "$1"; lookups="$2"; shift 2 ;;
        --names) need_val $# "$1"; names="$2"; shift 2 ;;
        --big-concurrency) need_val $# "$1"; big_c="$2"; shift 2 ;;
        --big-requests) need_val $# "$1"; big_n="$2"; shift 2 ;;
        --only) need_val $# "$1"; only="$2"; shift 2 ;;
        *) bad_usage "unknown argument '$1'" ;;
    esac
done

for v in runs:runs workers:workers concurrency:concurrency requests:requests duration:duration \
    lookups:lookups names:names big_c:big-concurrency big_n:big-requests; do
    name="${v%%:*}"
    val="${!name}"
    if ! is_uint "$val" || ((10#$val < 1)); then
        bad_usage "--${v#*:} must be a positive integer (got '$val')"
    fi
done
do_http=0 do_dns=0 do_big=0
IFS=, read -r -a parts <<<"$only"
for p in "${parts[@]}"; do
    case "$p" in
        http) do_http=1 ;;
        resolve) do_dns=1 ;;
        big) do_big=1 ;;
        *) bad_usage "--only: unknown part '$p' (known: http,resolve,big)" ;;
    esac
done
((10#$concurrency >= 10#$workers)) || bad_usage "--concurrency must be at least --workers (wrk needs a connection per thread)"

[[ "$build_dir" = /* ]] || build_dir="$PWD/$build_dir"
sbin="$build_dir/bin/spindle-bench"
gbin="$build_dir/bin/gai-bench"
[[ -x "$sbin" ]] || die "spindle-bench not found at '$sbin' (build it: cmake -S . -B build && cmake --build build; or pass --build-dir DIR)"
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
dnsmasq_bin="$(command -v dnsmasq || echo /usr/sbin/dnsmasq)"
if ((do_http || do_big)); then
    [[ -x "$nginx_bin" ]] || die "nginx not found (Debian: apt-get install nginx, or tools/setup.sh)"
fi
if ((do_http)); then
    command -v wrk >/dev/null 2>&1 || die "wrk not found (apt-get install -y wrk, or tools/setup.sh --bench)"
    command -v curl >/dev/null 2>&1 || die "curl not found (apt-get install -y curl)"
fi
if ((do_dns)); then
    [[ -x "$dnsmasq_bin" ]] || die "dnsmasq not found (Debian: apt-get install dnsmasq-base, or tools/setup.sh)"
fi

# ------------------------------------------------- private network namespace
# Re-executes this script under unshare: its own loopback (port 53 is ours,
# no clash with the host's ports) and its own mounts (resolv.conf).  unshare
# without --fork execs in place, so the script keeps its PID.
if ((!in_netns && use_netns)); then
    if [[ $EUID -eq 0 ]] && command -v unshare >/dev/null 2>&1 \
        && unshare --net --mount --propagation private true 2>/dev/null; then
        exec unshare --net --mount --propagation private -- bash "$self" --in-netns "${orig_args[@]}"
    fi
    warn "cannot enter a private network namespace (needs root and unshare): using the host's loopback; getaddrinfo is skipped"
    use_netns=0
fi
if ((in_netns)); then
    ip link set lo up 2>/dev/null || die "cannot bring up lo in the private network namespace (ip link set lo up)"
fi
if ((do_dns && in_netns)) && [[ ! -x "$gbin" ]]; then
    die "gai-bench not found at '$gbin' (build it: cmake --build $build_dir --target gai-bench)"
fi

# ------------------------------------------------------------ processes, cleanup
tmp="$(mktemp -d "${TMPDIR:-/tmp}/spindle-io.XXXXXX")"
nginx_pid="" dnsmasq_pid="" resolv_mounted=0
stop_pid() { # PID: SIGTERM, up to 5 s, then SIGKILL; only our own children
    local pid="$1" i
    [[ -n "$pid" ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$nginx_pid"
    stop_pid "$dnsmasq_pid"
    if ((resolv_mounted)); then umount /etc/resolv.conf 2>/dev/null || true; fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free TCP or UDP port on the host's loopback (outside the namespace only),
# below the ephemeral range (32768-) where client sockets would collide.
pick_port() { # tcp|udp
    local flag=-Htan i port
    if [[ $1 == udp ]]; then flag=-Huan; fi
    for ((i = 0; i < 50; i++)); do
        port=$((20000 + RANDOM % 12000))
        if ! ss $flag 2>/dev/null | awk '{print $4}' | grep -q ":$port\$"; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# ------------------------------------------------------------------ nginx
start_nginx() {
    mkdir -p "$tmp/site" "$tmp/nginx/tmp"
    # 100 files of 1-4 KB; the clients fetch page042.html (~2 KB).
    local pattern i size
    pattern="$(printf 'spindle io benchmark page %.0s' {1..200})"
    for ((i = 0; i < 100; i++)); do
        size=$((1024 + (i * 997) % 3072))
        printf -v f '%s/site/page%03d.html' "$tmp" "$i"
        printf '%s' "${pattern:0:$size}" >"$f"
    done
    printf 'ready\n' >"$tmp/site/ready.txt"
    local nofile; nofile="$(ulimit -Hn)"
    [[ "$nofile" == unlimited ]] && nofile=65536
    local port attempt
    for ((attempt = 1; attempt <= 5; attempt++)); do
        if ((use_netns)); then port=8080; else port="$(pick_port tcp)" || die "no free TCP port on 127.0.0.1"; fi
        cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
$([[ $EUID -eq 0 ]] && echo "user root root;")
worker_rlimit_nofile $nofile;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events {
  worker_connections 20000;
}
http {
  access_log off;
  client_body_temp_path $tmp/nginx/tmp/body;
  proxy_temp_path $tmp/nginx/tmp/proxy;
  fastcgi_temp_path $tmp/nginx/tmp/fastcgi;
  uwsgi_temp_path $tmp/nginx/tmp/uwsgi;
  scgi_temp_path $tmp/nginx/tmp/scgi;
  types { text/html html; text/plain txt; }
  default_type application/octet-stream;
  sendfile on;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  server {
    listen 127.0.0.1:$port backlog=4096;
    root $tmp/site;
    # the same files sent at 2 KB/s, so that a response takes about a second
    # and the big run's requests all overlap
    location /slow/ {
      alias $tmp/site/;
      limit_rate 2048;
    }
  }
}
EOF
        : >"$tmp/nginx/error.log"
        "$nginx_bin" -p "$tmp/nginx/" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" \
            </dev/null >>"$tmp/nginx/error.log" 2>&1 &
        nginx_pid=$!
        local i
        for ((i = 0; i < 100; i++)); do
            if [[ "$(curl -s --max-time 1 "http://127.0.0.1:$port/ready.txt" 2>/dev/null)" == ready ]]; then
                url="http://127.0.0.1:$port/page042.html"
                slow_url="http://127.0.0.1:$port/slow/page042.html"
                warn "nginx (pid $nginx_pid) serving $tmp/site on 127.0.0.1:$port"
                return 0
            fi
            kill -0 "$nginx_pid" 2>/dev/null || break
            sleep 0.05
        done
        stop_pid "$nginx_pid"; nginx_pid=""
        if grep -q "Address already in use" "$tmp/nginx/error.log" && ((!use_netns)); then
            warn "port $port taken meanwhile, trying another"
            continue
        fi
        sed 's/^/    /' "$tmp/nginx/error.log" >&2
        die "nginx did not start"
    done
    die "nginx: no free port after 5 attempts"
}

# ---------------------------------------------------------------- dnsmasq
start_dnsmasq() {
    mkdir -p "$tmp/dnsmasq"
    local port attempt i
    for ((attempt = 1; attempt <= 5; attempt++)); do
        if ((use_netns)); then port=53; else port="$(pick_port udp)" || die "no free UDP port on 127.0.0.1"; fi
        local args=(--keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts
                    --local=/#/ --bind-interfaces --listen-address=127.0.0.1 --port="$port" --pid-file=
                    --address=/bench.test/127.0.0.1 --log-facility="$tmp/dnsmasq/dnsmasq.log")
        # answers carry TTL 0 (dnsmasq's default --local-ttl): no cache keeps them
        [[ $EUID -eq 0 ]] && args+=(--user=root --group=root)
        : >"$tmp/dnsmasq/dnsmasq.log"
        "$dnsmasq_bin" "${args[@]}" </dev/null >>"$tmp/dnsmasq/dnsmasq.log" 2>&1 &
        dnsmasq_pid=$!
        dns_server="127.0.0.1:$port"
        for ((i = 0; i < 50; i++)); do
            if timeout 5 "$sbin" resolve --names 1 --lookups 1 --concurrency 1 --workers 1 --timeout 1 \
                --dns-server "$dns_server" >/dev/null 2>&1; then
                warn "dnsmasq (pid $dnsmasq_pid) answering *.bench.test on $dns_server"
                return 0
            fi
            kill -0 "$dnsmasq_pid" 2>/dev/null || break
            sleep 0.1
        done
        stop_pid "$dnsmasq_pid"; dnsmasq_pid=""
        if grep -q "Address already in use" "$tmp/dnsmasq/dnsmasq.log" && ((!use_netns)); then
            warn "port $port taken meanwhile, trying another"
            continue
        fi
        sed 's/^/    /' "$tmp/dnsmasq/dnsmasq.log" >&2
        die "dnsmasq did not start"
    done
    die "dnsmasq: no free port after 5 attempts"
}

# Points getaddrinfo at dnsmasq: a resolv.conf bind-mounted over the real one
# (in our own mount namespace, so the host's is untouched).
mount_resolv_conf() {
    printf 'nameserver 127.0.0.1\noptions ndots:1 timeout:2 attempts:2\n' >"$tmp/resolv.conf"
    mount --bind "$tmp/resolv.conf" /etc/resolv.conf || die "cannot bind-mount $tmp/resolv.conf over /etc/resolv.conf"
    resolv_mounted=1
    timeout 10 "$gbin" --threads 1 --names 1 --lookups 1 >/dev/null \
        || die "getaddrinfo does not reach dnsmasq through /etc/resolv.conf (gai-bench failed)"
}

# ---------------------------------------------------------------- helpers
# field KEY: value of KEY=... in the line on stdin ("" if absent)
field() {
    awk -v k="$1" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }'
}

median() { # numbers as arguments ("nan" if none, or if any is not a number)
    printf '%s\n' "$@" | sort -g | awk '
        { a[NR] = $1; if ($1 !~ /^[0-9.]+$/) bad = 1 }
        END {
            if (NR == 0 || bad) { print "nan"; exit }
            if (NR % 2) { print a[(NR + 1) / 2]; exit }
            m = (a[NR / 2] + a[NR / 2 + 1]) / 2
            printf (m == int(m) ? "%.0f\n" : "%.1f\n"), m
        }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f\n", a / b; else print "nan" }'; }

# The client's CPU time (user + system, its threads included) per run, from
# GNU time when installed: it tells the clients' cost apart from the server's
# (nginx and dnsmasq share the cores with them).
cpu_wrap=()
if [[ -x /usr/bin/time ]]; then cpu_wrap=(/usr/bin/time -f '%U %S' -o "$tmp/cpu.out"); fi

# cpu_us_per_op OPS: CPU microseconds per operation of the last timed run, or nan
cpu_us_per_op() {
    if ((${#cpu_wrap[@]} == 0)) || [[ ! -s "$tmp/cpu.out" ]]; then echo nan; return 0; fi
    tail -n 1 "$tmp/cpu.out" | awk -v n="$1" '{ if (n > 0 && NF == 2) printf "%.1f\n", ($1 + $2) * 1e6 / n; else print "nan" }'
}

# run_tool LABEL LIMIT_S CMD...: runs CMD with a time limit (and GNU time); its
# output on stdout; on failure prints it and exits.
run_tool() {
    local label="$1" limit="$2"; shift 2
    local out rc=0
    rm -f "$tmp/cpu.out"
    out="$(timeout --kill-after=5 "$limit" "${cpu_wrap[@]}" "$@" 2>&1)" || rc=$?
    if ((rc != 0)); then
        local why="exit $rc"
        if ((rc == 124 || rc == 137)); then why="timed out after ${limit}s"; fi
        echo "$prog: $label failed ($why): $*" >&2
        printf '%s\n' "$out" | tail -n 20 | sed 's/^/    /' >&2
        exit 1
    fi
    printf '%s\n' "$out"
}

result_line() { awk '/(^|[ \t])wall_ns=/ && /(^|[ \t])ns_per_op=/ { l = $0 } END { print l }'; }

# ---------------------------------------------------------------- http-get
# Each run_* prints one line with at least rps= and cpu_us= (client CPU per request).
run_wrk() {
    local out rps n
    out="$(run_tool "wrk" $((duration + 60)) wrk -t "$workers" -c "$concurrency" -d "${duration}s" "$url")"
    if grep -qE "Non-2xx|Socket errors" <<<"$out"; then
        printf '%s\n' "$out" | sed 's/^/    /' >&2
        die "wrk reported errors"
    fi
    rps="$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")"
    n="$(awk '/ requests in / { print $1 }' <<<"$out")"
    [[ -n "$rps" && -n "$n" ]] || { printf '%s\n' "$out" | sed 's/^/    /' >&2; die "no Requests/sec in wrk's output"; }
    printf 'rps=%.0f cpu_us=%s requests=%s duration=%ss threads=%s connections=%s\n' \
        "$rps" "$(cpu_us_per_op "$n")" "$n" "$duration" "$workers" "$concurrency"
}

curl_max=$((10#$concurrency < 300 ? 10#$concurrency : 300)) # curl caps --parallel-max at 300
run_curl() {
    local t0 t1
    t0="$(date +%s%N)"
    # Bodies go to curl's stdout, which is /dev/null.  An "output" line per URL
    # would make curl open and close a file per transfer: 35% more CPU here.
    run_tool "curl --parallel" $((requests / 100 + 120)) bash -c 'exec "$@" >/dev/null' curl \
        curl --parallel --parallel-immediate --parallel-max "$curl_max" -s -S --fail --max-time 30 \
        -K "$tmp/curl-urls.cfg" >/dev/null
    t1="$(date +%s%N)"
    awk -v n="$requests" -v ns="$((t1 - t0))" -v cpu="$(cpu_us_per_op "$requests")" -v pm="$curl_max" \
        'BEGIN { printf "rps=%.0f cpu_us=%s requests=%d wall_ns=%.0f parallel_max=%d\n", n * 1e9 / ns, cpu, n, ns, pm }'
}

run_spindle_http() {
    local line
    line="$(run_tool "spindle-bench http-get" $((requests / 100 + 120)) "$sbin" http-get --url "$url" \
        --concurrency "$concurrency" --requests "$requests" --workers "$workers" | result_line)"
    printf '%s cpu_us=%s\n' "$line" "$(cpu_us_per_op "$(field ops <<<"$line")")"
}

bench_http() {
    local i
    for ((i = 0; i < requests; i++)); do printf 'url = "%s"\n' "$url"; done >"$tmp/curl-urls.cfg"
    local s_rps=() w_rps=() c_rps=() s_cpu=() w_cpu=() c_cpu=() s_rss=0 r tool line rss
    for ((r = 1; r <= runs; r++)); do
        local order=(wrk curl spindle)
        ((r % 2)) || order=(spindle curl wrk)
        for tool in "${order[@]}"; do
            case "$tool" in
                wrk) line="$(run_wrk)" ;;
                curl) line="$(run_curl)" ;;
                spindle) line="$(run_spindle_http)" ;;
            esac
            warn "[http-get run $r/$runs $tool] $line"
            [[ -n "$(field rps <<<"$line")" ]] || die "$tool printed no rps: $line"
            case "$tool" in
                wrk) w_rps+=("$(field rps <<<"$line")"); w_cpu+=("$(field cpu_us <<<"$line")") ;;
                curl) c_rps+=("$(field rps <<<"$line")"); c_cpu+=("$(field cpu_us <<<"$line")") ;;
                spindle)
                    s_rps+=("$(field rps <<<"$line")"); s_cpu+=("$(field cpu_us <<<"$line")")
                    rss="$(field rss_kb <<<"$line")"
                    if ((rss > s_rss)); then s_rss=$rss; fi ;;
            esac
        done
    done
    local sm wm cm
    sm="$(median "${s_rps[@]}")"; wm="$(median "${w_rps[@]}")"; cm="$(median "${c_rps[@]}")"
    echo "bench=http-get workers=$workers concurrency=$concurrency requests=$requests spindle_rps=$sm wrk_rps=$wm curl_rps=$cm ratio_wrk=$(ratio "$sm" "$wm") ratio_curl=$(ratio "$sm" "$cm") spindle_cpu_us=$(median "${s_cpu[@]}") wrk_cpu_us=$(median "${w_cpu[@]}") curl_cpu_us=$(median "${c_cpu[@]}") curl_parallel_max=$curl_max spindle_rss_kb=$s_rss"
}

# ---------------------------------------------------------------- resolve
bench_resolve() {
    local s_lps=() g_lps=() s_cpu=() g_cpu=() s_q=() s_rss=0 g_rss=0 r tool line rss have_gai=$use_netns
    if ((!have_gai)); then warn "resolve: getaddrinfo skipped (no private namespace to point /etc/resolv.conf at dnsmasq)"; fi
    for ((r = 1; r <= runs; r++)); do
        local order=(gai spindle)
        ((r % 2)) || order=(spindle gai)
        for tool in "${order[@]}"; do
            case "$tool" in
                gai)
                    if ((!have_gai)); then continue; fi
                    line="$(run_tool "gai-bench" $((lookups / 100 + 120)) "$gbin" --threads "$concurrency" \
                        --names "$names" --lookups "$lookups" | result_line)" ;;
                spindle)
                    line="$(run_tool "spindle-bench resolve" $((lookups / 100 + 120)) "$sbin" resolve \
                        --names "$names" --lookups "$lookups" --concurrency "$concurrency" --workers "$workers" \
                        --dns-server "$dns_server" --no-cache | result_line)" ;;
            esac
            line+=" cpu_us=$(cpu_us_per_op "$(field ops <<<"$line")")"
            warn "[resolve run $r/$runs $tool] $line"
            rss="$(field rss_kb <<<"$line")"
            [[ -n "$(field lps <<<"$line")" && -n "$rss" ]] || die "$tool printed no lps/rss_kb: $line"
            if [[ $tool == gai ]]; then
                g_lps+=("$(field lps <<<"$line")"); g_cpu+=("$(field cpu_us <<<"$line")")
                if ((rss > g_rss)); then g_rss=$rss; fi
            else
                s_lps+=("$(field lps <<<"$line")"); s_cpu+=("$(field cpu_us <<<"$line")")
                s_q+=("$(field queries <<<"$line")")
                if ((rss > s_rss)); then s_rss=$rss; fi
            fi
        done
    done
    local sm gm="nan" gc="nan"
    sm="$(median "${s_lps[@]}")"
    if ((have_gai)); then gm="$(median "${g_lps[@]}")"; gc="$(median "${g_cpu[@]}")"; else g_rss=nan; fi
    echo "bench=resolve workers=$workers concurrency=$concurrency lookups=$lookups names=$names spindle_lps=$sm gai_lps=$gm ratio_gai=$(ratio "$sm" "$gm") spindle_cpu_us=$(median "${s_cpu[@]}") gai_cpu_us=$gc spindle_queries=$(median "${s_q[@]}") spindle_rss_kb=$s_rss gai_rss_kb=$g_rss"
}

# ------------------------------------------------------------ http-get-big
# big_run LABEL URL: one spindle-bench http-get with --big-concurrency tasks.
big_run() {
    local label="$1" u="$2" line rc=0
    line="$(timeout --kill-after=5 $((big_n / 20 + 180)) "$sbin" http-get --url "$u" --concurrency "$big_c" \
        --requests "$big_n" --workers "$workers" 2>"$tmp/big.err")" || rc=$?
    line="$(result_line <<<"$line")"
    warn "[$label] $line"
    if ((rc != 0)); then
        sed 's/^/    /' "$tmp/big.err" >&2
        die "spindle-bench http-get --concurrency $big_c --url $u failed (exit $rc)"
    fi
    local k out="bench=$label workers=$workers concurrency=$big_c requests=$big_n path=${u#http://*/}"
    for k in rps errors max_inflight fds_before fds_after; do out+=" $k=$(field "$k" <<<"$line")"; done
    out+=" rss_peak_kb=$(field rss_kb <<<"$line")"
    for k in rss_before_kb rss_after_kb rss_trimmed_kb heap_before_kb heap_after_kb; do
        out+=" $k=$(field "$k" <<<"$line")"
    done
    echo "$out"
}

bench_big() {
    big_run http-get-big "$url"            # as fast as nginx answers
    big_run http-get-big-slow "$slow_url"  # each response takes ~1 s: all requests overlap
}

# ------------------------------------------------------------------- main
if ((do_http || do_big)); then start_nginx; fi
if ((do_dns)); then
    start_dnsmasq
    if ((use_netns)); then mount_resolv_conf; fi
fi
where="host loopback"
if ((use_netns)); then where="private network namespace"; fi
warn "workers=$workers concurrency=$concurrency runs=$runs ($where)"
if ((do_http)); then bench_http; fi
if ((do_dns)); then bench_resolve; fi
if ((do_big)); then bench_big; fi
exit 0
