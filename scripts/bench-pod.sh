#!/usr/bin/env bash
# The agent's CPU and memory in its pod, for the chart's resource defaults
# (docs/kubernetes.md): the image `make image` builds, run with the chart's
# detect-tier privileges and its rendered falco.yaml (podman run with the
# DaemonSet's settings: the node's PID namespace, / at /host read-only,
# capabilities drop ALL plus the tier's, seccomp unconfined, read-only
# root), measured from its container's cgroup while idle and during bursts
# of process starts and file opens on the node. Needs root and podman.
#
#   scripts/bench-pod.sh
#
# Environment: IMAGE (default localhost/truesight, built by make image),
# IDLE_SECONDS (default 30), EXECS (default 10000 process starts),
# OPENS_SECONDS (default 10: one file-opening loop per CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench-pod: needs root" >&2; exit 2; }
IMAGE=${IMAGE:-localhost/truesight}
IDLE=${IDLE_SECONDS:-30}
EXECS=${EXECS:-10000}
OPENS=${OPENS_SECONDS:-10}
HELM="$(command -v helm || echo "$(go env GOPATH)/bin/helm")"

make -s image IMAGE="$IMAGE" >/dev/null
name=ts-bench-pod-$$
work=$(mktemp -d /var/tmp/bench-pod.XXXXXX)
trap 'podman rm -f -t 0 "$name" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

# The chart's falco.yaml (the ConfigMap's data, unindented), an empty
# custom rules directory, and the detect tier's capabilities.
mkdir -p "$work/config" "$work/rules.d"
"$HELM" template truesight deploy/helm/truesight --namespace truesight --show-only templates/configmap.yaml |
	awk '/^  falco.yaml: \|-/ {on = 1; next} on && /^    / {print substr($0, 5); next} on {exit}' >"$work/config/falco.yaml"
[ -s "$work/config/falco.yaml" ] || { echo "bench-pod: no falco.yaml in the rendered ConfigMap" >&2; exit 1; }
caps=$("$HELM" template truesight deploy/helm/truesight --namespace truesight --show-only templates/daemonset.yaml |
	awk '/^ *add:/ {on = 1; next} on && /^ *- / {print $2; next} on {exit}' | paste -sd, -)

podman run -d --name "$name" --pid host -v /:/host:ro -v "$work/config:/etc/truesight/config:ro" \
	-v "$work/rules.d:/etc/truesight/rules.d:ro" --read-only \
	--cap-drop ALL --cap-add "$caps" --security-opt seccomp=unconfined --security-opt no-new-privileges \
	"$IMAGE:latest" run --config=/etc/truesight/config/falco.yaml --host-root=/host >/dev/null
id=$(podman inspect -f '{{.Id}}' "$name")
cg=libpod_parent/libpod-$id
mem=/sys/fs/cgroup/memory/$cg
cpu=/sys/fs/cgroup/cpuacct/$cg
[ -d "$mem" ] && [ -d "$cpu" ] || { echo "bench-pod: no cgroup v1 memory and cpuacct directories for $id (this script reads the hybrid layout of the project's VMs)" >&2; exit 1; }
pid=$(podman inspect -f '{{.State.Pid}}' "$name")
# Ready when /healthz answers on the container's address.
ip=$(podman inspect -f '{{.NetworkSettings.IPAddress}}' "$name")
for _ in $(seq 300); do
	curl -sf "http://$ip:8765/healthz" >/dev/null 2>&1 && break
	podman container exists "$name" && [ "$(podman inspect -f '{{.State.Running}}' "$name")" = true ] ||
		{ echo "bench-pod: the agent exited:" >&2; podman logs "$name" >&2; exit 1; }
	sleep 0.1
done
sleep 5 # the first scan ran

now() { date +%s.%N; }
mib() { awk -v b="$1" 'BEGIN {printf "%.0f", b / 1048576}'; }
# working set, as the kubelet counts it against the limit: usage minus
# inactive file pages.
working_set() { awk -v u="$(cat "$mem/memory.usage_in_bytes")" '$1 == "total_inactive_file" {print u - $2}' "$mem/memory.stat"; }
rss() { awk '$1 == "VmRSS:" {print $2 * 1024}' "/proc/$pid/status"; }

# measure LABEL CMD...: CPU (millicores: cgroup CPU time over wall time),
# working set at the end and the cgroup's peak usage during CMD.
measure() {
	local label=$1
	shift
	echo 0 >"$mem/memory.max_usage_in_bytes"
	local c0 t0 c1 t1
	c0=$(cat "$cpu/cpuacct.usage")
	t0=$(now)
	"$@"
	c1=$(cat "$cpu/cpuacct.usage")
	t1=$(now)
	awk -v l="$label" -v c="$((c1 - c0))" -v t0="$t0" -v t1="$t1" -v ws="$(working_set)" -v rss="$(rss)" \
		-v peak="$(cat "$mem/memory.max_usage_in_bytes")" \
		'BEGIN {w = t1 - t0; printf "| %s | %.1f s | %.0fm | %.0f MiB | %.0f MiB | %.0f MiB |\n", l, w, c / 1e6 / w, rss / 1048576, ws / 1048576, peak / 1048576}'
}

# EXECS process starts in all, from one loop per CPU.
execs() {
	local pids=() n
	n=$(nproc)
	for _ in $(seq "$n"); do
		(for _ in $(seq $((EXECS / n))); do /bin/true; done) &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
}
# One loop per CPU opening (and closing) files for OPENS seconds.
opens() {
	local end=$(($(date +%s) + OPENS)) pids=() n
	n=$(nproc)
	for _ in $(seq "$n"); do
		(while [ "$(date +%s)" -lt "$end" ]; do for f in /etc/passwd /etc/group /etc/hostname /etc/os-release; do : <"$f"; done; done) &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
}

echo "bench-pod: $(nproc) CPUs, $(uname -r), image $IMAGE:latest $(podman image inspect -f '{{.Size}}' "$IMAGE:latest") bytes, capabilities $caps"
echo
echo "| phase | wall | CPU | RSS | working set | cgroup peak |"
echo "| --- | --- | --- | --- | --- | --- |"
measure "idle ${IDLE}s" sleep "$IDLE"
measure "$EXECS process starts, $(nproc) loops" execs
measure "file opens, $(nproc) loops" opens
measure "idle again 10s" sleep 10
echo
podman logs "$name" 2>&1 | grep -ci 'drop' | awk '{print "log lines mentioning drops: " $1}'
