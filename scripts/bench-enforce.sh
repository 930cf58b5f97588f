#!/usr/bin/env bash
# Benchmark of protection (issue 14, docs/enforcement.md), on this machine:
#   1. The latency of one open (+ close) on a tmpfs in a private mount
#      namespace (never a host filesystem): unmarked, marked by the guard
#      for an unprotected path (first open asks, later ones are ignored by
#      the kernel), and marked for a protected path that is read (every
#      open asks: the path is matched and the thread's syscall read).
#      p50 and p99 in ns over OPENS opens (default 1000000).
#   2. The rename window: how long a file renamed onto /etc/ld.so.preload
#      stays visible. (a) From the report of the rename to the restore
#      (guard alone, 2000 renames, p50/p99 in us). (b) End to end in a real
#      podman container under `truesight run --enforce`: from the rename
#      syscall's return, through the eBPF sensor, to the restore, as the
#      alert's finding.detail[window] says (RUNS runs, default 3).
# Needs root; part 2b needs podman. Usage: scripts/bench-enforce.sh [OPENS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
opens=${1:-1000000}
runs=${2:-3}

echo "== open latency, $opens opens each (ns)"
go test -count=1 -run XXX -bench 'BenchmarkOpen$' -benchtime "${opens}x" ./internal/enforce/ |
	awk '/^BenchmarkOpen/ { name=$1; sub(/^BenchmarkOpen\//, "", name); sub(/-[0-9]+$/, "", name);
		for (i = 1; i <= NF; i++) { if ($(i+1) == "p50-ns") p50=$i; if ($(i+1) == "p99-ns") p99=$i }
		printf "  %-24s p50 %6d  p99 %6d\n", name, p50, p99 }'

echo "== rename window, guard alone (us)"
go test -count=1 -run XXX -bench 'BenchmarkRenameWindow' -benchtime 2000x ./internal/enforce/ |
	awk '/^BenchmarkRenameWindow/ { for (i = 1; i <= NF; i++) { if ($(i+1) == "p50-us") p50=$i; if ($(i+1) == "p99-us") p99=$i }
		printf "  report to restore        p50 %6d  p99 %6d\n", p50, p99 }'

echo "== rename window, end to end in a container ($runs runs)"
for _ in $(seq "$runs"); do
	go test -count=1 -v -run 'TestRunEnforceDeniesWritesInAContainerStartedBeforeItAndUndoesARename' ./internal/cli/ 2>&1 |
		sed -n 's/.*rename visible for \(.*\)$/  rename syscall to restore: \1/p'
done
