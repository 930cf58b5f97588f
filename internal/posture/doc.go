// Package posture checks the mitigations of the preload attack (the
// seed's scenario) on Kubernetes manifests and on the containers that
// really run: read-only root filesystem, non-root user, no privilege
// escalation, dropped capabilities, no shared process namespace with a
// container that can write its /etc, an AppArmor profile that denies
// writes under /etc, minimal images without a loader or shell.
//
// Manifests are decoded with the Kubernetes API types (k8s.io/api) from
// the yaml.v3 node tree of each document, so every finding carries the
// file and line of the field it is about (or of the nearest field that
// exists, for a field that is missing). Running containers are judged from
// what the kernel shows in /proc, not from what their runtime declares.
//
// Every check has a stable ID (TSP001...), a severity, a one-line reason
// and a remediation snippet; Checks lists them. Findings print as a
// readable report, JSON or SARIF 2.1.0, and turn into events of source
// truesight (Finding.Event) for the agent's rules.
package posture
