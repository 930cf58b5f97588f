#!/usr/bin/env bash
# Installs what building and testing truesight needs on a fresh Debian 12
# machine of the project's kind (run as root). Safe to run again: it skips
# what is already there.
set -euo pipefail

GOLANGCI_VERSION="${GOLANGCI_VERSION:-v2.15.0}"
GOBIN="$(go env GOPATH)/bin"

# Debian packages the tests use: real containers (podman, runc, a static
# busybox for the test image), gcc (with 32-bit support, for the int 0x80
# test) for the C helpers the tests compile, python3 for syscalls no shell
# tool makes,
# sysdig to cross-check capture files, util-linux for unshare, procps for
# a dynamically linked ps in the scanner tests, containerd for the runtime
# client tests.
apt_pkgs=(git ca-certificates gcc gcc-multilib libc6-dev python3 podman runc catatonit busybox-static util-linux procps containerd sysdig)
# chromium: the console's browser tests (headless, driven with chromedp).
apt_pkgs+=(chromium)
# unhide: the peer of `truesight scan` in scripts/bench-scan.sh and bench-compare.sh.
apt_pkgs+=(unhide)
missing=()
for p in "${apt_pkgs[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: need root to install: ${missing[*]}" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	apt-get update -qq
	# podman needs its recommended network and init helpers; sysdig's
	# recommended kernel module (dkms) is not wanted: it only reads files.
	others=()
	for p in "${missing[@]}"; do [ "$p" = sysdig ] || others+=("$p"); done
	if [ "${#others[@]}" -gt 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${others[@]}" >/dev/null
	fi
	if [[ " ${missing[*]} " == *" sysdig "* ]]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sysdig >/dev/null
	fi
fi

# podman on this VM kind needs the cgroupfs manager and runc (hybrid
# cgroups, no CAP_SYS_RESOURCE): see shared/docs/platform.md.
if [ "$(id -u)" -eq 0 ] && [ ! -f /etc/containers/containers.conf ]; then
	mkdir -p /etc/containers
	printf '[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n[containers]\ndefault_ulimits = ["nofile=1024:1024","nproc=4096:4096"]\n' \
		> /etc/containers/containers.conf
fi

# Go modules.
go mod download

# golangci-lint from the Go module proxy, pinned.
if ! "$GOBIN/golangci-lint" version 2>/dev/null | grep -q "${GOLANGCI_VERSION#v}"; then
	echo "deps: installing golangci-lint ${GOLANGCI_VERSION}"
	CGO_ENABLED=0 go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@${GOLANGCI_VERSION}"
fi

# Helm, for the chart's lint and rendering tests (deploy/helm), pinned.
HELM_VERSION="${HELM_VERSION:-v4.3.2}"
if ! go version -m "$GOBIN/helm" 2>/dev/null | grep -q "mod[[:space:]]*helm.sh/helm/v4[[:space:]]*${HELM_VERSION}"; then
	echo "deps: installing helm ${HELM_VERSION}"
	CGO_ENABLED=0 go install "helm.sh/helm/v4/cmd/helm@${HELM_VERSION}"
fi
