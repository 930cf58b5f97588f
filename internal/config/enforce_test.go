package config

import (
	"strings"
	"testing"
)

func TestEnforceSettingsRefusedWithTheKeyAndWhatIsAllowed(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	cases := []struct {
		name      string
		overrides []string
		want      string // "" loads
	}{
		{"defaults", nil, ""},
		{"enabled in enforce mode", []string{"truesight.enforce.enabled=true", "truesight.enforce.mode=enforce"}, ""},
		{"unknown mode", []string{"truesight.enforce.mode=block"},
			`truesight.enforce.mode: "block" is not a mode: want detect (alert only) or enforce (deny writes)`},
		{"relative path", []string{"truesight.enforce.protected_paths[0]=etc/ld.so.preload"},
			`truesight.enforce.protected_paths[0]: "etc/ld.so.preload" is not an absolute path`},
		{"unclean path", []string{"truesight.enforce.protected_paths[0]=/etc/../ld.so.conf"},
			`truesight.enforce.protected_paths[0]: "/etc/../ld.so.conf" is not a clean path`},
		{"whole filesystem", []string{"truesight.enforce.protected_paths[0]=/**"},
			`truesight.enforce.protected_paths[0]: "/**" would protect a whole filesystem`},
		{"inner double star", []string{"truesight.enforce.protected_paths[0]=/etc/**/x"},
			`truesight.enforce.protected_paths[0]: "/etc/**/x": ** is allowed only as the last segment`},
		{"bad pattern", []string{"truesight.enforce.protected_paths[0]=/etc/[x"},
			`truesight.enforce.protected_paths[0]: "/etc/[x" is not a pattern`},
		{"no paths", []string{"truesight.enforce.enabled=true", "truesight.enforce.protected_paths=[]"},
			"truesight.enforce.protected_paths: is empty"},
		{"nowhere", []string{"truesight.enforce.enabled=true", "truesight.enforce.containers=false"},
			"truesight.enforce.enabled: protects nothing"},
		{"writer by name", []string{"truesight.enforce.allowed_writers=[{path: dpkg, sha256: " + sha + "}]"},
			`truesight.enforce.allowed_writers[0].path: "dpkg" is not a clean absolute path`},
		{"writer without hash", []string{"truesight.enforce.allowed_writers=[{path: /usr/bin/dpkg}]"},
			`truesight.enforce.allowed_writers[0].sha256: "" is not a sha256`},
		{"writer by path and hash", []string{"truesight.enforce.allowed_writers=[{path: /usr/bin/dpkg, sha256: " + sha + "}]"}, ""},
		{"empty selector", []string{"truesight.enforce.selectors=[{}]"},
			"truesight.enforce.selectors[0]: selects nothing"},
		{"selector pattern", []string{"truesight.enforce.selectors=[{image: 'nginx:[1'}]"},
			`truesight.enforce.selectors[0].image: "nginx:[1" is not a pattern`},
		{"selector by label", []string{"truesight.enforce.selectors=[{namespace: prod, labels: {app: web-*}}]"}, ""},
		{"no deadline", []string{"truesight.enforce.answer_deadline=0s"},
			"truesight.enforce.answer_deadline: must be from 1ms to 10s"},
		{"unknown answer", []string{"truesight.enforce.on_error=maybe"},
			`truesight.enforce.on_error: "maybe" is not an answer: want allow or deny`},
		{"relative state file", []string{"truesight.enforce.state_file=enforce.state"},
			`truesight.enforce.state_file: "enforce.state" is not an absolute path`},
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
