#!/usr/bin/env bash
# Benchmark of the hidden-process scan (issue 5) beside Debian's unhide, on
# this machine, in one run:
#   1. the default pid_max and the processes running now;
#   2. pid_max 4194304 and 5,000 extra processes (restored afterwards).
# For each: `truesight scan` wall time (including loading eBPF for the
# kernel view), the scan's own time (what `truesight run` pays per
# continuous sweep, eBPF already loaded), and `unhide-linux quick` and
# `unhide-linux procall` (once at the large pid_max, where one run takes
# many minutes). Needs root. Usage: scripts/bench-scan.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-results.sh
[ "$(id -u)" -eq 0 ] || { echo "bench-scan: needs root" >&2; exit 2; }
runs=${1:-3}
# unhide takes minutes per run at a large pid_max: one run, bounded.
unhide_timeout=${UNHIDE_TIMEOUT:-600}
if ! command -v unhide-linux >/dev/null; then
	echo "bench-scan: installing Debian's unhide for the comparison"
	apt-get install -y -qq unhide >/dev/null || { apt-get update -qq && apt-get install -y -qq unhide >/dev/null; }
fi
make -s build

orig_pid_max=$(cat /proc/sys/kernel/pid_max)
extra=()
cleanup() {
	if [ "${#extra[@]}" -gt 0 ]; then kill "${extra[@]}" 2>/dev/null || true; fi
	echo "$orig_pid_max" >/proc/sys/kernel/pid_max
}
trap cleanup EXIT

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# wall CMD...: milliseconds of one run (exit codes 0 and 1 are results;
# 124 is unhide's timeout, reported as such).
wall() {
	local t0 t1 rc=0
	t0=$(now)
	"$@" >/dev/null 2>&1 || rc=$?
	t1=$(now)
	if [ "$rc" -eq 124 ]; then echo "timeout"; return; fi
	[ "$rc" -le 1 ] || { echo "bench-scan: $* exited $rc" >&2; echo "error"; return; }
	echo $(((t1 - t0) / 1000000))
}
# scan_self: the scan's own duration from its report, in milliseconds.
scan_self() {
	local out
	out=$(./bin/truesight scan 2>/dev/null) || true
	out=${out%%$'\n'*}
	sed -E 's/.*; ([0-9.]+)(ms|s|µs) in all$/\1 \2/' <<<"$out" |
		awk '{v=$1; if ($2=="s") v*=1000; if ($2=="µs") v/=1000; printf "%d\n", v}'
}
row() {
	local v=$2
	[ "$v" != "timeout" ] || v=">$((unhide_timeout * 1000))"
	printf '  %-42s %9s ms\n' "$1" "$v"
}
bench() { # label unhide-runs
	local ts self uq up
	printf '%s (pid_max %s, %s processes, load %s)\n' "$1" "$(cat /proc/sys/kernel/pid_max)" \
		"$(find /proc -maxdepth 1 -regex '/proc/[0-9]+' | wc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
	ts=$(for _ in $(seq "$runs"); do wall ./bin/truesight scan; done | median)
	row "truesight scan (wall, loads eBPF)" "$ts"
	row "truesight scan --no-kernel-view (wall)" "$(for _ in $(seq "$runs"); do wall ./bin/truesight scan --no-kernel-view; done | median)"
	self=$(for _ in $(seq "$runs"); do scan_self; done | median)
	row "scan itself (eBPF loaded, as in run)" "$self"
	uq=$(for _ in $(seq "$2"); do wall timeout "$unhide_timeout" unhide-linux quick; done | median)
	row "unhide-linux quick" "$uq"
	up=$(for _ in $(seq "$2"); do wall timeout "$unhide_timeout" unhide-linux procall; done | median)
	row "unhide-linux procall" "$up"
	local peer=$uq peer_name="unhide-linux quick" target=">= 3x"
	if [ "$1" = large ]; then peer=$up peer_name="unhide-linux procall"; fi
	result "scan wall time, $1 (pid_max $(cat /proc/sys/kernel/pid_max), $(find /proc -maxdepth 1 -regex '/proc/[0-9]+' | wc -l) processes) vs $peer_name" \
		"$ts ms" "$([ "$peer" = timeout ] && echo "> $((unhide_timeout * 1000)) ms (timeout)" || echo "$peer ms")" \
		"$(awk -v a="$ts" -v q="$peer" -v lim="$unhide_timeout" 'BEGIN { if (q == "timeout") { printf ">= %.1fx", lim * 1000 / a } else printf "%.1fx", q / a }')" "-" "$target"
	awk -v a="$ts" -v b="$self" -v q="$uq" -v p="$up" -v lim="$unhide_timeout" 'BEGIN {
		if (q == "timeout") q = lim * 1000; if (p == "timeout") p = lim * 1000
		printf "  ratios (a timeout counts as the limit): unhide quick / truesight scan = %.1fx, procall / truesight scan = %.1fx;\n", q/a, p/a
		printf "          unhide quick / scan itself = %.0fx, procall / scan itself = %.0fx\n", q/(b?b:1), p/(b?b:1) }'
}

echo "== machine: $(nproc) cores, $(uname -r), median of $runs runs"
bench "default" "$runs"

echo 4194304 >/proc/sys/kernel/pid_max
for _ in $(seq 5000); do
	sleep 3600 &
	extra+=($!)
done
sleep 2
bench "large" 1
