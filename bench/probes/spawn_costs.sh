#!/bin/sh
# spawn_costs.sh BUILD_DIR [ROUNDS]: runs every mode of spawn_costs and
# spawn_costs_mtask once per round, in an order that rotates each round,
# and prints per mode the median over the rounds of its median and p10 (us)
# and of the share of operations after which the caller ran on another CPU.
# With perf installed, PERF=1 also prints page faults, TLB flushes and
# context switches per operation, counted system-wide.
set -eu
build=${1:?usage: spawn_costs.sh BUILD_DIR [ROUNDS]}
rounds=${2:-7}
plain="$build/bench/spawn_costs"
mtask="$build/bench/spawn_costs_mtask"
modes="$plain:fork $plain:fork+idle-thread $plain:fork+pidfd $plain:fork+pidfd+reaper
$mtask:mtask-linked-fork $mtask:mtask-reaper-idle-fork $mtask:mt_process
$plain:pthread $plain:pthread+syscalls $plain:pthread+join-twice $plain:pthread+both
$mtask:mt_thread"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

count_for() {
	case $1 in pthread* | mt_thread) echo 3000 ;; *) echo 300 ;; esac
}

# The modes, starting with the (r mod n)-th: each round starts one further.
rotated() {
	printf '%s\n' $modes |
		awk -v r="$1" '{ line[NR] = $0 } END { for (i = 0; i < NR; i++) print line[(i + r) % NR + 1] }'
}

round=0
while [ "$round" -lt "$rounds" ]; do
	for entry in $(rotated "$round"); do
		"${entry%%:*}" "${entry#*:}" "$(count_for "${entry#*:}")" >>"$out"
	done
	round=$((round + 1))
done

awk '{ med[$1] = med[$1] " " $2; p10[$1] = p10[$1] " " $3; moved[$1] = moved[$1] " " $4
	order[$1] = order[$1] ? order[$1] : NR }
function median(list,   n, a, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
END { for (m in med) printf "%4d %-24s median %8.1f us   p10 %8.1f us   moved %3d%%\n",
	order[m], m, median(med[m]), median(p10[m]), median(moved[m]) }' "$out" |
	sort -n | cut -c6-

if [ "${PERF:-0}" = 1 ] && command -v perf >/dev/null; then
	echo
	echo "per operation, system-wide (perf stat -a):"
	for entry in $modes; do
		n=$(count_for "${entry#*:}")
		perf stat -a -x, -e page-faults,tlb:tlb_flush,context-switches \
			"${entry%%:*}" "${entry#*:}" "$n" 2>&1 >/dev/null |
			awk -F, -v m="${entry#*:}" -v n="$n" \
				'{ s = s sprintf("  %s %.1f", $3, $1 / (n + 1)) } END { printf "%-24s%s\n", m, s }'
	done
fi
