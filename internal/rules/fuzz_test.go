package rules

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/truesightsec/truesight/internal/condition"
	"github.com/truesightsec/truesight/internal/testenv"
)

// FuzzLoad checks that Load never panics or hangs, that its result agrees
// with its diagnostics, and that every position it reports lies in the file.
func FuzzLoad(f *testing.F) {
	dir := testenv.ConformanceDir(f)
	if data, err := os.ReadFile(filepath.Join(dir, "falco", "rule-loader-vectors.json")); err == nil {
		var vs []loaderVector
		if json.Unmarshal(data, &vs) == nil {
			for _, v := range vs {
				f.Add([]byte(v.RulesYAML))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		known := func(name string) bool {
			return strings.HasPrefix(name, "proc.") || strings.HasPrefix(name, "evt.") || strings.HasPrefix(name, "fd.")
		}
		validate := func(r *Rule) error {
			if strings.Contains(r.Name, "bad") {
				return &CompileError{Pos: r.Condition.Position(), Unknown: strings.Contains(r.Name, "unknown"), Msg: "rejected"}
			}
			return nil
		}
		opts := Options{KnownField: known, Validate: validate, MaxConditionBytes: 64 << 10, MaxConditionNodes: 1 << 14}
		rs, diags := Load([]Source{{Name: "a.yaml", Data: data}, {Name: "b.yaml", Data: data}}, opts)
		if (rs == nil) != diags.HasErrors() {
			t.Fatalf("ruleset nil = %v but HasErrors = %v", rs == nil, diags.HasErrors())
		}
		// An upper bound on the number of lines, whatever the encoding.
		text := utf8Text(data)
		lines := 1
		for _, sep := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
			lines += bytes.Count(text, []byte(sep))
		}
		for _, d := range diags {
			if d.File != "a.yaml" && d.File != "b.yaml" {
				t.Fatalf("diagnostic in unknown file: %s", d)
			}
			if d.Line < 0 || d.Line > lines || d.Column < 0 {
				t.Fatalf("diagnostic outside the file (%d lines): %s", lines, d)
			}
			_ = d.String()
		}
		if rs == nil {
			return
		}
		for _, r := range rs.Rules {
			if r.ConditionText != r.Condition.String() {
				t.Fatalf("rule %q: ConditionText %q != %q", r.Name, r.ConditionText, r.Condition.String())
			}
			if _, err := condition.Parse(r.ConditionText); err != nil {
				t.Fatalf("rule %q: compiled condition %q does not parse: %v", r.Name, r.ConditionText, err)
			}
			p := rs.Position(r.Condition.Position())
			if p.Line < 0 || p.Line > lines {
				t.Fatalf("rule %q: condition position %+v outside the file", r.Name, p)
			}
		}
	})
}
