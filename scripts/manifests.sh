#!/usr/bin/env bash
# Renders the Helm chart into plain manifests under deploy/kubernetes, for
# clusters without Helm: one file per tier, release "truesight" in the
# namespace "truesight", default values otherwise. The deploytest tests
# fail when these files differ from what the chart renders.
#
#   scripts/manifests.sh
set -euo pipefail
cd "$(dirname "$0")/.."
HELM="$(command -v helm || echo "$(go env GOPATH)/bin/helm")"
mkdir -p deploy/kubernetes
for tier in detect enforce; do
	"$HELM" template truesight deploy/helm/truesight --namespace truesight --set tier="$tier" \
		> "deploy/kubernetes/truesight-$tier.yaml"
done
