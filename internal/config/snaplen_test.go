package config

import (
	"strings"
	"testing"
)

func TestSnaplen(t *testing.T) {
	for _, tc := range []struct {
		name     string
		override []string
		want     int
		err      string
	}{
		{name: "Falco's default", want: 80},
		{name: "set", override: []string{"truesight.snaplen=4096"}, want: 4096},
		{name: "off", override: []string{"truesight.snaplen=0"}, want: 0},
		{name: "above the sensor's bound", override: []string{"truesight.snaplen=4097"}, err: "truesight.snaplen: must be from 0 to 4096 bytes, got 4097"},
		{name: "negative", override: []string{"truesight.snaplen=-1"}, err: "truesight.snaplen: must be from 0 to 4096 bytes, got -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := Load("", tc.override)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Truesight.Snaplen != tc.want {
				t.Errorf("snaplen %d, want %d", cfg.Truesight.Snaplen, tc.want)
			}
		})
	}
}
