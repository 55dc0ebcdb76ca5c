#!/usr/bin/env bash
# Prints how fast the console's heaviest pages load in headless Chromium (Navigation Timing),
# on a server holding EVENTS stored events (default 1,000,000) and ALERTS open alerts
# (default 10,000):
#  - the event store is filled by the store benchmark's generator (Sysmon-like process
#    creations over the last days, tenant `bench`), then `leitstelle serve` opens it;
#  - the alerts are raised the real way: ALERTS Winlogbeat events for distinct hosts sent to
#    the ingest API, each matching the example whoami rule (one alert per host);
#  - the `default` tenant's admin (first-start credentials) gets `bench` into its scope and
#    logs in through the login form; scripts/console_timing.py then loads each page.
# Needs chromium, chromium-driver and Python's selenium (as .ci/run installs them).
# Usage: scripts/bench-console.sh [EVENTS] [ALERTS]
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-1000000}"
ALERTS="${2:-10000}"
PORT="${PORT:-18080}"
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -q -p leitstelle-cli
cargo build --release -q -p leitstelle-store --example store_bench
BIN="$TARGET/release/leitstelle"
WORK=$(mktemp -d)
DATA="$WORK/leitstelle-data"
trap 'kill "$PID" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
PID=""

echo "source: $(git describe --always --dirty 2>/dev/null || echo unknown)"
echo "+ store_bench --events $EVENTS (filling the event store)"
"$TARGET/release/examples/store_bench" --events "$EVENTS" --dir "$DATA/store" --keep \
  --commit-secs 5 | grep -E '^(indexing|events|disk)' || true

cat >"$WORK/config.toml" <<EOF
[http]
listen = "127.0.0.1:$PORT"
[[syslog]]
listen = "127.0.0.1:0"
protocols = ["udp"]
[store]
retention_days = 0
EOF
"$BIN" serve --data-dir "$DATA" --config "$WORK/config.toml" --rules examples/rules \
  2>"$WORK/serve.log" &
PID=$!
READY=""
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && { READY=1; break; }
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$READY" ]; then echo "the server did not get ready:"; tail -20 "$WORK/serve.log"; exit 1; fi
CREDS="$DATA/initial-credentials.txt"
PASSWORD=$(sed -n 's/^password = //p' "$CREDS")
INGEST=$(sed -n 's/^ingest_token = //p' "$CREDS")
ADMIN=$(sed -n 's/^admin_token = //p' "$CREDS")
"$BIN" admin tenant create bench --data-dir "$DATA" >/dev/null
"$BIN" admin tenant scope add default bench --data-dir "$DATA" >/dev/null

echo "+ raising $ALERTS alerts through the ingest API"
python3 - "$ALERTS" "$WORK/alerts" <<'EOF'
import json, sys
n, out = int(sys.argv[1]), sys.argv[2]
chunk = 1000
for c in range(0, n, chunk):
    with open(f"{out}.{c // chunk:05d}.ndjson", "w") as f:
        for i in range(c, min(n, c + chunk)):
            f.write(json.dumps({
                "@timestamp": "2024-05-01T10:00:00.000Z",
                "event": {"code": "1"},
                "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": 1,
                           "computer_name": f"ws{i:05d}.corp.example", "record_id": i,
                           "event_data": {"Image": "C:\\Windows\\System32\\whoami.exe",
                                          "CommandLine": "whoami /all", "User": "CORP\\alice"}},
                "process": {"executable": "C:\\Windows\\System32\\whoami.exe",
                            "command_line": "whoami /all"},
            }) + "\n")
EOF
for f in "$WORK"/alerts.*.ndjson; do
  curl -sf -o /dev/null -H "Authorization: Bearer $INGEST" --data-binary @"$f" \
    "http://127.0.0.1:$PORT/api/v1/events"
done
OPEN=0
for _ in $(seq 1 600); do
  OPEN=$(curl -sf "http://127.0.0.1:$PORT/metrics" \
    | awk '/^leitstelle_alerts_raised_total/ { n += $2 } END { print n + 0 }')
  [ "$OPEN" -ge "$ALERTS" ] && break
  sleep 0.5
done
echo "open alerts: $OPEN"
STORED=$(curl -sf -H "Authorization: Bearer $ADMIN" \
  "http://127.0.0.1:$PORT/api/v1/search?q=*&tenants=bench&limit=1" | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["total"])')
echo "stored events (tenant bench): $STORED"

python3 scripts/console_timing.py "http://127.0.0.1:$PORT" admin "$PASSWORD" --runs 7 \
  "/alerts" "/alerts?tenant=default" "/dashboard" \
  "/hunt?tenant=bench" "/hunt?tenant=bench&range=all" "/hunt?tenant=bench&range=all&q=EventID%3A1" \
  "/hunt?tenant=bench&q=Image%3A*powershell*"
