#!/usr/bin/env bash
# F2 without an environment provider (BENCHMARKS.md, "Footprint"): 10 accounts x 1 000
# resources on mock-cloud and mock-meter only, samples every 100 ms (back to back), VmRSS and
# the state directory's size every 15 s for 3 minutes. Energy no intensity prices is held in
# the history per resource, which is what this exercises.
#
#   cargo build --release && host/benches/no_environment_soak.sh
#   BIN=target/bench-build/release/carbonaut PLUGINS=target/bench-build/plugins host/benches/no_environment_soak.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/release/carbonaut}
PLUGINS=${PLUGINS:-target/plugins}
WORK=$(mktemp -d)
trap 'kill "$P" 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/plugins"
cp "$PLUGINS/mock-cloud.wasm" "$PLUGINS/mock-meter.wasm" "$WORK/plugins/"
{
  printf '[paths]\nplugin_dir = "%s"\nstate_dir = "%s"\n\n' "$WORK/plugins" "$WORK/state"
  printf '[intervals]\ntopology_sync = "30s"\nresource_metrics = "100ms"\nenvironment = "1m"\n\n'
  printf '[providers.cloud]\nplugin = "mock-cloud"\n[providers.meter]\nplugin = "mock-meter"\n'
  for a in $(seq -w 0 9); do
    printf '\n[accounts.account%s]\ndiscovery = "cloud"\nresource_metrics = "meter"\n' "$a"
    printf 'settings = { projects = 10, resources_per_project = 100 }\n'
  done
} > "$WORK/carbonaut.toml"
RUST_LOG=info,carbonaut::collect=debug "$BIN" run --config "$WORK/carbonaut.toml" \
  --listen 127.0.0.1:0 2> "$WORK/log" &
P=$!
sleep 5
for i in $(seq 0 12); do
  echo "t=$((i * 15))s VmRSS=$(awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$P/status") MiB" \
    "state=$(du -sm "$WORK/state" | cut -f1) MiB collections=$(grep -c 'samples collected' "$WORK/log")"
  sleep 15
done
