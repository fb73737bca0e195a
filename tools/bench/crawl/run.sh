#!/usr/bin/env bash
# tools/bench/crawl/run.sh - spindle-crawl against other crawlers on one generated site.
#
# usage: tools/bench/crawl/run.sh [--build-dir DIR] [--pages N] [--hosts N] [--runs R]
#                                 [--only LIST] [--scrapy-max-seconds S] [options]
#
# Generates a site with spindle-sitegen (default 20,000 pages over 8 hosts),
# serves it with nginx on 127.0.0.1, and crawls it from http://h0.demo.test:PORT/
# with each tool in turn, R times, interleaved (run 1 of every tool, then run
# 2, ...):
#
#   wrk      the nginx ceiling: wrk -t2 -c64 -d5s cycling over expected.txt
#   curl     curl --parallel --parallel-max 64 --compressed over expected.txt
#            (the floor: knows the URLs, parses nothing)
#   spindle  spindle-crawl --allow-domain demo.test --concurrency 64 --per-host 4
#   go       go/main.go: net/http, 64 in flight, 4 per host, golang.org/x/net/html
#   aiohttp  aio_crawl.py: asyncio + aiohttp + lxml, 64 workers, 4 per host
#   wget     wget -r -l inf -nv -e robots=on -D demo.test -H (one connection)
#   scrapy   scrapy_crawl.py: CrawlSpider + LinkExtractor, 64 / 4 per host,
#            stopped after --scrapy-max-seconds (CLOSESPIDER_TIMEOUT)
#
# Every crawler runs in a private mount namespace (unshare --mount) in which a
# temporary hosts file is bind-mounted over /etc/hosts, mapping the site's
# hosts to 127.0.0.1, so all of them, spindle-crawl included, resolve through
# /etc/hosts and none queries DNS (--resolver dnsmasq gives spindle-crawl the
# generated dnsmasq instead, as tools/demo.sh does).  Each runs under
# /usr/bin/time -f '%e %U %S %M': wall seconds, user + sys CPU seconds of the
# crawler and its children (not nginx), peak RSS.  Completeness: the URLs each
# tool fetched with status 200 (robots.txt left out), normalised with
# `spindle-crawl --normalize -`, against the site's expected.txt: matched =
# expected URLs fetched, outside = URLs fetched with 200 that are not expected
# plus URLs of disallowed.txt fetched at all.  pages = responses received,
# robots.txt left out.
#
# All robots.txt-aware peers use "spindle" as their robots.txt product token
# (the site's --agent), so they have the same rules as spindle-crawl; wget
# cannot: it only ever matches "wget" or "*" groups, so it fetches the
# /no-spindle/ pages and skips /others-disallowed/ ones, and its completeness
# shows that.
#
# Options:
#   --build-dir DIR         CMake build directory with bin/spindle-crawl and
#                           bin/spindle-sitegen (default: build)
#   --pages N               HTML pages (default 20000)
#   --hosts N               hosts (default 8)
#   --runs R                runs per tool, interleaved (default 1)
#   --only LIST             comma-separated tools (default: wrk,curl,spindle,go,aiohttp,wget,scrapy)
#   --scrapy-max-seconds S  stop Scrapy after S seconds, 0 = never (default 120); its
#                           pages/s is then from what it did, its completeness "partial"
#   --tool-timeout S        kill any other tool after S seconds (default 600)
#   --wrk-seconds S         wrk duration (default 5)
#   --concurrency N         in flight in all (default 64)
#   --per-host N            in flight per host (default 4)
#   --spindle-args 'ARGS'   more arguments for spindle-crawl (word-split)
#   --go-args 'ARGS'        more arguments for the Go peer (word-split; e.g.
#                           '--parser scanner' for its tag scanner instead of x/net/html)
#   --resolver hosts|dnsmasq  how spindle-crawl resolves (default hosts)
#   --work-dir DIR          where the site and outputs go (default: a new directory
#                           under /dev/shm if it has room, else under $TMPDIR or /tmp)
#   --keep                  keep the work directory
#   --skip-missing          run the tools that are installed, skip the others
#
# Output: one line per tool per run on stderr; on stdout a table and then
#   tool=NAME pages=N wall_s=.. pages_per_s=.. cpu_ms_per_page=.. peak_rss_kb=.. complete=M/E outside=N ...
#   tool=wrk requests_per_s=..
#   ratio spindle/go pages_per_s=..  ratio spindle/scrapy pages_per_s=..
#   ratio cpu spindle/curl=..        rss spindle below all peers: yes|no
# (medians over the runs; peak RSS the largest; completeness the worst run).
# Installs nothing: names the Debian packages of the tools that are missing.
# Needs root (or unprivileged user namespaces) for the mount namespace.
set -euo pipefail

prog=run.sh
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
# shellcheck source=tools/lib/loopback.sh
. "$root/tools/lib/loopback.sh" # free_port, wait_port
here=$root/tools/bench/crawl
all_tools=(wrk curl spindle go aiohttp wget scrapy)
python=${PYTHON:-/usr/bin/python3}

build_dir=$root/build
pages=20000
hosts=8
runs=1
only=
scrapy_max=120
tool_timeout=600
wrk_seconds=5
concurrency=64
per_host=4
spindle_args=
go_args=
resolver=hosts
work=
keep=0
skip_missing=0
domain=demo.test
agent=spindle

pids=()
tools=()

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "$prog: error: $*" >&2; exit 1; }
bad_usage() { echo "$prog: $*" >&2; echo "try '$0 --help'" >&2; exit 2; }
note() { echo "$prog: $*" >&2; }
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      -h | --help) usage; exit 0 ;;
      --keep) keep=1; shift; continue ;;
      --skip-missing) skip_missing=1; shift; continue ;;
    esac
    [ $# -ge 2 ] || bad_usage "$1 needs a value (or is unknown)"
    case "$1" in
      --build-dir) build_dir=$2 ;;
      --pages) is_uint "$2" && [ "$2" -gt 0 ] || bad_usage "--pages wants a positive number"; pages=$2 ;;
      --hosts) is_uint "$2" && [ "$2" -gt 0 ] || bad_usage "--hosts wants a positive number"; hosts=$2 ;;
      --runs) is_uint "$2" && [ "$2" -gt 0 ] && [ "$2" -le 100 ] || bad_usage "--runs wants 1-100"; runs=$2 ;;
      --only) only=$2 ;;
      --scrapy-max-seconds) is_uint "$2" || bad_usage "--scrapy-max-seconds wants seconds"; scrapy_max=$2 ;;
      --tool-timeout) is_uint "$2" && [ "$2" -gt 0 ] || bad_usage "--tool-timeout wants seconds"; tool_timeout=$2 ;;
      --wrk-seconds) is_uint "$2" && [ "$2" -gt 0 ] || bad_usage "--wrk-seconds wants seconds"; wrk_seconds=$2 ;;
      --concurrency) is_uint "$2" && [ "$2" -gt 0 ] || bad_usage "--concurrency wants a positive number"; concurrency=$2 ;;
      --per-host) is_uint "$2" && [ "$2" -gt 0 ] || bad_usage "--per-host wants a positive number"; per_host=$2 ;;
      --spindle-args) spindle_args=$2 ;;
      --go-args) go_args=$2 ;;
      --resolver) [[ "$2" =~ ^(hosts|dnsmasq)$ ]] || bad_usage "--resolver wants hosts or dnsmasq"; resolver=$2 ;;
      --work-dir) work=$2 ;;
      *) bad_usage "unknown argument '$1'" ;;
    esac
    shift 2
  done
  case "$build_dir" in /*) ;; *) build_dir=$root/$build_dir ;; esac
  if [ -n "$only" ]; then
    local t ok
    IFS=, read -r -a tools <<<"$only"
    for t in "${tools[@]}"; do
      ok=0
      for a in "${all_tools[@]}"; do [ "$t" = "$a" ] && ok=1; done
      [ $ok = 1 ] || bad_usage "--only: unknown tool '$t' (known: ${all_tools[*]})"
    done
  else
    tools=("${all_tools[@]}")
  fi
}

has_tool() { local t; for t in "${tools[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }
drop_tool() {
  local t keep_list=()
  for t in "${tools[@]}"; do [ "$t" = "$1" ] || keep_list+=("$t"); done
  tools=("${keep_list[@]}")
}

# ------------------------------------------------------------------ checks

check_tools() {
  local missing_pkgs=() fatal=0 t
  need() { # need TOOL PACKAGE TEST...: TOOL="" for what every run needs
    local tool=$1 pkg=$2
    shift 2
    if ! "$@" >/dev/null 2>&1; then
      note "missing: $pkg${tool:+ (for $tool)}"
      missing_pkgs+=("$pkg")
      if [ -z "$tool" ] || [ $skip_missing = 0 ]; then
        fatal=1
      else
        drop_tool "$tool"
      fi
    fi
  }
  need "" nginx test -x /usr/sbin/nginx
  need "" time test -x /usr/bin/time
  need "" util-linux command -v unshare
  need "" coreutils command -v timeout
  [ "$resolver" = dnsmasq ] && has_tool spindle && need "" dnsmasq test -x /usr/sbin/dnsmasq
  has_tool wrk && need wrk wrk command -v wrk
  has_tool curl && need curl curl command -v curl
  has_tool wget && need wget wget command -v wget
  has_tool go && need go golang-go command -v go
  has_tool go && need go golang-golang-x-net-dev test -f /usr/share/gocode/src/golang.org/x/net/html/parse.go
  has_tool aiohttp && need aiohttp python3-aiohttp "$python" -c 'import aiohttp'
  has_tool aiohttp && need aiohttp python3-lxml "$python" -c 'import lxml.html'
  has_tool scrapy && need scrapy python3-scrapy "$python" -c 'import scrapy'
  if [ ${#missing_pkgs[@]} -gt 0 ]; then
    note "install with: apt-get install -y ${missing_pkgs[*]}"
    [ $fatal = 0 ] || die "missing tools (or pass --skip-missing to run without the optional ones)"
  fi
  sitegen=$build_dir/bin/spindle-sitegen
  crawl=$build_dir/bin/spindle-crawl
  [ -x "$sitegen" ] && [ -x "$crawl" ] ||
    die "no $crawl or $sitegen: cmake -S $root -B $build_dir && cmake --build $build_dir --target spindle-crawl spindle-sitegen"
  [ ${#tools[@]} -gt 0 ] || die "no tool left to run"
  if [ "$(id -u)" -eq 0 ]; then
    ns=(unshare --mount)
  else
    ns=(unshare --user --map-root-user --mount)
  fi
  "${ns[@]}" true 2>/dev/null || die "cannot make a mount namespace ('${ns[*]}'): run as root"
}

# ------------------------------------------------------------------ servers

cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
  if [ -n "$work" ] && [ -d "$work" ]; then
    if [ $keep = 1 ]; then
      note "kept $work"
    elif [ -n "${made_work:-}" ]; then
      rm -rf "$work"
    fi
  fi
}

make_work() {
  if [ -z "$work" ]; then
    local parent=${TMPDIR:-/tmp} avail
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then
      avail=$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2{print $4}')
      [ "${avail:-0}" -ge $((2 * 1024 * 1024)) ] && parent=/dev/shm
    fi
    work=$(mktemp -d "$parent/spindle-crawl-bench.XXXXXX")
    made_work=1
  else
    mkdir -p "$work"
    work=$(cd "$work" && pwd)
  fi
  site=$work/site
}

start_nginx() {
  local attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    note "site: $hosts hosts, $pages pages, port $port, in $site"
    "$sitegen" --out "$site" --hosts "$hosts" --pages "$pages" --domain "$domain" --agent "$agent" \
      --port "$port" >"$work/sitegen.out" || die "spindle-sitegen failed"
    : >"$site/error.log"
    /usr/sbin/nginx -p "$site/" -c "$site/nginx.conf" -e "$site/error.log" &
    nginx_pid=$!
    pids+=("$nginx_pid")
    if wait_port "$port" "$nginx_pid"; then
      note "nginx (pid $nginx_pid) on 127.0.0.1:$port"
      break
    fi
    wait "$nginx_pid" 2>/dev/null || true
    pids=("${pids[@]:0:${#pids[@]}-1}")
    grep -q 'Address already in use' "$site/error.log" || die "nginx did not start (see $site/error.log)"
    [ $attempt -lt 5 ] || die "nginx could not bind a port in 5 tries"
  done
  seed="http://h0.$domain:$port/"
  hostsfile=$work/hosts
  {
    echo "127.0.0.1 localhost"
    echo "::1 localhost ip6-localhost ip6-loopback"
    local k
    for k in $(seq 0 $((hosts - 1))); do echo "127.0.0.1 h$k.$domain"; done
  } >"$hostsfile"
  expected=$site/expected.txt
  n_expected=$(grep -c . "$expected")
}

start_dnsmasq() {
  dns_port=$(free_port)
  local records as_root=()
  mapfile -t records <"$site/dnsmasq.args"
  [ "$(id -u)" -eq 0 ] && as_root=(--user=root --group=root)
  /usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --local=/#/ \
    --bind-interfaces --listen-address=127.0.0.1 --port="$dns_port" --pid-file= \
    --log-facility="$site/dnsmasq.log" "${as_root[@]}" "${records[@]}" &
  pids+=($!)
  wait_port "$dns_port" "${pids[-1]}" || die "dnsmasq did not start (see $site/dnsmasq.log)"
  note "dnsmasq (pid ${pids[-1]}) on 127.0.0.1:$dns_port for spindle-crawl"
}

nginx_ticks() { awk '{print $14 + $15}' "/proc/$nginx_pid/stat" 2>/dev/null || echo 0; }

# --------------------------------------------------------------- the tools

build_go() {
  gobin=$work/go-crawl
  note "building the Go crawler"
  (cd "$here/go" && GOFLAGS=-mod=mod go build -o "$gobin" .) >"$work/go-build.log" 2>&1 ||
    { cat "$work/go-build.log" >&2; die "go build failed"; }
}

make_curl_config() {
  curlcfg=$work/curl.cfg
  awk '{printf "url = \"%s\"\n", $0}' "$expected" >"$curlcfg"
}

# ns_run TIMEFILE LIMIT CMD...: CMD in a mount namespace with our hosts file
# as /etc/hosts, under /usr/bin/time and timeout.  Returns CMD's status.
ns_run() {
  local tf=$1 limit=$2
  shift 2
  "${ns[@]}" sh -c 'mount --bind "$1" /etc/hosts || exit 125
    tf=$2 limit=$3; shift 3
    exec /usr/bin/time -f "%e %U %S %M" -o "$tf" timeout -k 10 "$limit" "$@"' \
    ns "$hostsfile" "$tf" "$limit" "$@"
}

# run_tool RUN TOOL: runs it, writes $dir/TOOL.status ("STATUS URL" lines) and
# appends its result line to $work/results.
run_tool() {
  local r=$1 t=$2 dir=$work/run-$1 rc=0 limit=$tool_timeout
  mkdir -p "$dir"
  local tf=$dir/$t.time st=$dir/$t.status partial=no
  local t0 t1
  t0=$(nginx_ticks)
  case "$t" in
    spindle)
      local dns=()
      [ "$resolver" = dnsmasq ] && dns=(--dns-server "127.0.0.1:$dns_port")
      # shellcheck disable=SC2086
      ns_run "$tf" "$limit" "$crawl" --allow-domain "$domain" --concurrency "$concurrency" \
        --per-host "$per_host" --quiet --output "$dir/spindle.jsonl" "${dns[@]}" $spindle_args "$seed" \
        2>"$dir/spindle.err" || rc=$?
      sed -n 's/^{"url":"\([^"]*\)","final_url":\(null\|"[^"]*"\),"status":\([0-9]*\).*/\3 \1/p' \
        "$dir/spindle.jsonl" >"$st" 2>/dev/null || true
      ;;
    go)
      ns_run "$tf" "$limit" "$gobin" --seed "$seed" --allow-domain "$domain" --concurrency "$concurrency" \
        --per-host "$per_host" --agent "$agent" --out "$st" $go_args 2>"$dir/go.err" || rc=$?
      ;;
    aiohttp)
      ns_run "$tf" "$limit" "$python" "$here/aio_crawl.py" --seed "$seed" --allow-domain "$domain" \
        --concurrency "$concurrency" --per-host "$per_host" --agent "$agent" --out "$st" \
        2>"$dir/aiohttp.err" || rc=$?
      ;;
    scrapy)
      [ "$scrapy_max" -gt 0 ] && limit=$((scrapy_max + 120))
      ns_run "$tf" "$limit" "$python" "$here/scrapy_crawl.py" --seed "$seed" --allow-domain "$domain" \
        --concurrency "$concurrency" --per-host "$per_host" --agent "$agent" --max-seconds "$scrapy_max" \
        --out "$dir/scrapy.out" 2>"$dir/scrapy.err" || rc=$?
      grep -v '^#' "$dir/scrapy.out" >"$st" 2>/dev/null || true
      grep -q '^# finish_reason finished' "$dir/scrapy.out" 2>/dev/null || partial=yes
      ;;
    wget)
      ns_run "$tf" "$limit" wget -r -l inf --no-parent -nv -o "$dir/wget.log" -P "$dir/wget.d" \
        -e robots=on -D "$domain" -H "$seed" 2>"$dir/wget.err" || rc=$?
      rm -rf "$dir/wget.d"
      # "... URL:U [n/n] -> ..." for a download; "U:" then "... ERROR NNN: ..." for an error
      awk '/ URL:/ { for (i = 1; i <= NF; i++) if (substr($i, 1, 4) == "URL:") { print "200", substr($i, 5); break }; next }
           /^[a-z]+:\/\/.*:$/ { pending = substr($0, 1, length($0) - 1); next }
           pending != "" && / ERROR [0-9]+/ { for (i = 1; i <= NF; i++) if ($i == "ERROR") { c = $(i + 1); sub(":", "", c); print c, pending }; pending = "" }' \
        "$dir/wget.log" >"$st" 2>/dev/null || true
      [ "$rc" -eq 8 ] && rc=0 # 8: "server issued an error response": the site's 404s
      ;;
    curl)
      # Bodies to stdout (/dev/null), statuses to stderr: an "output" line per
      # URL would make curl open and close a file per transfer (35% more CPU).
      ns_run "$tf" "$limit" curl -s --no-progress-meter --parallel --parallel-max "$concurrency" --compressed \
        -K "$curlcfg" -w '%{stderr}%{http_code} %{url_effective}\n' >/dev/null 2>"$dir/curl.err" || rc=$?
      grep -E '^[0-9]{3} ' "$dir/curl.err" >"$st" || true
      ;;
  esac
  t1=$(nginx_ticks)
  kill -0 "$nginx_pid" 2>/dev/null || die "nginx died during $t (see $site/error.log)"
  measure "$r" "$t" "$rc" "$partial" $((t1 - t0))
}

# measure RUN TOOL RC PARTIAL NGINX_TICKS
measure() {
  local r=$1 t=$2 rc=$3 partial=$4 nticks=$5 dir=$work/run-$1
  local st=$dir/$t.status tf=$dir/$t.time
  local wall=0 user=0 sys=0 rss=0 npages matched outside
  if [ -s "$tf" ]; then
    read -r wall user sys rss < <(grep -E '^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+$' "$tf" | tail -1) || true
  fi
  : "${wall:=0}" "${user:=0}" "${sys:=0}" "${rss:=0}"
  # robots.txt is not a page
  awk '$2 !~ /^[a-zA-Z]+:\/\/[^\/]*\/robots\.txt$/' "$st" >"$dir/$t.pages" 2>/dev/null || : >"$dir/$t.pages"
  npages=$(grep -c . "$dir/$t.pages" || true)
  awk '$1 == 200 { print $2 }' "$dir/$t.pages" | "$crawl" --normalize - 2>"$dir/$t.norm.err" |
    LC_ALL=C sort -u >"$dir/$t.got200" || true
  awk '{ print $2 }' "$dir/$t.pages" | "$crawl" --normalize - 2>>"$dir/$t.norm.err" |
    LC_ALL=C sort -u >"$dir/$t.gotall" || true
  matched=$(LC_ALL=C comm -12 "$dir/$t.got200" "$expected" | grep -c . || true)
  LC_ALL=C comm -23 "$dir/$t.got200" "$expected" >"$dir/$t.unexpected"
  LC_ALL=C comm -12 "$dir/$t.gotall" "$site/disallowed.txt" >"$dir/$t.disallowed"
  LC_ALL=C comm -13 "$dir/$t.got200" "$expected" >"$dir/$t.missing"
  outside=$(LC_ALL=C sort -u "$dir/$t.unexpected" "$dir/$t.disallowed" | grep -c . || true)
  local hz
  hz=$(getconf CLK_TCK)
  # results: run tool rc pages wall user sys rss matched expected outside partial nginx_cpu_s
  printf '%s %s %s %s %s %s %s %s %s %s %s %s %s\n' "$r" "$t" "$rc" "$npages" "$wall" "$user" "$sys" "$rss" \
    "$matched" "$n_expected" "$outside" "$partial" "$(awk -v t="$nticks" -v h="$hz" 'BEGIN{printf "%.2f", t / h}')" \
    >>"$work/results"
  awk -v r="$r" -v t="$t" -v rc="$rc" -v p="$npages" -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" \
    -v mt="$matched" -v e="$n_expected" -v o="$outside" -v pa="$partial" -v nt="$nticks" -v hz="$hz" 'BEGIN {
      pps = w > 0 ? p / w : 0; cpu = u + s; cms = p > 0 ? 1000 * cpu / p : 0; ncms = p > 0 ? 1000 * nt / hz / p : 0
      printf "run=%d tool=%s pages=%d wall_s=%.2f pages_per_s=%.0f cpu_s=%.2f cpu_ms_per_page=%.3f peak_rss_kb=%d complete=%d/%d outside=%d%s nginx_cpu_ms_per_page=%.3f rc=%s\n",
        r, t, p, w, pps, cpu, cms, m, mt, e, o, pa == "yes" ? " partial=yes" : "", ncms, rc }' >&2
  [ "$rc" = 0 ] || note "$t exited with status $rc (see $dir/$t.err)"
}

run_wrk() {
  local r=$1 dir=$work/run-$1 rps
  mkdir -p "$dir"
  timeout -k 5 $((wrk_seconds + 60)) wrk -t2 -c"$concurrency" -d"${wrk_seconds}s" -s "$here/wrk_urls.lua" \
    "http://127.0.0.1:$port/" -- "$expected" >"$dir/wrk.out" 2>&1 || true
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$dir/wrk.out")
  local non2xx
  non2xx=$(awk '/Non-2xx/ { print $NF }' "$dir/wrk.out")
  echo "$r wrk ${rps:-0} ${non2xx:-0}" >>"$work/wrk-results"
  echo "run=$r tool=wrk requests_per_s=${rps:-0} non_2xx=${non2xx:-0}" >&2
}

# ----------------------------------------------------------------- summary

summary() {
  local have_wrk=0
  [ -s "$work/wrk-results" ] && have_wrk=1
  echo
  echo "# $hosts hosts, $pages pages ($n_expected URLs expected with 200), $runs run(s), $(nproc) CPUs shared with nginx;"
  local how="/etc/hosts in a mount namespace, as every crawler"
  [ "$resolver" = dnsmasq ] && how="dnsmasq (--dns-server), the others /etc/hosts"
  echo "# $concurrency in flight, $per_host per host; spindle-crawl resolves via $how"
  awk -v have_wrk="$have_wrk" -v wrkfile="$work/wrk-results" -v order="${tools[*]}" '
    function median(s,   a, n, i, j, x) {
      n = split(s, a, " ")
      for (i = 2; i <= n; i++) { x = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
      if (n == 0) return 0
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
      t = $2; n[t]++
      pages[t] = pages[t] " " $4; wall[t] = wall[t] " " $5
      pps[t] = pps[t] " " ($5 > 0 ? $4 / $5 : 0)
      cms[t] = cms[t] " " ($4 > 0 ? 1000 * ($6 + $7) / $4 : 0)
      ncms[t] = ncms[t] " " ($4 > 0 ? 1000 * $13 / $4 : 0)
      if ($8 > rss[t]) rss[t] = $8
      if (!(t in mt) || $9 < mt[t]) mt[t] = $9
      exp_n[t] = $10
      if ($11 > out[t]) out[t] = $11
      if ($12 == "yes") part[t] = 1
      if ($3 != 0) bad[t] = bad[t] (bad[t] ? "," : "") $3
    }
    END {
      if (have_wrk) while ((getline line < wrkfile) > 0) { split(line, f, " "); wrk = wrk " " f[3] }
      printf "%-8s %7s %8s %8s %12s %12s %13s %8s  %s\n", "tool", "pages", "wall_s", "pages/s", "cpu_ms/page", "peak_rss_MB", "complete", "outside", "notes"
      k = split(order, ord, " ")
      for (i = 1; i <= k; i++) {
        t = ord[i]
        if (t == "wrk") { if (have_wrk) printf "%-8s %7s %8s %8.0f %12s %12s %13s %8s  %s\n", "wrk", "-", "-", median(wrk), "-", "-", "-", "-", "requests/s: the nginx ceiling"; continue }
        if (!(t in n)) continue
        note = part[t] ? "partial (stopped by --scrapy-max-seconds)" : ""
        if (t in bad) note = note (note ? "; " : "") "exit " bad[t]
        printf "%-8s %7d %8.2f %8.0f %12.3f %12.1f %13s %8d  %s\n", t, median(pages[t]), median(wall[t]), median(pps[t]),
          median(cms[t]), rss[t] / 1024, mt[t] "/" exp_n[t], out[t], note
      }
      print ""
      for (i = 1; i <= k; i++) {
        t = ord[i]
        if (t == "wrk") { if (have_wrk) printf "tool=wrk requests_per_s=%.0f\n", median(wrk); continue }
        if (!(t in n)) continue
        printf "tool=%s pages=%d wall_s=%.2f pages_per_s=%.0f cpu_ms_per_page=%.3f peak_rss_kb=%d complete=%d/%d outside=%d%s nginx_cpu_ms_per_page=%.3f runs=%d\n",
          t, median(pages[t]), median(wall[t]), median(pps[t]), median(cms[t]), rss[t], mt[t], exp_n[t], out[t],
          part[t] ? " partial=yes" : "", median(ncms[t]), n[t]
        P[t] = median(pps[t]); C[t] = median(cms[t])
      }
      if ("spindle" in n) {
        if (("go" in n) && P["go"] > 0) { x = P["spindle"] / P["go"]; printf("ratio spindle/go pages_per_s=%.2f (target >= 2: %s)\n", x, (x >= 2) ? "met" : "NOT met") }
        else print "ratio spindle/go pages_per_s=n/a"
        if (("scrapy" in n) && P["scrapy"] > 0) { x = P["spindle"] / P["scrapy"]; printf("ratio spindle/scrapy pages_per_s=%.1f (target >= 50: %s)%s\n", x, (x >= 50) ? "met" : "NOT met", part["scrapy"] ? " [scrapy partial]" : "") }
        else print "ratio spindle/scrapy pages_per_s=n/a"
        if (("curl" in n) && C["curl"] > 0) { x = C["spindle"] / C["curl"]; printf("ratio cpu spindle/curl=%.2f (target <= 1.5: %s)\n", x, (x <= 1.5) ? "met" : "NOT met") }
        else print "ratio cpu spindle/curl=n/a"
        if (have_wrk && median(wrk) > 0) printf("ratio spindle/wrk pages_per_s=%.2f (share of the nginx ceiling)\n", P["spindle"] / median(wrk))
        below = "yes"; lo = ""; lov = 0; peers = 0
        for (t in n) if (t != "spindle") { peers++; if (lo == "" || rss[t] < lov) { lo = t; lov = rss[t] }; if (rss[t] <= rss["spindle"]) below = "no" }
        if (peers) printf("rss spindle below all peers: %s (spindle %d KB; lowest peer %s %d KB)\n", below, rss["spindle"], lo, lov)
        else print "rss spindle below all peers: n/a"
        ok = (mt["spindle"] == exp_n["spindle"] && out["spindle"] == 0) ? "met" : "NOT met"
        printf("complete spindle: %d/%d outside=%d (target: all, none outside: %s)\n", mt["spindle"], exp_n["spindle"], out["spindle"], ok)
      }
    }' "$work/results"
}

main() {
  parse_args "$@"
  check_tools
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  make_work
  start_nginx
  if [ "$resolver" = dnsmasq ] && has_tool spindle; then start_dnsmasq; fi
  has_tool go && build_go
  has_tool curl && make_curl_config
  : >"$work/results"
  : >"$work/wrk-results"
  note "tools: ${tools[*]}; $runs run(s); seed $seed; work dir $work"
  local r i n_crawlers crawlers=() t
  for t in "${tools[@]}"; do [ "$t" = wrk ] || crawlers+=("$t"); done
  n_crawlers=${#crawlers[@]}
  for r in $(seq 1 "$runs"); do
    has_tool wrk && run_wrk "$r" # first: it also warms nginx's open-file cache
    # the crawlers rotated by one place each run, so none is always first
    for i in $(seq 0 $((n_crawlers - 1))); do
      [ "$n_crawlers" -gt 0 ] || break
      run_tool "$r" "${crawlers[$(((i + r - 1) % n_crawlers))]}"
    done
  done
  summary
  if grep -q 'Too many open files' "$site/error.log" 2>/dev/null; then
    note "warning: nginx ran out of file descriptors (see $site/error.log); results are suspect"
  fi
}

main "$@"
