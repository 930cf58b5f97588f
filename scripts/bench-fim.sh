#!/usr/bin/env bash
# Benchmark of `truesight fim` (issue 13), on this machine:
#   1. Baseline of one tree with sha256 (TREE, default /usr/bin): truesight
#      fim init --path TREE against Debian's `aide --init` with the
#      equivalent rule (p+i+n+u+g+s+m+c+sha256+xattrs+acl), warm cache:
#      files, bytes, wall time and peak RSS, medians of RUNS runs (default 3).
#      Goal: truesight >= 3x faster.
#   2. `fim check` of a container whose image is >= 500 MB (500 files of
#      1 MiB and 1000 small ones) and whose upper layer holds 100 changed
#      files. Goal: < 100 ms.
#   3. Real time (truesight run): the added cost per write in a watched
#      container (20000 appends; the agent with truesight.fim.enabled off,
#      then on) and the
#      finding latency p50/p99 (200 files written 50 ms apart: the alert's
#      time minus the file's mtime).
# Needs root and podman (parts 2, 3); aide for part 1's peer (apt-get
# install aide; the part prints "aide: not installed" otherwise).
# Usage: scripts/bench-fim.sh [RUNS]   env: TREE=/usr PARTS="1 2 3"
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib-results.sh
. scripts/lib-results.sh
runs=${1:-3}
tree=${TREE:-/usr/bin}
parts=${PARTS:-1 2 3}
[ "$(id -u)" -eq 0 ] || { echo "bench-fim: needs root" >&2; exit 2; }
make -s build
bin=$PWD/bin/truesight
work=$(mktemp -d /tmp/ts-fim-bench.XXXXXX)
img=localhost/ts-fim-bench-img:latest
agent=""
cleanup() {
	if [ -n "$agent" ]; then kill -INT "$agent" 2>/dev/null || true; wait "$agent" 2>/dev/null || true; fi
	podman ps -a --format '{{.Names}}' | grep '^ts-fim-bench-' | xargs -r podman rm -f -t 0 >/dev/null 2>&1 || true
	podman rmi -f "$img" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# timed CMD...: "wall_ms rss_kib" of one run (exit 0 and 1 are results).
timed() {
	local rc=0
	/usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>"$work/err" || rc=$?
	if [ "$rc" -gt 1 ]; then echo "bench-fim: $* exited $rc:" >&2; cat "$work/err" "$work/out" >&2; exit 1; fi
	tail -1 "$work/time" | awk '{printf "%d %d\n", $1 * 1000, $2}'
}
echo "machine: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
# The database and key of the runs, and no runtime asked (no wait).
common=(--db "$work/fim.db" --key "$work/fim.key" --docker-socket= --containerd-socket= --cri-socket=)

if [[ " $parts " == *" 1 "* ]]; then
	files=$(find "$tree" -xdev -type f | wc -l)
	bytes=$(find "$tree" -xdev -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
	echo "1. baseline of $tree: $files files, $((bytes / 1048576)) MiB (warm cache)"
	cat "$tree"/* >/dev/null 2>&1 || true
	for _ in $(seq "$runs"); do rm -f "$work/fim.db"; timed "$bin" fim init --path "$tree" --no-containers "${common[@]}"; done >"$work/ts"
	tw=$(cut -d' ' -f1 "$work/ts" | median); tr=$(cut -d' ' -f2 "$work/ts" | median)
	echo "   truesight fim init: wall $tw ms, peak RSS $((tr / 1024)) MiB"
	if command -v aide >/dev/null; then
		cat >"$work/aide.conf" <<-CONF
		database_out=file:$work/aide.db.new
		gzip_dbout=no
		R = p+i+n+u+g+s+m+c+sha256+xattrs+acl
		$tree R
		CONF
		for _ in $(seq "$runs"); do rm -f "$work/aide.db.new"; timed aide --init --config="$work/aide.conf"; done >"$work/aide"
		aw=$(cut -d' ' -f1 "$work/aide" | median); ar=$(cut -d' ' -f2 "$work/aide" | median)
		echo "   aide --init:        wall $aw ms, peak RSS $((ar / 1024)) MiB"
		ratio=$(awk -v a="$aw" -v t="$tw" 'BEGIN {printf "%.1f", a / (t > 0 ? t : 1)}')
		echo "   truesight is ${ratio}x faster (goal >= 3x)"
		result "fim baseline of $tree ($files files), ms" "$tw" "$aw" "$ratio" - ">= 3x"
	else
		echo "   aide: not installed (apt-get install aide)"
	fi
fi

if [[ " $parts " == *" 2 "* || " $parts " == *" 3 "* ]]; then
	podman image exists localhost/truesight-test-bb:latest || { echo "bench-fim: run the container tests once to build localhost/truesight-test-bb:latest" >&2; exit 2; }
	mkdir -p "$work/build"
	cat >"$work/build/Containerfile" <<-CF
	FROM localhost/truesight-test-bb:latest
	RUN mkdir -p /data /etc/many && i=0 && while [ \$i -lt 500 ]; do head -c 1048576 /dev/urandom > /data/f\$i; i=\$((i+1)); done && i=0 && while [ \$i -lt 1000 ]; do echo line \$i > /etc/many/f\$i; i=\$((i+1)); done
	CF
	podman build -q -t "$img" "$work/build" >/dev/null
	echo "   image $img: $(podman image inspect -f '{{.Size}}' "$img" | awk '{printf "%d MB", $1 / 1e6}')"
fi

if [[ " $parts " == *" 2 "* ]]; then
	# By id: no runtime is asked for names.
	cid=$(podman run -d --name ts-fim-bench-check "$img" sleep 1000)
	rm -f "$work/fim.db"
	"$bin" fim init --path= --container "$cid" "${common[@]}" >/dev/null
	podman exec ts-fim-bench-check sh -c 'i=0; while [ $i -lt 100 ]; do echo changed >> /etc/many/f$i; i=$((i+1)); done'
	for _ in $(seq "$((runs * 3))"); do timed "$bin" fim check --path= --container "$cid" "${common[@]}"; done >"$work/check"
	grep -q "100 changes" "$work/out" || { echo "bench-fim: check did not report the 100 changes:" >&2; cat "$work/out" >&2; exit 1; }
	cw=$(cut -d' ' -f1 "$work/check" | median)
	echo "2. fim check of a 500 MB image's container with 100 changed files: wall $cw ms (the whole command; goal < 100 ms)"
	result "fim check, 500 MB image, 100 changed files, ms" "$cw" - - - "< 100"
	podman rm -f -t 0 ts-fim-bench-check >/dev/null
fi

if [[ " $parts " == *" 3 "* ]]; then
	podman run -d --name ts-fim-bench-rt "$img" sleep 1000 >/dev/null
	n=20000
	# writes: microseconds for n appends in the container (one shell).
	writes() {
		local t0 t1
		t0=$(date +%s%N)
		podman exec ts-fim-bench-rt sh -c "i=0; while [ \$i -lt $n ]; do echo \$i >> /etc/many/f\$((i % 100)); i=\$((i+1)); done"
		t1=$(date +%s%N)
		echo $(((t1 - t0) / 1000))
	}
	# startAgent FIM: truesight run with truesight.fim.enabled=FIM, until it watches.
	startAgent() {
		"$bin" run --json -o webserver.enabled=false -o truesight.scan_interval=0s -o truesight.fim.enabled="$1" \
			-o truesight.fim.db="$work/rt.db" -o truesight.fim.key_file="$work/fim.key" \
			--docker-socket= --containerd-socket= --cri-socket= >"$work/alerts" 2>"$work/agent.log" &
		agent=$!
		for _ in $(seq 300); do grep -q 'truesight: watching' "$work/agent.log" && break; sleep 0.1; done
		if [ "$1" = true ]; then
			for _ in $(seq 300); do grep -q 'fim: watching container' "$work/agent.log" && break; sleep 0.1; done
		fi
		sleep 1
	}
	stopAgent() { kill -INT "$agent"; wait "$agent" 2>/dev/null || true; agent=""; }
	startAgent false
	for _ in $(seq "$runs"); do writes; done >"$work/off"
	stopAgent
	startAgent true
	for _ in $(seq "$runs"); do writes; done >"$work/on"
	off=$(median <"$work/off"); on=$(median <"$work/on")
	per=$(awk -v on="$on" -v off="$off" -v n="$n" 'BEGIN {printf "%.2f", (on - off) / n}')
	echo "3. $n appends in a container, agent running: ${off} us with FIM off, ${on} us with FIM on: +${per} us per write (medians of $runs)"
	result "fim real time, added cost per write, us" "$per" - - - -
	sleep 2
	podman exec ts-fim-bench-rt sh -c 'mkdir -p /etc/lat; i=0; while [ $i -lt 200 ]; do echo x > /etc/lat/f$i; usleep 50000; i=$((i+1)); done'
	sleep 2
	stopAgent
	upper=$(podman inspect -f '{{.GraphDriver.Data.UpperDir}}' ts-fim-bench-rt)
	for f in "$upper"/etc/lat/f*; do echo "/etc/lat/$(basename "$f") $(stat -c %.9Y "$f")"; done >"$work/mtimes"
	python3 - "$work/alerts" "$work/mtimes" <<-'PY'
	import json, sys, datetime
	mt = dict(l.split() for l in open(sys.argv[2]))
	lat = []
	for l in open(sys.argv[1]):
	    try:
	        a = json.loads(l)
	    except ValueError:
	        continue
	    p = (a.get("output_fields") or {}).get("finding.path")
	    if p in mt:
	        t = datetime.datetime.fromisoformat(a["time"].replace("Z", "")[:26]).replace(tzinfo=datetime.timezone.utc).timestamp()
	        lat.append((t - float(mt.pop(p))) * 1000)
	lat.sort()
	if not lat:
	    print("   no latency figures (no alerts for /etc/lat)"); sys.exit(0)
	q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
	print(f"   finding latency over {len(lat)} files written 50 ms apart: p50 {q(0.5):.0f} ms, p99 {q(0.99):.0f} ms, {len(mt)} files without a finding (goal < 1000 ms)")
	PY
fi
