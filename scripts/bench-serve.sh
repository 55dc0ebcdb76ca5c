#!/usr/bin/env bash
# Prints the server figures of the server issue on this machine:
#  - sustained events per second through HTTP NDJSON with durable acknowledgement (an event
#    counts when the server answered 200 after fsyncing it), all SigmaHQ Windows rules
#    loaded, Sysmon-shaped events of about 1 KB; the load generator runs on the same machine;
#  - the time from receipt of an event to its detections being recorded (alerts committed),
#    median and 99th percentile, from the server's own histogram over the whole run.
# Usage: scripts/bench-serve.sh [SECONDS=20] [CONNECTIONS=4] [BATCH=1000]
#        (IN_FLIGHT=N sets limits.max_in_flight_events, the detection backlog allowed, and
#         TENANT_IN_FLIGHT=N the one tenant's share of it, default 16000;
#         STORE_LAG=N sets limits.max_store_lag_events, default 5000000: with a small one the
#         run shows the steady state, where intake waits for the store;
#         INDEXER_NICE=N sets store.indexer_nice, default 10, 0 = indexing as urgent as intake)
#        (LEITSTELLE_SHARED_DATA defaults to ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${1:-20}"; CONNS="${2:-4}"; BATCH="${3:-1000}"
DATA="${LEITSTELLE_SHARED_DATA:-$PWD/../shared/data}"
RULES="$DATA/sigma/rules/windows"
[ -d "$RULES" ] || { echo "needs $RULES" >&2; exit 1; }
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
# LEITSTELLE_BIN=path measures that binary instead of building this tree's (for A/B runs).
[ -n "${LEITSTELLE_BIN:-}" ] || cargo build --release -q -p leitstelle-cli
cargo build --release -q -p leitstelle-server --example load
BIN="${LEITSTELLE_BIN:-$TARGET/release/leitstelle}"
LOAD="$TARGET/release/examples/load"

WORK=$(mktemp -d)
PORT=$((20000 + RANDOM % 20000))
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
cat > "$WORK/config.toml" <<TOML
data_dir = "$WORK/data"
[http]
listen = "127.0.0.1:$PORT"
[[syslog]]
listen = "127.0.0.1:0"
protocols = ["udp"]
[rules]
paths = ["$RULES"]
[limits]
max_in_flight_events = ${IN_FLIGHT:-20000}
max_in_flight_events_per_tenant = ${TENANT_IN_FLIGHT:-16000}
max_store_lag_events = ${STORE_LAG:-5000000}
[store]
indexer_nice = ${INDEXER_NICE:-10}
TOML
"$BIN" admin tenant create default --data-dir "$WORK/data" >/dev/null
TOKEN=$("$BIN" admin token create --tenant default --name bench --data-dir "$WORK/data")
ADMIN=$("$BIN" admin token create --tenant default --role admin --name bench-admin --data-dir "$WORK/data")
LEITSTELLE_LOG=warn "$BIN" serve --config "$WORK/config.toml" 2>"$WORK/server.log" &
PID=$!
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || { cat "$WORK/server.log"; exit 1; }
RULES_LOADED=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^leitstelle_rules_loaded /{print $2}')
echo "server up with $RULES_LOADED rules from $RULES"

"$LOAD" "127.0.0.1:$PORT" "$TOKEN" "$SECS" "$CONNS" "$BATCH"
curl -s "http://127.0.0.1:$PORT/metrics" > "$WORK/metrics.end"
sleep 2   # let detection drain before reading the histogram
curl -s "http://127.0.0.1:$PORT/metrics" > "$WORK/metrics"
# The store indexes at a lower priority (store.indexer_nice): under this load it falls behind
# and the journal keeps the rest; say how far.
awk -v secs="$SECS" '
  /^leitstelle_store_indexed_events_total / { idx = $2 }
  /^leitstelle_journal_durable_seq / { dur = $2 }
  /^leitstelle_store_committed_seq / { com = $2 }
  END { printf "store during the run: %d events indexed (%.0f/s), %d durable events not yet committed to the store at the end\n", idx, idx / secs, dur - com }
' "$WORK/metrics.end"
# Consistency: the alerts' counts add up to the detections (every match counted once).
SUM=0; BEFORE=""
while :; do
  PAGE=$(curl -s -H "Authorization: Bearer $ADMIN" "http://127.0.0.1:$PORT/api/v1/alerts?limit=1000$BEFORE")
  SUM=$((SUM + $(printf '%s' "$PAGE" | python3 -c 'import json,sys; print(sum(a["count"] for a in json.load(sys.stdin)["alerts"]))')))
  NEXT=$(printf '%s' "$PAGE" | python3 -c 'import json,sys; n=json.load(sys.stdin)["next"]; print("" if n is None else n)')
  [ -z "$NEXT" ] && break
  BEFORE="&before=$NEXT"
done
echo "sum of alert counts: $SUM"
kill -TERM "$PID"; wait "$PID" || true; PID=

# Percentiles from the cumulative histogram buckets (upper bound of the bucket reached).
awk '
  /^leitstelle_detect_latency_seconds_bucket/ {
    match($0, /le="[^"]+"/); le = substr($0, RSTART + 4, RLENGTH - 5);
    n++; bound[n] = le; cum[n] = $2
  }
  /^leitstelle_detect_latency_seconds_count/ { total = $2 }
  /^leitstelle_detections_total/ { det += $2 }
  /^leitstelle_alerts_raised_total/ { alerts += $2 }
  END {
    if (total == 0) { print "no events measured"; exit 1 }
    split("0.5 0.99", qs, " ");
    for (q in qs) {
      want = qs[q] * total; for (i = 1; i <= n; i++) if (cum[i] >= want) { v[q] = bound[i]; break }
    }
    printf "receipt to detection recorded, %d events: median <= %s s, p99 <= %s s\n", total, v[1], v[2];
    printf "detections %d, alerts raised %d\n", det, alerts
  }' "$WORK/metrics"
