#!/usr/bin/env bash
# Replay throughput, truesight against sysdig, on the same capture in the
# same run.
#
# Builds a capture of at least N events (default 1,000,000) by repeating
# the events of a conformance capture with rising timestamps, then times:
#   - sysdig -r FILE "<the Modify ld.so.preload condition, expanded>"
#   - truesight replay FILE with Falco's stable rules and truesight's defaults
# and prints events per second for each and their ratio (best of RUNS).
#
# Environment: N, RUNS (default 3), SRC (source capture), KEEP=1 to keep
# the capture, TRUESIGHT (the truesight binary to time; by default one is
# built from this tree).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/lib-results.sh
conf=${TRUESIGHT_CONFORMANCE_DIR:-$root/../shared/conformance}
n=${N:-1000000}
runs=${RUNS:-3}
src=${SRC:-$conf/scap/libs_curl_google.scap}
rules=$conf/falco/falco_rules.yaml

command -v sysdig >/dev/null || { echo "sysdig is not installed: apt-get install sysdig" >&2; exit 1; }
[ -f "$src" ] || { echo "no source capture $src (set TRUESIGHT_CONFORMANCE_DIR or SRC)" >&2; exit 1; }

work=$(mktemp -d)
[ "${KEEP:-}" = 1 ] || trap 'rm -rf "$work"' EXIT
file=$work/bench.scap

go build -o "$work/mkbench" ./internal/capture/testdata/mkbench
if [ -z "${TRUESIGHT:-}" ]; then
	CGO_ENABLED=0 go build -trimpath -o "$work/truesight" ./cmd/truesight
	TRUESIGHT=$work/truesight
fi
go build -o "$work/replaybench" ./internal/replay/testdata/replaybench
"$work/mkbench" -in "$src" -out "$file" -n "$n" >/dev/null
events=$n

# The filter sysdig runs: the condition of truesight's "Modify ld.so.preload"
# as Falco can run it (without truesight's own fields), expanded.
cond=$("$work/replaybench" -rules "$rules" -condition 'Modify ld.so.preload' | sed 's/ or fd.container.path = \/etc\/ld.so.preload//')

replay=("$TRUESIGHT" replay "$file" -r "$rules")

# best_of OK CMD...: the shortest wall time of RUNS runs, in seconds; an
# exit status above OK fails the benchmark (1 is "a rule fired" for
# truesight replay; sysdig must exit 0, or it did not read the file).
best_of() {
	local best="" t0 t1 d ok=$1 rc
	shift
	for _ in $(seq "$runs"); do
		t0=$(date +%s.%N)
		rc=0
		"$@" >/dev/null 2>"$work/stderr" || rc=$?
		if [ "$rc" -gt "$ok" ]; then echo "failed ($rc): $*" >&2; cat "$work/stderr" >&2; exit 1; fi
		t1=$(date +%s.%N)
		d=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
		if [ -z "$best" ] || awk -v d="$d" -v b="$best" 'BEGIN { exit !(d < b) }'; then best=$d; fi
	done
	echo "$best"
}

# Both read the same page-cached file: warm it up first.
cat "$file" >/dev/null

sysdig_s=$(best_of 0 sysdig -r "$file" "$cond")
ts_s=$(best_of 1 "${replay[@]}")

rate() { awk -v n="$events" -v s="$1" 'BEGIN { printf "%.0f", n / s }'; }
sysdig_rate=$(rate "$sysdig_s")
ts_rate=$(rate "$ts_s")

echo "capture:   $file ($(du -h "$file" | cut -f1), $events events, from $(basename "$src"))"
echo "condition: $cond"
printf '%-44s %8.3f s %12s events/s\n' "sysdig $(sysdig --version | awk '{print $3}') -r FILE <condition>" "$sysdig_s" "$sysdig_rate"
printf '%-44s %8.3f s %12s events/s\n' "truesight replay (stable + default rules)" "$ts_s" "$ts_rate"
awk -v a="$ts_rate" -v b="$sysdig_rate" 'BEGIN { printf "ratio truesight/sysdig: %.2fx\n", a / b }'
result "replay, $events events built from $(basename "$src"), all rules vs sysdig -r with one filter" \
	"$ts_rate events/s ($ts_s s)" "$sysdig_rate events/s ($sysdig_s s)" \
	"$(awk -v a="$ts_rate" -v b="$sysdig_rate" 'BEGIN { printf "%.2fx", a / b }')" "-" ">= 3x"
