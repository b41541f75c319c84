#!/usr/bin/env bash
# check_benchplot.sh SOURCE_DIR: scripts/benchplot.py turns `mtask bench
# --json` results (a recorded run of the pipe benchmark) into a summary and
# an SVG and PNG chart per benchmark, and refuses bad input with exit 2.
set -euo pipefail
src=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
plot=$src/scripts/benchplot.py

summary=$(python3 "$plot" "$src/tests/data/bench_results.json" "$out/plots")
grep -q "^pipe: " <<<"$summary"
grep -q "raw pipe(2) write/read (floor) .* 1.00x" <<<"$summary"
grep -q "target: mt_conn round trip vs raw pipe(2): .* NOT MET\|target: mt_conn round trip vs raw pipe(2): .* met" <<<"$summary"
grep -q "<svg" "$out/plots/pipe.svg"
grep -q "mt_conn send/recv (Pipe)" "$out/plots/pipe.svg"
[[ $(head -c 8 "$out/plots/pipe.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]]

echo '{"benchmarks": [' >"$out/broken.json"
if python3 "$plot" "$out/broken.json" "$out/plots" 2>"$out/err"; then
	echo "broken JSON was accepted" >&2
	exit 1
fi
grep -q "cannot read" "$out/err"
status=0
python3 "$plot" only-one-argument 2>/dev/null || status=$?
[[ $status -eq 2 ]]
echo "benchplot: ok"
