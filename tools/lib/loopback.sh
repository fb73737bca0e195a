# shellcheck shell=bash
# tools/lib/loopback.sh - ports on 127.0.0.1 for scripts that start their own
# servers (tools/demo.sh, tools/bench/crawl/run.sh).  Source it; the caller
# defines die MESSAGE.

# A TCP port on 127.0.0.1 that nothing listens on now, below the ephemeral
# range: an outgoing connection's TIME_WAIT on the port would make a
# server's bind fail although nothing listens there.
free_port() {
  local lo p _
  lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "$lo" -gt 11000 ] || lo=32768
  for _ in $(seq 1 50); do
    p=$((10000 + RANDOM % (lo - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  die "no free port found on 127.0.0.1"
}

# wait_port PORT PID: waits (at most 10 s) until something accepts on
# 127.0.0.1:PORT, while the server PID stays alive.
wait_port() {
  local _
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
