#!/usr/bin/env bash
# Prints the embedded event store figures of the store issue on this machine, for EVENTS
# generated Sysmon-like events (EVTX-shaped process creations, about 1.5 KB of JSON each)
# stored in a fresh TantivyStore under /tmp:
#  - indexing rate (events/s, overall and over the last 80%) with the server's commit
#    cadence (every second) while a second thread runs needle searches every 200 ms;
#  - needle searches for a rare value (exact field value, bare word, wildcard), median and
#    95th percentile; `* | stats count by host` (median of 5), `stats count by User`,
#    `stats count by Image`, `EventID:1 | timechart span=1h count`; every result is checked
#    (exit status 1 and CHECK FAILED lines when one is wrong);
#  - the same queries after closing the writers and reopening the store (merged segments);
#  - disk used per million events, peak and current memory.
# The last block of `key: value` lines is the summary to paste into a note.
# Usage: scripts/bench-store.sh [EVENTS=10000000] [more store_bench arguments...]
#        (e.g. scripts/bench-store.sh 300000 --hosts 200 --keep; see the example's --help)
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-10000000}"
shift || true
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -q -p leitstelle-store --example store_bench
BENCH="$TARGET/release/examples/store_bench"

echo "source: $(git describe --always --dirty 2>/dev/null || echo unknown)"
echo "+ $BENCH --events $EVENTS $*"
"$BENCH" --events "$EVENTS" "$@"
