#!/usr/bin/env bash
# Sharding at scale (issue 16, BENCHMARKS.md "Sharding"): N shards of the release binary on
# this machine, one config of ACCOUNTS accounts x PER_ACCOUNT resources (mock-cloud,
# mock-meter, static-grid) at a 60 s collection interval, one Prometheus scraping them all.
# Samples each shard's VmRSS every 10 s, its CPU time over the measured window, the
# "samples collected" times it logs, and Prometheus' scrape_duration_seconds per shard.
#
#   cargo build --release && nice -n 19 host/benches/sharded.sh [SHARDS] [ACCOUNTS] [PER_PROJECT] [MINUTES]
#
# Defaults: 10 shards, 100 accounts of 10 projects x 100 resources (100 000 resources), 6
# minutes measured after the first collection. Prints Markdown tables; leaves its files in
# target/sharded-bench (deleted at the next run).
set -euo pipefail
cd "$(dirname "$0")/../.."

SHARDS=${1:-10}
ACCOUNTS=${2:-100}
PER_PROJECT=${3:-100}
MINUTES=${4:-6}
# BIN and PLUGINS default to `cargo build --release`'s outputs; a bench target dir works too
# (BIN=target/bench-build/release/carbonaut PLUGINS=target/bench-build/plugins).
BIN=${BIN:-target/release/carbonaut}
PLUGINS=${PLUGINS:-$PWD/target/plugins}
[ -x "$BIN" ] || { echo "build it first: cargo build --release" >&2; exit 1; }
command -v prometheus >/dev/null || { echo "apt-get install prometheus" >&2; exit 1; }

WORK=$PWD/target/sharded-bench
rm -rf "$WORK" && mkdir -p "$WORK"
CONFIG=$WORK/carbonaut.toml
{
  printf '[paths]\nplugin_dir = "%s"\nstate_dir = "state"\n\n' "$PLUGINS"
  printf '[intervals]\ntopology_sync = "10m"\nresource_metrics = "60s"\nenvironment = "10m"\n\n'
  printf '[providers.cloud]\nplugin = "mock-cloud"\nsettings = { projects = 10, resources_per_project = %s }\n' "$PER_PROJECT"
  printf '[providers.meter]\nplugin = "mock-meter"\n[providers.grid]\nplugin = "static-grid"\n'
  printf '[environment]\nprovider = "grid"\n\n'
  for i in $(seq -w 0 $((ACCOUNTS - 1))); do
    printf '[accounts.org-%s]\ndiscovery = "cloud"\nresource_metrics = "meter"\n' "$i"
  done
} > "$CONFIG"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

PORT0=19600
TARGETS=""
for s in $(seq 0 $((SHARDS - 1))); do
  port=$((PORT0 + s))
  RUST_LOG=info,carbonaut::collect=debug nice -n 19 "$BIN" run --config "$CONFIG" \
    --state-dir "$WORK/s$s" --listen "127.0.0.1:$port" --shard "$s" --total-shards "$SHARDS" \
    2> "$WORK/s$s.log" &
  PIDS+=($!)
  TARGETS="$TARGETS'127.0.0.1:$port',"
done
PROM_PORT=19690
cat > "$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 15s
  scrape_timeout: 10s
scrape_configs:
  - job_name: carbonaut-sharded
    static_configs:
      - targets: [${TARGETS%,}]
EOF
nice -n 19 prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
  --web.listen-address="127.0.0.1:$PROM_PORT" 2> "$WORK/prometheus.log" &
PIDS+=($!)

echo "started $(date -u +%FT%TZ), load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
# Wait for every shard's first collection.
for s in $(seq 0 $((SHARDS - 1))); do
  until grep -q "samples collected" "$WORK/s$s.log" 2>/dev/null; do sleep 2; done
done
START=$(date +%s)
echo "all shards collected once at $(date -u +%FT%TZ), load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A CPU0 RSSMAX
for s in $(seq 0 $((SHARDS - 1))); do
  CPU0[$s]=$(cpu_ticks "${PIDS[$s]}")
  RSSMAX[$s]=0
done
LOADS=""
END=$((START + MINUTES * 60))
while [ "$(date +%s)" -lt "$END" ]; do
  for s in $(seq 0 $((SHARDS - 1))); do
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/${PIDS[$s]}/status")
    [ "$rss" -gt "${RSSMAX[$s]}" ] && RSSMAX[$s]=$rss
  done
  LOADS="$LOADS $(cut -d' ' -f1 /proc/loadavg)"
  sleep 10
done
ELAPSED=$(( $(date +%s) - START ))
HZ=$(getconf CLK_TCK)
echo "measured ${ELAPSED}s until $(date -u +%FT%TZ); 1-minute load averages every 10 s:$LOADS" >&2

query() {
  curl -s --get "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" |
    python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
for x in r: print(x["metric"].get("instance", ""), x["value"][1])'
}
WIN="${ELAPSED}s"
query "avg_over_time(scrape_duration_seconds[$WIN])" > "$WORK/scrape_avg"
query "max_over_time(scrape_duration_seconds[$WIN])" > "$WORK/scrape_max"
query "avg_over_time(scrape_samples_scraped[$WIN])" > "$WORK/scrape_samples"

echo "| shard | accounts | resources | VmRSS now / max (MiB) | VmHWM (MiB) | CPU s per minute | collection ms (median / max of logged) | scrape s avg / max | samples per scrape |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for s in $(seq 0 $((SHARDS - 1))); do
  pid=${PIDS[$s]}
  port=$((PORT0 + s))
  metrics=$(curl -s "http://127.0.0.1:$port/metrics")
  accounts=$(grep -c '^carbonaut_topology_resources{' <<< "$metrics" || true)
  resources=$(awk '/^carbonaut_topology_resources\{/ {n += $2} END {print n + 0}' <<< "$metrics")
  rss=$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")
  hwm=$(awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")
  cpu=$(awk -v a="${CPU0[$s]}" -v b="$(cpu_ticks "$pid")" -v hz="$HZ" -v t="$ELAPSED" \
    'BEGIN {printf "%.2f", (b - a) / hz / t * 60}')
  coll=$(grep "samples collected" "$WORK/s$s.log" | sed -n 's/.*elapsed_ms=\([0-9]*\).*/\1/p' |
    sort -n | awk '{v[NR] = $1} END {printf "%d / %d (n=%d)", v[int((NR + 1) / 2)], v[NR], NR}')
  inst="127.0.0.1:$port"
  savg=$(awk -v i="$inst" '$1 == i {printf "%.3f", $2}' "$WORK/scrape_avg")
  smax=$(awk -v i="$inst" '$1 == i {printf "%.3f", $2}' "$WORK/scrape_max")
  ssam=$(awk -v i="$inst" '$1 == i {printf "%d", $2}' "$WORK/scrape_samples")
  echo "| $s | $accounts | $resources | $rss / $(awk -v k="${RSSMAX[$s]}" 'BEGIN {printf "%.1f", k / 1024}') | $hwm | $cpu | $coll | $savg / $smax | $ssam |"
done
promrss=$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/${PIDS[$SHARDS]}/status")
echo
echo "Prometheus VmRSS: $promrss MiB; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
