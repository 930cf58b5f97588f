#!/usr/bin/env bash
# Installs what building and testing truesight needs on a fresh Debian 12
# machine of the project's kind. Safe to run again: it skips what is there.
set -euo pipefail

GOLANGCI_VERSION="${GOLANGCI_VERSION:-v2.15.0}"
GOBIN="$(go env GOPATH)/bin"

need_apt=()
for pkg in "$@"; do need_apt+=("$pkg"); done
if ! command -v golangci-lint >/dev/null 2>&1 && [ ! -x "$GOBIN/golangci-lint" ]; then :; fi

# Debian packages the tests use.
apt_pkgs=(git ca-certificates)
missing=()
for p in "${apt_pkgs[@]}" "${need_apt[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: need root to install: ${missing[*]}" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Go modules.
go mod download

# golangci-lint from the Go module proxy, pinned.
if ! "$GOBIN/golangci-lint" version 2>/dev/null | grep -q "${GOLANGCI_VERSION#v}"; then
	echo "deps: installing golangci-lint ${GOLANGCI_VERSION}"
	CGO_ENABLED=0 go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@${GOLANGCI_VERSION}"
fi
