package config

import (
	"net"
	"strings"
)

// Console is truesight.console: the local web console that `truesight
// run` serves under /ui on the agent's web server.
type Console struct {
	// Enabled serves the console; it needs webserver.enabled.
	Enabled bool `yaml:"enabled"`
	// Token is what a browser or script must present (Authorization:
	// Bearer, or once for a session cookie). Empty: the environment
	// variable TRUESIGHT_CONSOLE_TOKEN, else one generated at start and
	// logged once as a link.
	Token string `yaml:"token"`
	// AlertRing is how many recent alerts the console keeps in memory.
	AlertRing int `yaml:"alert_ring"`
	// ClientQueue is how many alerts may wait for one live (SSE) client;
	// a client that falls further behind loses alerts, counted.
	ClientQueue int `yaml:"client_queue"`
	// Findings is how many findings the console keeps (the oldest go first).
	Findings int `yaml:"findings"`
	// AllowRemote serves the console on a web server that listens beyond
	// loopback; it needs TLS (webserver.ssl_enabled).
	AllowRemote bool `yaml:"allow_remote"`
}

// ConsoleTokenEnv is the environment variable a console token may come
// from when truesight.console.token is empty.
const ConsoleTokenEnv = "TRUESIGHT_CONSOLE_TOKEN"

// ConsoleMinToken is the shortest token the console accepts.
const ConsoleMinToken = 16

// Loopback reports whether the web server's listen address is a loopback
// address (127.0.0.0/8, ::1 or localhost), reachable from this machine only.
func (w Webserver) Loopback() bool {
	h := strings.Trim(w.ListenAddress, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// validateConsole checks truesight.console and how it fits the web server.
func validateConsole(c *Config, bad func(key, format string, args ...any)) {
	k := c.Truesight.Console
	if k.AlertRing < 1 || k.AlertRing > 1_000_000 {
		bad("truesight.console.alert_ring", "must be from 1 to 1000000 alerts, got %d", k.AlertRing)
	}
	if k.ClientQueue < 1 || k.ClientQueue > 100_000 {
		bad("truesight.console.client_queue", "must be from 1 to 100000 alerts, got %d", k.ClientQueue)
	}
	if k.Findings < 1 || k.Findings > 1_000_000 {
		bad("truesight.console.findings", "must be from 1 to 1000000 findings, got %d", k.Findings)
	}
	if k.Token != "" && len(k.Token) < ConsoleMinToken {
		bad("truesight.console.token", "must be at least %d characters (or empty: one is generated at start), got %d", ConsoleMinToken, len(k.Token))
	}
	if !k.Enabled {
		return
	}
	w := c.Webserver
	switch {
	case !w.Enabled:
		bad("truesight.console.enabled", "the console is served by the web server: set webserver.enabled: true")
	case !w.Loopback() && !k.AllowRemote:
		bad("truesight.console.enabled", "webserver.listen_address %q is reachable from other machines; serve the console on loopback (127.0.0.1) or set truesight.console.allow_remote: true with webserver.ssl_enabled: true", w.ListenAddress)
	case !w.Loopback() && !w.SSLEnabled:
		bad("truesight.console.allow_remote", "a console reachable from other machines needs TLS: set webserver.ssl_enabled: true (the token would travel in clear)")
	}
}
