#!/usr/bin/env bash
# The public port under attack, side by side with nginx (design §7 "under attack").
# Route 53-like checkers (16 addresses, a new connection every 100 ms each) keep
# checking while one attacker address holds 10,000 keep-alive hogs, 500 slowloris
# connections and 8 pipeliners that never read (examples/attack.rs). Prints the
# checkers' p99 and errors for each server: figures, not assertions.
#
#   bash bench/attack.sh            # 30 s per run
#   DUR=10 bash bench/attack.sh
#   BIN=/path/to/other/failover-agent bash bench/attack.sh   # another build, e.g. main's
#
# Needs nginx and taskset (bench/setup.sh). The server is pinned to CPU 0, the
# attack and the checkers to CPU 1.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-30}
OUT=bench/out/attack
mkdir -p "$OUT"
for t in nginx taskset; do command -v "$t" >/dev/null || { echo "missing $t: run bash bench/setup.sh" >&2; exit 1; }; done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# Two builds, so the dev-dependencies' features stay out of the agent (see run.sh).
cargo build --release --quiet --bin failover-agent
cargo build --release --quiet --example attack
BIN=${BIN:-target/release/failover-agent}
ATTACK=target/release/examples/attack

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

# The agent with its defaults (64 per client, 4,096 in all), one healthy app.
python3 -m http.server 18970 --bind 127.0.0.1 --directory "$OUT" >/dev/null 2>&1 & PIDS+=($!)
cat > "$OUT/agent.yaml" <<CFG
region: bench-1
healthListen: 127.0.0.1:18971
adminListen: 127.0.0.1:18972
apps:
  - name: app1
    endpoints: ["http://127.0.0.1:18970/"]
CFG
TOKIO_WORKER_THREADS=1 taskset -c 0 "$BIN" run --config "$OUT/agent.yaml" 2>"$OUT/agent.log" & AGENT=$!; PIDS+=($AGENT)

# nginx as an SRE would harden it for the same job: the same caps and timeouts
# (4,096 connections, 64 per client, 5 s for a head, 75 s idle, 10 s to send).
mkdir -p "$OUT/www/health"; printf 'HEALTHY app1\n' > "$OUT/www/health/app1"
cat > "$OUT/nginx.conf" <<NG
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid $PWD/$OUT/nginx.pid;
error_log $PWD/$OUT/nginx.err crit;
events { worker_connections 4096; }
http {
  access_log off;
  default_type text/plain;
  limit_conn_zone \$binary_remote_addr zone=per_client:10m;
  client_header_timeout 5s;
  keepalive_timeout 75s;
  keepalive_requests 1000;
  send_timeout 10s;
  server { listen 127.0.0.1:18973 backlog=4096; root $PWD/$OUT/www; limit_conn per_client 64; }
}
NG
taskset -c 0 nginx -p "$PWD/$OUT" -c "$PWD/$OUT/nginx.conf" & PIDS+=($!)
wait_port 18971; wait_port 18973
for _ in $(seq 50); do curl -sf http://127.0.0.1:18971/health/app1 >/dev/null && break; sleep 0.2; done

run() { taskset -c 1 "$ATTACK" "$@"; }
A_QUIET=$(run 127.0.0.1:18971 "$DUR" 0 0 0)
N_QUIET=$(run 127.0.0.1:18973 "$DUR" 0 0 0)
A_ATTACK=$(run 127.0.0.1:18971 "$DUR")
A_RSS=$(rss_kib $AGENT)
REFUSED=$(curl -s http://127.0.0.1:18972/metrics | awk '/^failover_agent_public_connections_(rejected|evicted)_total/{printf "%s=%s ", $1, $2}')
N_ATTACK=$(run 127.0.0.1:18973 "$DUR")
LIVE=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18972/healthz)

cat <<TABLE

public port under attack ($(date -u +%F), $(nproc) CPUs, ${DUR}s per run; server on CPU 0, clients on CPU 1)

| server | checkers alone | checkers during the attack |
| --- | --- | --- |
| failover-agent (defaults) | $A_QUIET | $A_ATTACK |
| nginx (same caps and timeouts) | $N_QUIET | $N_ATTACK |

agent during the attack: RSS $((A_RSS/1024)) MiB; $REFUSED
agent liveness (/healthz on the admin port) after the attack: $LIVE
TABLE
