#!/usr/bin/env bash
# Prints the hunt figures of the detection issue on this machine:
#  - whole run (rule loading included), wall time and peak memory, median of 3;
#  - marginal cost per event: the EVTX-ATTACK-SAMPLES folder copied 5 times over minus once,
#    on one thread, against parsing the records alone (evtx crate, record to JSON, one thread);
#  - the compiled matcher on in-memory JSON events (cargo bench).
# Usage: scripts/bench-hunt.sh  (LEITSTELLE_SHARED_DATA defaults to ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${LEITSTELLE_SHARED_DATA:-$PWD/../shared/data}"
SAMPLES="$DATA/evtx-attack-samples"
RULES="$DATA/sigma/rules/windows"
[ -d "$SAMPLES" ] && [ -d "$RULES" ] || { echo "needs $SAMPLES and $RULES" >&2; exit 1; }
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
# Two builds: with `--example` cargo builds only the examples of the packages named.
cargo build --release -q -p leitstelle-cli
cargo build --release -q -p leitstelle-hunt --example parse_only
[ -x "$TARGET/release/leitstelle" ] || { echo "no $TARGET/release/leitstelle" >&2; exit 1; }
BIN="$TARGET/release/leitstelle"
PARSE="$TARGET/release/examples/parse_only"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/x1" "$WORK/x5"
cp -r "$SAMPLES" "$WORK/x1/s"
for i in 1 2 3 4 5; do cp -r "$SAMPLES" "$WORK/x5/s$i"; done

# run LABEL ARGS... -> prints "wall_s rss_mb" (median of 3 by wall time)
run() {
  local out=()
  for _ in 1 2 3; do
    # Exit code 2 means some input could not be read (the samples hold corrupt files): expected.
    /usr/bin/time -f "%e %M" -o "$WORK/t" "$@" >/dev/null 2>"$WORK/err" || {
      rc=$?
      [ $rc -eq 2 ] || { echo "FAILED ($rc): $*" >&2; tail -3 "$WORK/err" >&2; }
    }
    out+=("$(tail -1 "$WORK/t")")
  done
  printf '%s\n' "${out[@]}" | sort -n | sed -n 2p | awk '{printf "%.3f %.1f", $1, $2/1024}'
}

HUNT=("$BIN" hunt --rules "$RULES" -q --format jsonl)
read -r w1 m1 <<<"$(run "${HUNT[@]}" "$WORK/x1")"
read -r w1t m1t <<<"$(run "${HUNT[@]}" --threads 1 "$WORK/x1")"
read -r w5t m5t <<<"$(run "${HUNT[@]}" --threads 1 "$WORK/x5")"
read -r r0 m0 <<<"$(run "$BIN" hunt --rules "$RULES" -q --format jsonl "$WORK/empty-does-not-exist")" || true
p1=$("$PARSE" "$WORK/x1" | sed -E 's/.* ([0-9.]+) s, .*/\1/')
p5=$("$PARSE" "$WORK/x5" | sed -E 's/.* ([0-9.]+) s, .*/\1/')
events1=8255; events5=$((8255*5))
echo "== hunt: $(ls -R "$RULES" | grep -c '\.yml$') rule files, $events1 records =="
echo "whole run (all cores):      ${w1} s wall, peak ${m1} MB   (goal < 1 s, < 100 MB)"
echo "whole run (1 thread):       ${w1t} s wall, peak ${m1t} MB"
echo "rule loading + startup:     ${r0} s (a run with no input)"
awk -v a="$w1t" -v b="$w5t" -v p1="$p1" -v p5="$p5" -v n=$((events5-events1)) 'BEGIN {
  hunt = (b - a) * 1e6 / n; parse = (p5 - p1) * 1e6 / n;
  printf "marginal per event, hunt:   %.2f µs (1 thread, 5x minus 1x folder)\n", hunt;
  printf "marginal per event, parse:  %.2f µs (evtx crate to JSON, 1 thread)\n", parse;
  printf "ratio hunt / parse:         %.2f  (goal <= 2)\n", hunt / parse }'
echo "== compiled matcher (cargo bench -p leitstelle-sigma) =="
LEITSTELLE_SHARED_DATA="$DATA" cargo bench -q -p leitstelle-sigma --bench matcher 2>/dev/null | grep -v '^$'
