# shellcheck shell=bash
# Sourced by the benchmark scripts. When BENCH_RESULTS names a file (as
# scripts/bench-compare.sh sets it), each figure is appended to it as one
# tab-separated row, which bench-compare.sh turns into docs/performance.md:
#   result FIGURE TRUESIGHT PEER RATIO DROPS TARGET
# PEER and RATIO are "-" for a figure without a peer; DROPS are the kernel
# drops of the figure's own run ("-" where no agent ran).
result() {
	[ -n "${BENCH_RESULTS:-}" ] || return 0
	local IFS=$'\t'
	printf '%s\n' "$*" >>"$BENCH_RESULTS"
}
