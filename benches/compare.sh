#!/usr/bin/env bash
# Throughput, CPU, memory and latency of codex-otel-gateway next to rotel, in one run.
# Method and results: BENCHMARKS.md.
#
#   benches/compare.sh                  # ~5 minutes; exits 1 when a target ratio is missed
#   BENCH_SECONDS=5 benches/compare.sh  # shorter runs
#
# The server under test (the gateway or rotel-agent) is pinned to one core ($BENCH_SERVER_CPU,
# default 0) with taskset; the load generator (`codex-otel-gateway loadgen send`) and the
# counting sink (`loadgen sink`, the servers' only export destination) share another
# ($BENCH_LOAD_CPU, default 1). Each run replays one tests/fixtures payload for $BENCH_SECONDS
# (default 10) over $BENCH_CONNECTIONS (default 8) connections, reads the server's CPU seconds
# (utime + stime in /proc/PID/stat) and peak RSS (VmHWM in /proc/PID/status), and what the sink
# counted once the server's queues have drained.
#
# Needs: cargo (builds target/release/codex-otel-gateway), python3, taskset, and rotel-agent
# from scripts/python-tools (a venv under ~/.cache; nothing is installed elsewhere) or
# $ROTEL_AGENT. Writes the results as JSON to $BENCH_OUT (default: a file in the temp dir,
# printed at the end) and a Markdown table to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${BENCH_SECONDS:-10}"
connections="${BENCH_CONNECTIONS:-8}"
server_cpu="${BENCH_SERVER_CPU:-0}"
load_cpu="${BENCH_LOAD_CPU:-1}"
fixtures=tests/fixtures/tool-secrets-protobuf

for tool in taskset python3 curl cargo; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool is required" >&2; exit 2; }
done
echo "== cargo build --release --locked" >&2
cargo build --release --locked --quiet
bin="${CARGO_TARGET_DIR:-target}/release/codex-otel-gateway"
rotel="${ROTEL_AGENT:-}"
if [ -z "$rotel" ]; then
  venv="$(scripts/python-tools)"
  rotel="$("$venv/bin/python3" -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')"
fi
[ -x "$rotel" ] || { echo "compare.sh: rotel-agent not found at $rotel" >&2; exit 2; }

work="$(mktemp -d)"
out="${BENCH_OUT:-$work/results.json}"
server_pid=""
sink_pid=""
cleanup() {
  for pid in $server_pid $sink_pid; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_tcp() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }
peak_rss_kib() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
sink_items() { curl -fsS "http://127.0.0.1:$sink_port/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"])'; }

sink_port=$(free_port)
taskset -c "$load_cpu" "$bin" loadgen sink --listen "127.0.0.1:$sink_port" >"$work/sink.out" 2>&1 &
sink_pid=$!
wait_tcp "$sink_port"

# start_gateway CONFIG_FILE [ENV=VALUE...]: starts the gateway on the server core.
start_gateway() {
  local config="$1"; shift
  env "$@" REDACTION_HASH_KEY=bench-hash-key-0123456789 taskset -c "$server_cpu" \
    "$bin" run --config "$config" >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 200); do curl -fsS "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "compare.sh: the gateway did not become ready:" >&2; cat "$work/server.log" >&2; exit 1
}

start_rotel() {
  taskset -c "$server_cpu" "$rotel" start \
    --otlp-grpc-endpoint "127.0.0.1:$grpc" --otlp-http-endpoint "127.0.0.1:$http" \
    --otlp-grpc-max-recv-msg-size-mib 64 \
    --exporter otlp --otlp-exporter-endpoint "http://127.0.0.1:$sink_port" \
    --otlp-exporter-protocol grpc --otlp-exporter-compression none \
    --pid-file "$work/rotel.pid" --log-file "$work/rotel.log" >"$work/server.log" 2>&1 &
  server_pid=$!
  wait_tcp "$grpc" && wait_tcp "$http" || { echo "compare.sh: rotel did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
}

# measure NAME SERVER PROTOCOL PAYLOAD DESTINATIONS [loadgen args...]: runs the load generator
# against the running server, then stops the server; appends one JSON line to $work/runs.jsonl.
measure() {
  local name="$1" server="$2" protocol="$3" payload="$4" destinations="$5"; shift 5
  local port=$http; [ "$protocol" = grpc ] && port=$grpc
  sleep 0.5
  local cpu0 cpu1 sink0 sink1 rss last
  cpu0=$(cpu_seconds "$server_pid"); sink0=$(sink_items)
  taskset -c "$load_cpu" "$bin" loadgen send --endpoint "http://127.0.0.1:$port" --protocol "$protocol" \
    --payload "$payload" --connections "$connections" --duration "${seconds}s" "$@" \
    --output "$work/$name.json" >/dev/null
  cpu1=$(cpu_seconds "$server_pid")
  # Let the server's queues and batches drain into the sink.
  last=-1; sink1=$(sink_items)
  for _ in $(seq 40); do
    [ "$sink1" = "$last" ] && break
    sleep 0.25; last=$sink1; sink1=$(sink_items)
  done
  rss=$(peak_rss_kib "$server_pid")
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
  python3 - "$name" "$server" "$destinations" "$cpu0" "$cpu1" "$sink0" "$sink1" "$rss" "$work/$name.json" \
    >>"$work/runs.jsonl" <<'EOF'
import json, sys
name, server, dest, c0, c1, s0, s1, rss, report = sys.argv[1:]
r = json.load(open(report))
cpu = float(c1) - float(c0)
print(json.dumps({
    "name": name, "server": server, "protocol": r["protocol"], "signal": r["signal"],
    "rate_target": r["rate_target"], "destinations": int(dest),
    "requests_per_s": r["requests_per_s"], "items_per_s": r["items_per_s"],
    "mb_per_s": r["mb_per_s"], "errors": r["errors"], "items_sent": r["items"],
    "latency_ms": r["latency_ms"], "cpu_seconds": round(cpu, 2),
    "cpu_share": round(cpu / r["duration_s"], 2),
    "items_per_cpu_second": round(r["items"] / cpu) if cpu > 0 else 0,
    "peak_rss_mib": round(int(rss) / 1024, 1), "sink_items": int(s1) - int(s0),
}))
EOF
  python3 -c 'import json,sys; r=json.loads(sys.stdin.readlines()[-1]); print("  %-26s %-7s %10.0f items/s  %6.0f req/s  cpu %5.2f s  rss %6.1f MiB  p99 %7.2f ms  sink %d  errors %d" % (r["name"], r["server"], r["items_per_s"], r["requests_per_s"], r["cpu_seconds"], r["peak_rss_mib"], r["latency_ms"]["p99"], r["sink_items"], r["errors"]))' <"$work/runs.jsonl" >&2
}

passthrough_config() {
  cat <<EOF
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:$grpc", max_recv_msg_size: 64MiB }
      http: { endpoint: "127.0.0.1:$http", max_request_body_size: 64MiB }
exporters:
  otlp/sink:
    endpoint: http://127.0.0.1:$sink_port
    compression: none
    # A small queue bounds memory; 16 concurrent exports keep it drained.
    sending_queue: { max_bytes: 8MiB, num_consumers: 16 }
service:
  telemetry: { logs: { level: warn }, metrics: { address: "127.0.0.1:$admin" } }
  pipelines:
    traces: { receivers: [otlp], exporters: [otlp/sink] }
    metrics: { receivers: [otlp], exporters: [otlp/sink] }
    logs: { receivers: [otlp], exporters: [otlp/sink] }
EOF
}

# The full Codex pipeline of issue 8: the codex normaliser, the redaction preset, team tagging
# (and metric_names for metrics) on every signal, two destinations (OTLP/gRPC and OTLP/HTTP),
# no filter (every span is processed and sent twice). Queues as in the pass-through config, with
# on_full: reject on both, so a request is accepted only when both destinations have room (what
# is accepted is what both receive), and merged exports (sending_queue.batch with its defaults,
# as in config/gateway.yaml: requests queued together leave as one export).
full_config() {
  cat <<EOF
receivers:
  otlp:
    protocols:
      grpc: { endpoint: "127.0.0.1:$grpc", max_recv_msg_size: 64MiB }
      http: { endpoint: "127.0.0.1:$http", max_request_body_size: 64MiB }
processors:
  codex: {}
  redaction: { preset: codex, hash_key: "\${env:REDACTION_HASH_KEY}" }
  team:
    rules:
      - name: header
        match: { metadata: { key: x-codex-team, regex: "^(?P<team>[a-z0-9-]+)\$" } }
        set: { team: "\$\${team}" }
    default: { team: unknown, project: payments-service }
  metric_names: { mode: prometheus }
exporters:
  otlp/primary:
    endpoint: http://127.0.0.1:$sink_port
    compression: none
    sending_queue: { max_bytes: 8MiB, num_consumers: 16, on_full: reject, batch: {} }
  otlphttp/secondary:
    endpoint: http://127.0.0.1:$sink_port
    compression: none
    sending_queue: { max_bytes: 8MiB, num_consumers: 16, on_full: reject, batch: {} }
service:
  telemetry: { logs: { level: warn }, metrics: { address: "127.0.0.1:$admin" } }
  pipelines:
    traces: { receivers: [otlp], processors: [codex, redaction, team], exporters: [otlp/primary, otlphttp/secondary] }
    metrics: { receivers: [otlp], processors: [codex, redaction, team, metric_names], exporters: [otlp/primary, otlphttp/secondary] }
    logs: { receivers: [otlp], processors: [codex, redaction, team], exporters: [otlp/primary, otlphttp/secondary] }
EOF
}

ports() { grpc=$(free_port); http=$(free_port); admin=$(free_port); }

run_gateway_passthrough() { # NAME PROTOCOL PAYLOAD [loadgen args...]
  local name="$1" protocol="$2" payload="$3"; shift 3
  ports; passthrough_config >"$work/passthrough.yaml"
  start_gateway "$work/passthrough.yaml"
  measure "$name" gateway "$protocol" "$payload" 1 "$@"
}

run_gateway_full() { # NAME PROTOCOL PAYLOAD
  local name="$1" protocol="$2" payload="$3"
  ports; full_config >"$work/full.yaml"
  start_gateway "$work/full.yaml"
  measure "$name" gateway "$protocol" "$payload" 2
}

run_rotel() { # NAME PROTOCOL PAYLOAD
  local name="$1" protocol="$2" payload="$3"
  ports; start_rotel
  measure "$name" rotel "$protocol" "$payload" 1
}

echo "== compare.sh: ${seconds}s runs, $connections connections; server on CPU $server_cpu, load generator and sink on CPU $load_cpu" >&2
: >"$work/runs.jsonl"
run_rotel rotel-traces-http http "$fixtures/001_traces.pb"
run_gateway_passthrough passthrough-traces-http http "$fixtures/001_traces.pb"
run_rotel rotel-traces-grpc grpc "$fixtures/001_traces.pb"
run_gateway_passthrough passthrough-traces-grpc grpc "$fixtures/001_traces.pb"
run_gateway_full full-traces-http http "$fixtures/001_traces.pb"
run_rotel rotel-logs-http http "$fixtures/004_logs.pb"
run_gateway_passthrough passthrough-logs-http http "$fixtures/004_logs.pb"
run_gateway_full full-logs-http http "$fixtures/004_logs.pb"
run_rotel rotel-metrics-http http "$fixtures/003_metrics.pb"
run_gateway_passthrough passthrough-metrics-http http "$fixtures/003_metrics.pb"
run_gateway_full full-metrics-http http "$fixtures/003_metrics.pb"
# Latency at half of the gateway's maximum request rate (pass-through, HTTP in).
half_rate=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["name"] == "passthrough-traces-http": print(max(1.0, r["requests_per_s"] / 2))' "$work/runs.jsonl")
run_gateway_passthrough latency-half-rate http "$fixtures/001_traces.pb" --rate "$half_rate"

python3 - "$work/runs.jsonl" "$out" "$seconds" "$connections" <<'EOF'
import json, os, platform, subprocess, sys, datetime
runs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[r["name"]] = r
out, seconds, connections = sys.argv[2], sys.argv[3], sys.argv[4]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
machine = f"{os.cpu_count()} CPUs, {cpu}, Linux {platform.release()}"

def ratio(a, b):
    return a / b if b else 0.0

g, r = runs, runs
rss_gw = max(g[n]["peak_rss_mib"] for n in ("passthrough-traces-http", "passthrough-traces-grpc", "full-traces-http"))
rss_rotel = max(r[n]["peak_rss_mib"] for n in ("rotel-traces-http", "rotel-traces-grpc"))
targets = [
    ("pass-through traces, HTTP in -> gRPC out, vs rotel", ratio(g["passthrough-traces-http"]["items_per_s"], r["rotel-traces-http"]["items_per_s"]), ">=", 2.0),
    ("pass-through traces, gRPC in, vs rotel", ratio(g["passthrough-traces-grpc"]["items_per_s"], r["rotel-traces-grpc"]["items_per_s"]), ">=", 2.0),
    ("full Codex pipeline traces (2 destinations) vs rotel pass-through", ratio(g["full-traces-http"]["items_per_s"], r["rotel-traces-http"]["items_per_s"]), ">=", 2.0),
    ("full Codex pipeline logs (2 destinations) vs rotel logs pass-through", ratio(g["full-logs-http"]["items_per_s"], r["rotel-logs-http"]["items_per_s"]), ">=", 1.5),
    ("peak RSS, gateway / rotel (traces runs)", ratio(rss_gw, rss_rotel), "<=", 1 / 3),
    ("p99 latency at half the max rate (ms)", g["latency-half-rate"]["latency_ms"]["p99"], "<=", 5.0),
]
failed = 0
print(f"## compare.sh results, {datetime.date.today()}\n")
print(f"{machine}; {seconds}s runs, {connections} connections; server pinned to one core.\n")
print("| run | server | items/s | req/s | MB/s | server CPU s | items per CPU-s | peak RSS MiB | p50 ms | p99 ms | max ms | errors | sink items / sent |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for n, x in runs.items():
    sent = x["items_sent"] * x["destinations"]
    print(f"| {n} | {x['server']} | {x['items_per_s']:,.0f} | {x['requests_per_s']:,.0f} | {x['mb_per_s']:.1f} | "
          f"{x['cpu_seconds']:.2f} | {x['items_per_cpu_second']:,} | {x['peak_rss_mib']:.1f} | {x['latency_ms']['p50']:.2f} | "
          f"{x['latency_ms']['p99']:.2f} | {x['latency_ms']['max']:.2f} | {x['errors']} | {x['sink_items']:,} / {sent:,} |")
print("\n| target | measured | wanted | |\n|---|---:|---:|---|")
for name, value, op, want in targets:
    ok = value >= want if op == ">=" else value <= want
    failed += not ok
    print(f"| {name} | {value:.2f} | {op} {want:.2f} | {'met' if ok else 'MISSED'} |")
for n in ("full-traces-http", "full-logs-http", "full-metrics-http"):
    if runs[n]["errors"]:
        print(f"\nnote: {n} had {runs[n]['errors']} errors")
json.dump({"date": str(datetime.date.today()), "machine": machine, "seconds": int(seconds),
           "connections": int(connections), "runs": list(runs.values()),
           "targets": [{"name": n, "value": v, "op": o, "want": w} for n, v, o, w in targets]},
          open(out, "w"), indent=2)
print(f"\nJSON: {out}")
sys.exit(1 if failed else 0)
EOF
