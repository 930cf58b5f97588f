// Package console is truesight's local web console: a read-only page and
// JSON endpoints under /ui on the agent's web server, showing live alerts
// (pushed over Server-Sent Events from a bounded ring), the containers and
// their findings, each container's process tree as the kernel sees it with
// the processes other views miss, and the agent's health. Access needs a
// token, sent as a bearer token or exchanged once for a session cookie.
// The console is an agent Part; it never blocks the alert pipeline: a slow
// browser loses alerts, counted.
package console
