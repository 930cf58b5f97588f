#!/usr/bin/env bash
# Benchmark of `truesight posture` (issue 15), on this machine:
#   1. 5,000 manifests (a helm-template-like stream: the seed's pod, a
#      hardened Deployment and a Service, in turn) checked on one core
#      (taskset -c 0, GOMAXPROCS=1): the command's wall time, and the Go
#      benchmark of the reader and checks alone. Goal: < 1 s.
#   2. `posture --running` on 50 containers (busybox sleeps: 30 alone, 20
#      in 10 pods sharing their pid namespace): from /proc alone (no
#      runtime asked) and with names from podman's API. Goal: < 1 s.
# Prints the medians of RUNS runs (default 5): wall and cpu (user+system)
# milliseconds. Needs root
# and podman for part 2. Usage: scripts/bench-posture.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
make -s build
bin=$PWD/bin/truesight
work=$(mktemp -d /tmp/ts-posture-bench.XXXXXX)
svc=""
cleanup() {
	if [ -n "$svc" ]; then kill "$svc" 2>/dev/null || true; fi
	podman ps -a --format '{{.Names}}' | grep '^ts-posture-bench-' | xargs -r podman rm -f -t 0 >/dev/null 2>&1 || true
	podman pod ls --format '{{.Name}}' | grep '^ts-posture-bench-' | xargs -r podman pod rm -f -t 0 >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

# one CMD...: "wall_ms cpu_ms" of one run, cpu being user+system time
# (the machine is shared: wall time grows with the load, cpu time much
# less). Exit 0 and 1 are results; 2 is not.
one() {
	local rc=0
	/usr/bin/time -f '%e %U %S' -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || rc=$?
	if [ "$rc" -gt 1 ]; then echo "bench-posture: $* exited $rc:" >&2; cat "$work/stderr" >&2; exit 1; fi
	tail -1 "$work/time" | awk '{printf "%d %d\n", $1 * 1000, ($2 + $3) * 1000}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# medianOf CMD...: "wall W ms, cpu C ms", medians of RUNS runs.
medianOf() {
	for _ in $(seq "$runs"); do one "$@"; done >"$work/runs"
	echo "wall $(cut -d' ' -f1 "$work/runs" | median) ms, cpu $(cut -d' ' -f2 "$work/runs" | median) ms"
}

echo "machine: $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. 5,000 manifests on one core.
seed=internal/posture/testdata/manifests/seed-pod.yaml
hard=internal/posture/testdata/manifests/hardened.yaml
big=$work/big.yaml
for i in $(seq 0 4999); do
	echo "---"
	echo "# Source: chart/templates/doc-$i.yaml"
	case $((i % 3)) in
	0) sed "s/name: shared/name: shared-$i/" "$seed" ;;
	1) sed "0,/name: web/s//name: web-$i/" "$hard" ;;
	2) printf 'apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%d\nspec:\n  ports: [{port: 80}]\n' "$i" ;;
	esac
done >"$big"
echo "5,000 documents: $(wc -l <"$big") lines, $(($(stat -c %s "$big") / 1024)) KiB"
echo "posture FILE (text), one core:  $(medianOf env GOMAXPROCS=1 taskset -c 0 "$bin" posture "$big")"
echo "posture FILE --format json:     $(medianOf env GOMAXPROCS=1 taskset -c 0 "$bin" posture --format json "$big")"
echo "posture - (stdin), one core:    $(medianOf env GOMAXPROCS=1 taskset -c 0 sh -c "exec \"$bin\" posture - <\"$big\"")"
go test -run '^$' -bench BenchmarkCheck5000Manifests -benchmem -cpu 1 -count 1 ./internal/posture/ | grep '^Benchmark'

# 2. --running on 50 containers.
if ! command -v podman >/dev/null; then
	echo "bench-posture: podman not installed, skipping --running" >&2
	exit 0
fi
img=localhost/truesight-test-bb:latest
if ! podman image exists "$img"; then
	go test -count=1 -run 'TestImageContentsOfRealContainers' ./internal/posture/ >/dev/null # builds it
fi
for i in $(seq 1 30); do
	podman run -d --name "ts-posture-bench-$i" "$img" sleep 600 >/dev/null
done
for p in $(seq 1 10); do
	podman pod create --share pid --name "ts-posture-bench-pod$p" >/dev/null
	podman run -d --pod "ts-posture-bench-pod$p" --name "ts-posture-bench-pod$p-a" "$img" sleep 600 >/dev/null
	podman run -d --pod "ts-posture-bench-pod$p" --name "ts-posture-bench-pod$p-b" --read-only --user 1000 "$img" sleep 600 >/dev/null
done
seen=$("$bin" posture --running --format json --wait 0s --docker-socket= --containerd-socket= --cri-socket= | grep -c '"no_new_privs"' || true)
echo "containers judged: $seen (50 started here, the pods' infra containers, and whatever else runs)"
echo "posture --running, /proc only:  $(medianOf "$bin" posture --running --wait 0s --docker-socket= --containerd-socket= --cri-socket=)"
sock=$work/podman.sock
podman system service --time=0 "unix://$sock" 2>/dev/null &
svc=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
"$bin" posture --running --wait 30s --docker-socket "$sock" --containerd-socket= --cri-socket= >/dev/null || true # warm the service
echo "posture --running, podman API:  $(medianOf "$bin" posture --running --wait 30s --docker-socket "$sock" --containerd-socket= --cri-socket=)"
