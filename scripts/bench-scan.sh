#!/usr/bin/env bash
# Benchmark of the hidden-process scan (issue 5) beside Debian's unhide, on
# this machine, in one run:
#   1. the default pid_max and the processes running now;
#   2. pid_max 4194304 and 5,000 extra processes (restored afterwards).
# For each: `truesight scan` wall time (including loading eBPF for the
# kernel view), the scan's own time (what `truesight run` pays per
# continuous sweep, eBPF already loaded), and `unhide-linux quick` and
# `unhide-linux procall`. Needs root. Usage: scripts/bench-scan.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench-scan: needs root" >&2; exit 2; }
runs=${1:-3}
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
# wall CMD...: milliseconds of one run (exit codes 0 and 1 are results).
wall() {
	local t0 t1
	t0=$(now)
	"$@" >/dev/null 2>&1 || [ $? -le 1 ] || { echo "bench-scan: $* failed" >&2; return 1; }
	t1=$(now)
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
bench() { # label
	local ts tsn self uq up
	ts=$(for _ in $(seq "$runs"); do wall ./bin/truesight scan; done | median)
	tsn=$(for _ in $(seq "$runs"); do wall ./bin/truesight scan --no-kernel-view; done | median)
	self=$(for _ in $(seq "$runs"); do scan_self; done | median)
	uq=$(for _ in $(seq "$runs"); do wall timeout 900 unhide-linux quick; done | median)
	up=$(for _ in $(seq "$runs"); do wall timeout 900 unhide-linux procall; done | median)
	printf '%s (pid_max %s, %s processes, load %s)\n' "$1" "$(cat /proc/sys/kernel/pid_max)" \
		"$(find /proc -maxdepth 1 -regex '/proc/[0-9]+' | wc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf '  %-42s %8s ms\n' "truesight scan (wall, loads eBPF)" "$ts" \
		"truesight scan --no-kernel-view (wall)" "$tsn" \
		"scan itself (eBPF loaded, as in run)" "$self" \
		"unhide-linux quick" "$uq" \
		"unhide-linux procall" "$up"
	awk -v a="$ts" -v b="$self" -v q="$uq" -v p="$up" 'BEGIN {
		printf "  ratios: unhide quick / truesight scan = %.1fx, procall / truesight scan = %.1fx;\n", q/a, p/a
		printf "          unhide quick / scan itself = %.1fx, procall / scan itself = %.1fx\n", q/(b?b:1), p/(b?b:1) }'
}

echo "== machine: $(nproc) cores, $(uname -r), median of $runs runs"
bench "default"

echo 4194304 >/proc/sys/kernel/pid_max
for _ in $(seq 5000); do
	sleep 3600 &
	extra+=($!)
done
sleep 2
bench "large"
