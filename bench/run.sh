#!/usr/bin/env bash
# Benchmarks failover-agent against the design's budgets, side by side with peers,
# in one run. Prints a table of figures; nothing here is a pass/fail assertion.
#
#   bash bench/run.sh            # full run, ~3 minutes
#   QUICK=1 bash bench/run.sh    # shorter runs
#
# Needs: wrk, hey, nginx, prometheus-blackbox-exporter, taskset (bench/setup.sh installs them).
# The subject under test (agent, nginx or blackbox_exporter) is pinned to CPU 0;
# load generators and probe targets are pinned to CPU 1.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-$([ -n "${QUICK:-}" ] && echo 5 || echo 15)}
SUBJECT_CPU=${SUBJECT_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
OUT=bench/out
mkdir -p "$OUT"
TICK=$(getconf CLK_TCK)

for t in wrk hey nginx prometheus-blackbox-exporter taskset; do
  command -v "$t" >/dev/null || { echo "missing $t: run bash bench/setup.sh" >&2; exit 1; }
done
# Two builds: examples pull in dev-dependencies, whose features (tokio's test-util,
# tonic's server) would otherwise be unified into the agent measured here.
cargo build --release --quiet --bin failover-agent
cargo build --release --quiet --example loadgen --example probe_targets
BIN=target/release/failover-agent

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kib() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
probes_done() { curl -s "http://127.0.0.1:$1/metrics" | awk '/^failover_agent_probes_total/{s+=$2} END{printf "%d", s}'; }

# --- nginx: probe targets on the load CPU (port 18990), and the static-file peer on the subject CPU (18991).
NGX=$OUT/nginx; mkdir -p "$NGX/www/health"; printf 'HEALTHY app1\n' > "$NGX/www/health/app1"; printf 'ok\n' > "$NGX/www/ok"
nginx_conf() { # $1 port, $2 name
  cat > "$NGX/$2.conf" <<NG
worker_processes 1;
daemon off;
pid $PWD/$NGX/$2.pid;
error_log $PWD/$NGX/$2.err error;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_requests 1000000;
  default_type text/plain;
  server { listen 127.0.0.1:$1 backlog=4096; root $PWD/$NGX/www; }
}
NG
}
nginx_conf 18990 targets; nginx_conf 18991 peer
taskset -c "$LOAD_CPU" nginx -p "$PWD/$NGX" -c "$PWD/$NGX/targets.conf" & PIDS+=($!)
wait_port 18990
# --- HTTPS (18992, self-signed) and gRPC health (18993..19002) probe targets on the load CPU (examples/probe_targets.rs).
GRPC_PORTS=10
taskset -c "$LOAD_CPU" target/release/examples/probe_targets 18992 18993 "$GRPC_PORTS" & PIDS+=($!)
wait_port 18992; wait_port $((18993 + GRPC_PORTS - 1))

# --- agent configs
# Endpoint $2 of app $1 for probe kind $3: http (nginx), https (pooled TLS, any
# certificate) or grpc (Health/Check; endpoint e of every app is server e).
endpoint() {
  case "$3" in
    https) echo -n "\"https://127.0.0.1:18992/ok?a=$1&e=$2\"" ;;
    grpc) echo -n "\"grpc://127.0.0.1:$((18993 + ($2 - 1) % GRPC_PORTS))\"" ;;
    *) echo -n "\"http://127.0.0.1:18990/ok?a=$1&e=$2\"" ;;
  esac
}
gen_config() { # $1 file, $2 apps, $3 endpoints per app, $4 interval, $5 health port, $6 admin port, [$7 kind: http|https|grpc]
  { echo "region: bench-1"; echo "healthListen: 127.0.0.1:$5"; echo "adminListen: 127.0.0.1:$6"; echo "probeConcurrency: 4096"; echo "publicListener: { maxConnectionsPerClient: 1024 }  # wrk is one address"; echo "apps:"
    for a in $(seq 1 "$2"); do
      echo "  - name: app$a"; echo "    probe: { intervalSeconds: $4, timeoutSeconds: $(awk "BEGIN{print ($4<1)?$4:1}") }"; echo -n "    endpoints: ["
      for e in $(seq 1 "$3"); do [ "$e" -gt 1 ] && echo -n ", "; endpoint "$a" "$e" "${7:-http}"; done; echo "]"
    done; } > "$1"
}

declare -A R

# --- 1. /health/<app> serving: agent vs nginx static file, same CPU, same load.
gen_config "$OUT/serve.yaml" 2 1 2 18981 18982
TOKIO_WORKER_THREADS=1 taskset -c "$SUBJECT_CPU" "$BIN" run --config "$OUT/serve.yaml" 2>"$OUT/serve.log" & AGENT=$!; PIDS+=($AGENT)
taskset -c "$SUBJECT_CPU" nginx -p "$PWD/$NGX" -c "$PWD/$NGX/peer.conf" & PIDS+=($!)
wait_port 18981; wait_port 18991; sleep 1
curl -sf http://127.0.0.1:18981/health/app1 >/dev/null; sleep 2
R[idle_rss]=$(rss_kib $AGENT)
wrk_rps() { taskset -c "$LOAD_CPU" wrk -t1 -c"$2" -d"${DUR}s" --latency "${@:3}" "$1" > "$OUT/wrk.txt"; awk '/Requests\/sec/{print int($2)}' "$OUT/wrk.txt"; }
wrk_p99() { awk '/^ +99%/{print $2}' "$OUT/wrk.txt"; }
R[ka_agent]=$(wrk_rps http://127.0.0.1:18981/health/app1 64); R[ka_agent_p99]=$(wrk_p99)
R[ka_nginx]=$(wrk_rps http://127.0.0.1:18991/health/app1 64); R[ka_nginx_p99]=$(wrk_p99)
R[nc_agent]=$(wrk_rps http://127.0.0.1:18981/health/app1 16 -H "Connection: close")
R[nc_nginx]=$(wrk_rps http://127.0.0.1:18991/health/app1 16 -H "Connection: close")
# Latency at a fixed 20k req/s over 50 keep-alive connections (examples/loadgen.rs).
fixed_rate() { taskset -c "$LOAD_CPU" target/release/examples/loadgen "$1" /health/app1 20000 50 "$DUR"; }
R[fixed_agent]=$(fixed_rate 127.0.0.1:18981)
R[fixed_nginx]=$(fixed_rate 127.0.0.1:18991)
R[loaded_rss]=$(rss_kib $AGENT)
kill "$AGENT"; wait "$AGENT" 2>/dev/null || true

# --- 2. Probe CPU per 1,000 probes: agent vs blackbox_exporter, same targets, same rate.
probe_cpu() { # $1 apps $2 eps/app $3 interval [$4 kind] -> prints "ms_per_1000 rate cpu_pct rss_kib failed"
  gen_config "$OUT/probe.yaml" "$1" "$2" "$3" 18983 18984 "${4:-http}"
  TOKIO_WORKER_THREADS=1 taskset -c "$SUBJECT_CPU" "$BIN" run --config "$OUT/probe.yaml" 2>"$OUT/probe.log" & local p=$!; PIDS+=($p)
  wait_port 18984; sleep 3
  local c0 n0 c1 n1; c0=$(cpu_ticks $p); n0=$(probes_done 18984); sleep "$DUR"; c1=$(cpu_ticks $p); n1=$(probes_done 18984)
  local rss; for _ in $(seq 10); do probes_done 18984 >/dev/null; done; rss=$(rss_kib $p)
  # Probes that did not pass (a row of failures would measure the wrong thing).
  local failed; failed=$(curl -s "http://127.0.0.1:18984/metrics" | awk '/^failover_agent_probes_total/ && !/outcome="success"/{s+=$2} END{printf "%d", s}')
  kill "$p"; wait "$p" 2>/dev/null || true
  awk -v c=$((c1-c0)) -v n=$((n1-n0)) -v t="$TICK" -v d="$DUR" -v r="$rss" -v f="$failed" 'BEGIN{printf "%.1f %d %.0f %d %d\n", c/t*1000/(n/1000), n/d, c/t/d*100, r, f}'
}
read -r R[agent_ms_1k] R[agent_rate_1k] R[agent_cpu_1k] _ < <(probe_cpu 100 10 1)
read -r R[agent_ms_5k] R[agent_rate_5k] R[agent_cpu_5k] _ < <(probe_cpu 500 10 1)
read -r R[agent_ms_10k] R[agent_rate_10k] R[agent_cpu_10k] R[rss_10k] _ < <(probe_cpu 1000 10 1)
# The same 1k probes/s over HTTPS (one pooled TLS connection per target) and gRPC (one channel per target).
read -r R[https_ms_1k] R[https_rate_1k] R[https_cpu_1k] R[https_rss_1k] R[https_failed_1k] < <(probe_cpu 100 10 1 https)
read -r R[grpc_ms_1k] R[grpc_rate_1k] R[grpc_cpu_1k] R[grpc_rss_1k] R[grpc_failed_1k] < <(probe_cpu 100 10 1 grpc)

cat > "$OUT/blackbox.yml" <<BB
modules:
  http_2xx: { prober: http, timeout: 1s, http: { preferred_ip_protocol: ip4 } }
BB
taskset -c "$SUBJECT_CPU" prometheus-blackbox-exporter --config.file="$OUT/blackbox.yml" --web.listen-address=127.0.0.1:19115 --log.level=error 2>"$OUT/blackbox.log" & BB=$!; PIDS+=($BB)
wait_port 19115; sleep 1
c0=$(cpu_ticks $BB)
# 20 workers × 50 req/s = 1,000 probes/s of the same nginx target the agent probed.
taskset -c "$LOAD_CPU" hey -z "${DUR}s" -c 20 -q 50 "http://127.0.0.1:19115/probe?module=http_2xx&target=http://127.0.0.1:18990/ok" > "$OUT/bb-hey.txt"
c1=$(cpu_ticks $BB)
n=$(awk '/\[200\]/{print $2}' "$OUT/bb-hey.txt")
ok=$(curl -s "http://127.0.0.1:19115/probe?module=http_2xx&target=http://127.0.0.1:18990/ok" | awk '/^probe_success/{print $2}')
R[bb_ms_1k]=$(awk -v c=$((c1-c0)) -v n="$n" -v t="$TICK" 'BEGIN{printf "%.1f", c/t*1000/(n/1000)}')
R[bb_rate_1k]=$(awk -v n="$n" -v d="$DUR" 'BEGIN{printf "%d", n/d}')
kill "$BB"; wait "$BB" 2>/dev/null || true

# --- 3. Verdict change after an observation, inside the agent.
VERDICT=$(cargo bench --quiet --bench verdict 2>/dev/null | awk '/^verdict/{print}')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b>0) printf "%.2f", a/b; else print "n/a" }'; }
cat <<TABLE

failover-agent benchmark ($(date -u +%F), $(nproc) CPUs, ${DUR}s per run; subject on CPU $SUBJECT_CPU, load on CPU $LOAD_CPU)

| what | failover-agent | peer | budget |
| --- | --- | --- | --- |
| /health/app1 keep-alive, max req/s (wrk -c64) | ${R[ka_agent]} (p99 ${R[ka_agent_p99]}) | nginx static file: ${R[ka_nginx]} (p99 ${R[ka_nginx_p99]}); agent/nginx = $(ratio "${R[ka_agent]}" "${R[ka_nginx]}") | ≥ 0.8× nginx |
| /health/app1 keep-alive at a fixed 20k req/s | ${R[fixed_agent]} | nginx: ${R[fixed_nginx]} | p99 ≤ 1 ms |
| /health/app1 new connection per request, req/s | ${R[nc_agent]} | nginx: ${R[nc_nginx]} | ≥ 5,000 |
| probe CPU per 1,000 HTTP probes at ~1k/s | ${R[agent_ms_1k]} ms (${R[agent_rate_1k]} probes/s, ${R[agent_cpu_1k]}% of a CPU) | blackbox_exporter: ${R[bb_ms_1k]} ms (${R[bb_rate_1k]} probes/s, probe_success=${ok}); ratio $(ratio "${R[bb_ms_1k]}" "${R[agent_ms_1k]}")× | ≥ 5× less |
| probe CPU per 1,000 HTTPS probes at ~1k/s (TLS sessions pooled) | ${R[https_ms_1k]} ms (${R[https_rate_1k]} probes/s, ${R[https_cpu_1k]}% of a CPU, RSS $((R[https_rss_1k]/1024)) MiB, ${R[https_failed_1k]} failed) | HTTP: ${R[agent_ms_1k]} ms; HTTPS/HTTP = $(ratio "${R[https_ms_1k]}" "${R[agent_ms_1k]}") | |
| probe CPU per 1,000 gRPC probes at ~1k/s (Health/Check, one channel per target) | ${R[grpc_ms_1k]} ms (${R[grpc_rate_1k]} probes/s, ${R[grpc_cpu_1k]}% of a CPU, RSS $((R[grpc_rss_1k]/1024)) MiB, ${R[grpc_failed_1k]} failed) | HTTP: ${R[agent_ms_1k]} ms; gRPC/HTTP = $(ratio "${R[grpc_ms_1k]}" "${R[agent_ms_1k]}") | |
| probe engine at 5k probes/s (500 apps × 10) | ${R[agent_rate_5k]} probes/s at ${R[agent_cpu_5k]}% of one CPU (${R[agent_ms_5k]} ms/1k) | | ≥ 5,000/s per core |
| probe engine at 10k probes/s (1k apps × 10 endpoints) | ${R[agent_rate_10k]} probes/s at ${R[agent_cpu_10k]}% of one CPU, RSS $((R[rss_10k]/1024)) MiB after 10 full /metrics scrapes | | ≤ 64 MiB |
| idle RSS (2 apps) | $((R[idle_rss]/1024)) MiB (${R[idle_rss]} KiB); $((R[loaded_rss]/1024)) MiB after the load runs above | | ≤ 15 MiB |
| ${VERDICT:-verdict bench did not run} | | | p99 ≤ 50 ms |
TABLE
