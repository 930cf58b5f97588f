#!/usr/bin/env bash
# A clean stop, always (issue 12): CYCLES consecutive start, storm, stop
# cycles of `truesight run`, each stopped by SIGINT or SIGTERM, and the
# worst time from the signal to the process's exit. The agent is started as
# scripts start it, in the background of a non-interactive shell, which
# starts it with SIGINT ignored; one cycle in four sends the signal while
# the agent is still starting (before "watching"), half of the others while
# the storm still runs (a signal in the first ~10 ms after exec, before
# any program can have a handler, is discarded by the kernel when the
# parent ignored it; the early cycles start at 20 ms). A stop that takes longer than 30 s is a hang: the
# agent's goroutines are dumped (SIGQUIT) to the report and the run fails.
# Usage: scripts/bench-stop.sh [CYCLES]   (default 200; needs root)
# TRUESIGHT_BIN picks the binary (default: make build, ./bin/truesight).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench-stop: needs root" >&2; exit 2; }
cycles=${1:-200}
bin=${TRUESIGHT_BIN:-}
if [ -z "$bin" ]; then
	make -s build
	bin=./bin/truesight
fi
work=$(mktemp -d)
agent=
storm=()
cleanup() {
	[ -n "$agent" ] && kill -9 "$agent" 2>/dev/null || true
	for p in "${storm[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# storm_start: 4 parallel readers of every file under /usr for at most $1 s.
storm_start() {
	storm=()
	for _ in 1 2 3 4; do
		timeout "$1" find /usr -type f -exec cat {} + >/dev/null 2>&1 &
		storm+=($!)
	done
}
storm_wait() {
	for p in "${storm[@]}"; do wait "$p" 2>/dev/null || true; done
	storm=()
}

worst=0 worst_cycle=0 total=0 hangs=0 early=0 during=0 after=0 drops=0
for i in $(seq "$cycles"); do
	sig=INT
	[ $((i % 8)) -ge 4 ] && sig=TERM
	"$bin" run --scan-interval 5s -o webserver.enabled=false >"$work/out" 2>"$work/err" &
	agent=$!
	case $((i % 4)) in
	0) # while starting: 20 to 400 ms after exec. Before ~10 ms the Go
		# runtime and package initialisation run, before any handler can
		# exist; an ignored SIGINT sent then is discarded by the kernel,
		# for any program.
		sleep "$(printf '0.%03d' $((20 + RANDOM % 380)))"
		mode=early
		;;
	*)
		for _ in $(seq 300); do
			grep -q "truesight: watching" "$work/err" && break
			kill -0 "$agent" 2>/dev/null || break
			sleep 0.1
		done
		if [ $((i % 4)) -eq 1 ]; then
			storm_start 3
			sleep 1.5
			mode=during
		else
			storm_start 1.5
			storm_wait
			mode=after
		fi
		;;
	esac
	t0=$(now_ms)
	kill -s "$sig" "$agent"
	stopped=
	for _ in $(seq 3000); do
		if ! kill -0 "$agent" 2>/dev/null; then
			stopped=1
			break
		fi
		sleep 0.01
	done
	t1=$(now_ms)
	if [ -z "$stopped" ]; then
		hangs=$((hangs + 1))
		kill -QUIT "$agent" 2>/dev/null || true
		sleep 1
		echo "cycle $i ($mode, SIG$sig): still running 30 s after the signal; goroutines:" >&2
		tail -200 "$work/err" >&2
		kill -9 "$agent" 2>/dev/null || true
	fi
	wait "$agent" 2>/dev/null || true
	agent=
	storm_wait
	ms=$((t1 - t0))
	total=$((total + ms))
	if [ "$ms" -gt "$worst" ]; then worst=$ms worst_cycle="$i ($mode, SIG$sig)"; fi
	case $mode in early) early=$((early + 1)) ;; during) during=$((during + 1)) ;; *) after=$((after + 1)) ;; esac
	d=$(sed -n 's/.* \([0-9]*\) kernel drops.*/\1/p' "$work/err" | tail -1)
	drops=$((drops + ${d:-0}))
	if [ "$mode" != early ] && ! grep -q "truesight: stopped:" "$work/err"; then
		echo "cycle $i ($mode, SIG$sig): no exit summary:" >&2
		tail -5 "$work/err" >&2
	fi
	if [ $((i % 20)) -eq 0 ]; then
		echo "after $i cycles: worst stop ${worst} ms (cycle $worst_cycle), mean $((total / i)) ms, hangs $hangs"
	fi
done
echo "== $cycles start, storm, stop cycles ($early stopped while starting, $during during a storm, $after after one) on $(nproc) cores, $(uname -r)"
echo "worst stop: ${worst} ms (cycle $worst_cycle); mean $((total / cycles)) ms; hangs (over 30 s): $hangs; kernel drops in all runs: $drops"
[ "$hangs" -eq 0 ] && [ "$worst" -le 5000 ]
