package config

import (
	"strings"
	"testing"
)

func TestConsoleSettingsRefusedWithTheKeyAndWhatIsAllowed(t *testing.T) {
	cases := []struct {
		name      string
		overrides []string
		want      string // "" loads
	}{
		{"defaults", nil, ""},
		{"enabled on loopback", []string{"truesight.console.enabled=true"}, ""},
		{"enabled on ::1", []string{"truesight.console.enabled=true", "webserver.listen_address=::1"}, ""},
		{"enabled on localhost", []string{"truesight.console.enabled=true", "webserver.listen_address=localhost"}, ""},
		{"enabled beyond loopback", []string{"truesight.console.enabled=true", "webserver.listen_address=0.0.0.0"},
			`truesight.console.enabled: webserver.listen_address "0.0.0.0" is reachable from other machines`},
		{"all addresses", []string{"truesight.console.enabled=true", "webserver.listen_address="},
			`truesight.console.enabled: webserver.listen_address "" is reachable from other machines`},
		{"remote without TLS", []string{"truesight.console.enabled=true", "webserver.listen_address=0.0.0.0", "truesight.console.allow_remote=true"},
			"truesight.console.allow_remote: a console reachable from other machines needs TLS"},
		{"remote with TLS", []string{"truesight.console.enabled=true", "webserver.listen_address=0.0.0.0", "truesight.console.allow_remote=true", "webserver.ssl_enabled=true"}, ""},
		{"no web server", []string{"truesight.console.enabled=true", "webserver.enabled=false"},
			"truesight.console.enabled: the console is served by the web server: set webserver.enabled: true"},
		{"short token", []string{"truesight.console.token=abc"},
			"truesight.console.token: must be at least 16 characters (or empty: one is generated at start), got 3"},
		{"empty ring", []string{"truesight.console.alert_ring=0"}, "truesight.console.alert_ring: must be from 1 to 1000000 alerts, got 0"},
		{"client queue too long", []string{"truesight.console.client_queue=100001"}, "truesight.console.client_queue: must be from 1 to 100000 alerts, got 100001"},
		{"no findings", []string{"truesight.console.findings=-1"}, "truesight.console.findings: must be from 1 to 1000000 findings, got -1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Load("", c.overrides)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}
