// Package web is truesight's operations endpoint: /healthz for liveness
// probes, /versions for falcoctl, and /metrics in Prometheus format, fed by
// a small Metrics struct the rest of the agent increments or exposes.
package web
