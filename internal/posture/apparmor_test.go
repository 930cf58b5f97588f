package posture

import (
	"slices"
	"strings"
	"testing"
)

func TestProfilesDenyingEtcWrites(t *testing.T) {
	ps, err := LoadProfiles("testdata/apparmor")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		miss []string // what the profile fails to deny writing
		line int
	}{
		{"deny-etc-writes", nil, 3},
		{"preload-only", []string{"/etc/**"}, 1},
		{"allow-all", []string{"/etc/ld.so.preload", "/etc/**"}, 1},
		{"one-level", []string{"/etc/**"}, 2},
		{"alternatives", []string{"/etc/**"}, 8},
		{"hat-only", []string{"/etc/ld.so.preload", "/etc/**"}, 13},
		{"read-only-deny", []string{"/etc/ld.so.preload", "/etc/**"}, 21},
		{"/usr/bin/quoted app", nil, 27},
	}
	var names []string
	for n := range ps {
		names = append(names, n)
	}
	slices.Sort(names)
	// The single-profile files are also found by their file's name.
	if want := []string{"/usr/bin/quoted app", "allow-all", "alternatives", "deny-etc-writes", "hat-only", "one-level", "preload-only", "read-only-deny"}; !slices.Equal(names, want) {
		t.Errorf("profiles %q, want %q", names, want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ps[tt.name]
			if p == nil {
				t.Fatalf("profile %q not loaded", tt.name)
			}
			if got := p.Missing(); !slices.Equal(got, tt.miss) {
				t.Errorf("missing %q, want %q", got, tt.miss)
			}
			if p.Line != tt.line {
				t.Errorf("line %d, want %d", p.Line, tt.line)
			}
		})
	}
}

func TestDenyWriteRules(t *testing.T) {
	tests := []struct {
		rule, glob string
		ok         bool
	}{
		{"deny /etc/** w,", "/etc/**", true},
		{"deny /etc/** wl,", "/etc/**", true},
		{"audit deny owner /etc/ld.so.preload rwlk,", "/etc/ld.so.preload", true},
		{"deny file w /etc/**,", "/etc/**", true},
		{`deny "/etc/my dir/**" w,`, "/etc/my dir/**", true},
		{"deny /etc/** r,", "", false},
		{"deny /etc/** a,", "", false}, // append only: open(O_WRONLY|O_TRUNC) is not stopped
		{"/etc/** w,", "", false},
		{"deny network raw,", "", false},
		{"deny capability sys_admin,", "", false},
	}
	for _, tt := range tests {
		g, ok := denyWriteRule(tt.rule)
		if g != tt.glob || ok != tt.ok {
			t.Errorf("%q: %q %v, want %q %v", tt.rule, g, ok, tt.glob, tt.ok)
		}
	}
}

func TestGlobs(t *testing.T) {
	tests := []struct {
		glob, path string
		match      bool
	}{
		{"/etc/**", "/etc/ld.so.preload", true},
		{"/etc/**", "/etc/ssl/certs/x.pem", true},
		{"/etc/*", "/etc/ld.so.preload", true},
		{"/etc/*", "/etc/ssl/certs/x.pem", false},
		{"/etc/ld.so.?reload", "/etc/ld.so.preload", true},
		{"/etc/{passwd,ld.so.preload}", "/etc/ld.so.preload", true},
		{"/etc/{passwd,shadow}", "/etc/ld.so.preload", false},
		{"/etc/[lp]*", "/etc/ld.so.preload", true},
		{"/etc/[^l]*", "/etc/ld.so.preload", false},
		{"/et.", "/etc", false}, // a dot is a dot
	}
	for _, tt := range tests {
		re, err := globRegexp(tt.glob)
		if err != nil {
			t.Fatalf("%q: %v", tt.glob, err)
		}
		if re.MatchString(tt.path) != tt.match {
			t.Errorf("%q on %q: %v, want %v", tt.glob, tt.path, !tt.match, tt.match)
		}
	}
}

func TestBadProfilesSayWhere(t *testing.T) {
	tests := []struct{ text, err string }{
		{"profile a {\n  deny /etc/** w,\n}\n}\n", "f:4: unbalanced }"},
		{"profile a {\n  deny /etc/** w,\n", "f: a profile block is not closed"},
		{"profile a {\n  deny /etc/[abc w,\n}\n", "f:2: glob \"/etc/[abc\": [ without ]"},
		{"profile a {\n  deny /etc/{a,b w,\n}\n", "f:2: glob \"/etc/{a,b\": { without }"},
	}
	for _, tt := range tests {
		_, err := ParseProfiles("f", tt.text)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%q: error %v, want %q", tt.text, err, tt.err)
		}
	}
}
