#!/usr/bin/env bash
# Bursts of ordinary activity (issue 12): for each burst, the events the
# agent saw, the kernel's drops, the agent's CPU seconds and peak RSS, and
# the burst's wall time without and with the agent. A figure measured while
# events were dropped is marked "*". Needs root. Usage:
#   scripts/bench-burst.sh [BURST...]   (unpack exec find debootstrap; default all)
# Environment: TRUESIGHT_BIN (default: make build, ./bin/truesight),
# BENCH_RULES=stable adds upstream's stable rules to the defaults,
# BENCH_AGENT_ARGS adds arguments to `truesight run` (e.g.
# "-o engine.modern_ebpf.buf_size_preset=4" for Falco's 8 MiB buffer),
# BENCH_REPS (default 2): runs of each burst with and without the agent,
# alternating; the table has the fastest wall time of each and the most
# drops of any run with the agent.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-results.sh
[ "$(id -u)" -eq 0 ] || { echo "bench-burst: needs root" >&2; exit 2; }
bin=${TRUESIGHT_BIN:-}
if [ -z "$bin" ]; then
	make -s build
	bin=./bin/truesight
fi
read -r -a agent_args <<<"${BENCH_AGENT_ARGS:-}"
if [ "${BENCH_RULES:-default}" = stable ]; then
	agent_args+=(-r "${TRUESIGHT_CONFORMANCE_DIR:-../shared/conformance}/falco/falco_rules.yaml")
fi
bursts=("$@")
[ ${#bursts[@]} -gt 0 ] || bursts=(unpack exec find debootstrap)
work=$(mktemp -d /var/tmp/bench-burst.XXXXXX)
agent=
trap '[ -n "$agent" ] && kill -INT $agent 2>/dev/null; sleep 1; rm -rf "$work"' EXIT
hz=$(getconf CLK_TCK)

now() { date +%s.%N; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# ---- the bursts: prep_X (untimed) and run_X (timed) ---------------------

# A ~300 MB tree of ~13k files: the first 12,000 files of /usr/share and
# then libraries up to 300 MB, as one uncompressed tar.
make_tree() {
	[ -f "$work/tree.tar" ] && return
	find /usr/share -type f -size -4M -printf '%s %p\n' | sort -k2 >"$work/share.list"
	find /usr/lib/x86_64-linux-gnu -type f -size -4M -printf '%s %p\n' | sort -k2 >"$work/lib.list"
	awk 'FNR == NR && FNR > 12000 {next} {b += $1; sub(/^[0-9]+ /, ""); print; if (b >= 300 * 1048576) exit}' \
		"$work/share.list" "$work/lib.list" >"$work/tree.list"
	tar -cf "$work/tree.tar" -T "$work/tree.list" 2>/dev/null
	tree_desc="$(wc -l <"$work/tree.list") files, $(($(stat -c %s "$work/tree.tar") / 1048576)) MB"
}
# sync: every run starts without the previous run's dirty pages.
prep_unpack() { make_tree; rm -rf "$work/x"; mkdir "$work/x"; sync; }
run_unpack() { tar -xf "$work/tree.tar" -C "$work/x"; }

prep_exec() { :; }
run_exec() { for _ in $(seq 5000); do /bin/true; done; }

prep_find() { :; }
run_find() {
	local pids=()
	for _ in 1 2 3 4 5 6 7 8; do
		find /usr -type f -exec cat {} + >/dev/null 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
}

mirror=http://deb.debian.org/debian
debootstrap_ok() {
	command -v debootstrap >/dev/null || { echo "debootstrap: not installed; skipped (apt-get install debootstrap)"; return 1; }
	if ! curl -sfI --max-time 5 "$mirror/dists/bookworm/Release" >/dev/null 2>&1; then
		echo "debootstrap: $mirror is not reachable (no network?); skipped"
		return 1
	fi
}
prep_debootstrap() { rm -rf "$work/deb"; }
run_debootstrap() { debootstrap --variant=minbase bookworm "$work/deb" "$mirror" >/dev/null 2>&1; }

# ---- measurement ---------------------------------------------------------

# wall BURST: the burst's wall time in seconds, without the agent.
wall() {
	"prep_$1"
	local t0 t1
	t0=$(now)
	"run_$1"
	t1=$(now)
	echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}'
}

# with_agent BURST: runs the burst under a fresh agent and sets the
# globals w_wall, w_events, w_skipped (records the read-only file filter
# left in the kernel), w_drops, w_cpu, w_rss.
with_agent() {
	"$bin" run --scan-interval 0 -o webserver.enabled=false "${agent_args[@]}" >"$work/alerts" 2>"$work/agent.err" &
	agent=$!
	for _ in $(seq 300); do
		grep -q "truesight: watching" "$work/agent.err" && break
		kill -0 "$agent" 2>/dev/null || { cat "$work/agent.err" >&2; exit 1; }
		sleep 0.1
	done
	sleep 1
	"prep_$1"
	local c0 c1 t0 t1 prev
	c0=$(cpu_ticks "$agent")
	t0=$(now)
	"run_$1"
	t1=$(now)
	# The agent is done when it has caught up: its CPU time stops growing.
	prev=-1
	for _ in $(seq 120); do
		c1=$(cpu_ticks "$agent")
		[ "$c1" = "$prev" ] && break
		prev=$c1
		sleep 0.5
	done
	w_rss=$(awk '/VmHWM/{printf "%.0f MB", $2 / 1024}' "/proc/$agent/status")
	kill -INT "$agent"
	wait "$agent" || true
	agent=
	local summary
	summary=$(grep "truesight: stopped:" "$work/agent.err" | tail -1)
	w_events=$(echo "$summary" | sed -n 's/.*stopped: \([0-9]*\) events.*/\1/p')
	w_drops=$(echo "$summary" | sed -n 's/.* \([0-9]*\) kernel drops.*/\1/p')
	w_skipped=$(echo "$summary" | sed -n 's/.*; \([0-9]*\) read-only opens.*/\1/p')
	w_wall=$(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}')
	w_cpu=$(echo "$c0 $c1 $hz" | awk '{printf "%.1f", ($2 - $1) / $3}')
	w_alerts=$(grep -c "Kernel events dropped" "$work/alerts" || true)
}

echo "== bursts, $(nproc) cores, $(uname -r), rules: ${BENCH_RULES:-default}${BENCH_AGENT_ARGS:+, agent: $BENCH_AGENT_ARGS}"
rows=()
marked=
for b in "${bursts[@]}"; do
	if [ "$b" = debootstrap ] && ! debootstrap_ok; then
		continue
	fi
	if [ "$b" != debootstrap ]; then
		"prep_$b"
		"run_$b" >/dev/null # warm the page cache
	fi
	without= best= most=0
	for _ in $(seq "${BENCH_REPS:-2}"); do
		w=$(wall "$b")
		[ -n "$without" ] && awk -v a="$w" -v b="$without" 'BEGIN{exit !(a >= b)}' || without=$w
		with_agent "$b"
		[ -n "$best" ] && awk -v a="$w_wall" -v b="$best" 'BEGIN{exit !(a >= b)}' || best=$w_wall
		[ "${w_drops:-0}" -gt "$most" ] && most=$w_drops
	done
	w_wall=$best w_drops=$most
	mark=
	if [ "${w_drops:-0}" != 0 ]; then
		mark="*"
		marked=1
	fi
	over=$(echo "$without $w_wall" | awk '{printf "%+.1f%%", ($2 - $1) * 100 / $1}')
	name=$b
	case $b in
	unpack) name="unpack ($tree_desc)" ;;
	exec) name="exec 5,000 /bin/true" ;;
	find) name="8 x find /usr -exec cat" ;;
	debootstrap) name="debootstrap minbase" ;;
	esac
	rows+=("| $name | $w_events | ${w_skipped:-0} | $w_drops (alerts: $w_alerts) | $w_cpu | $w_rss | ${without} s | ${w_wall} s$mark | $over$mark |")
	echo "${rows[-1]}"
	result "burst: $name, rules: ${BENCH_RULES:-default} (wall time with the agent vs without)" \
		"${w_wall} s$mark, agent CPU $w_cpu s, RSS $w_rss" "${without} s without" "$over$mark" "${w_drops:-0}" "< 10%, 0 drops"
done
echo
echo "| burst | events | left in the kernel | kernel drops | agent CPU s | agent peak RSS | wall without | wall with | overhead |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
if [ -n "$marked" ]; then
	echo "* measured while the kernel dropped events: the agent did less work than the burst asked for"
fi
