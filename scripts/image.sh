#!/usr/bin/env bash
# Builds the agent image (deploy/image/Containerfile) with podman from a
# binary already built, pulling nothing: the build context is a temporary
# directory holding only the binary and the host's CA bundle.
#
#   scripts/image.sh [BIN] [IMAGE]    defaults: bin/truesight localhost/truesight
#
# Tags IMAGE:VERSION and IMAGE:latest. VERSION defaults to the version in
# internal/version; REVISION to the git commit.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${1:-bin/truesight}"
IMAGE="${2:-localhost/truesight}"
VERSION="${VERSION:-$(sed -n 's/^var Version = "\(.*\)"$/\1/p' internal/version/version.go)}"
REVISION="${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
CA="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"

[ -x "$BIN" ] || { echo "image: $BIN is not an executable: run make build first" >&2; exit 1; }
[ -f "$CA" ] || { echo "image: no CA bundle at $CA: apt-get install ca-certificates" >&2; exit 1; }
if file "$BIN" 2>/dev/null | grep -q 'dynamically linked'; then
	echo "image: $BIN is dynamically linked; the image has no loader: build with CGO_ENABLED=0" >&2
	exit 1
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
install -m 0755 "$BIN" "$ctx/truesight"
install -m 0644 "$CA" "$ctx/ca-certificates.crt"
podman build --pull=never -q -f deploy/image/Containerfile \
	--build-arg VERSION="$VERSION" --build-arg REVISION="$REVISION" \
	--build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	-t "$IMAGE:$VERSION" -t "$IMAGE:latest" "$ctx"
