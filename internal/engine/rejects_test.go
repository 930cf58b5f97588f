package engine

import (
	"testing"

	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/rules"
)

// Rejects finds a field's comparison wherever a rule's condition makes it
// necessary for a type: at the top, in a macro, under "and" and under
// every branch of "or"; and says no when one rule of the type could match
// without it.
func TestRejectsFindsNecessaryComparisons(t *testing.T) {
	load := func(src string) *Engine {
		t.Helper()
		eng, _, diags := Load([]rules.Source{{Name: "rejects.yaml", Data: []byte(src)}}, Options{Matching: MatchAll})
		if eng == nil || diags.HasErrors() {
			t.Fatalf("load: %v", diags)
		}
		return eng
	}
	const header = `
- macro: open_write
  condition: (evt.type in (open, openat, openat2) and evt.is_open_write = true and fd.typechar = 'f')
- rule: write below etc
  desc: d
  condition: open_write and fd.name startswith /etc/
  output: o
  priority: WARNING
- rule: either branch
  desc: d
  condition: evt.type = openat and ((evt.is_open_write = true and fd.name = /x) or (fd.name = /y and evt.is_open_write = true))
  output: o
  priority: WARNING
- rule: shell
  desc: d
  condition: evt.type = execve and proc.name = sh
  output: o
  priority: WARNING
`
	falseValue := fields.Value{N: 0}
	trueValue := fields.Value{N: 1}
	eng := load(header)
	tests := []struct {
		typ  string
		v    fields.Value
		want bool
	}{
		{"openat", falseValue, true},
		{"open", falseValue, true},
		{"openat", trueValue, false},
		{"execve", falseValue, false}, // the shell rule does not read it
		{"close", falseValue, true},   // no rule of the type
	}
	for _, tc := range tests {
		if got := eng.Rejects(event.SourceSyscall, event.MustType(tc.typ), "evt.is_open_write", tc.v); got != tc.want {
			t.Errorf("Rejects(%s, is_open_write=%d) = %v, want %v", tc.typ, tc.v.N, got, tc.want)
		}
	}
	for name, extra := range map[string]string{
		"a read rule": `
- rule: read shadow
  desc: d
  condition: evt.type = openat and fd.name = /etc/shadow
  output: o
  priority: WARNING
`,
		"one branch without it": `
- rule: one branch
  desc: d
  condition: evt.type = openat and (evt.is_open_write = true or fd.name = /etc/shadow)
  output: o
  priority: WARNING
`,
		"a negation": `
- rule: negated
  desc: d
  condition: evt.type = openat and not evt.is_open_write = false
  output: o
  priority: WARNING
`,
		"every type": `
- rule: any
  desc: d
  condition: proc.name = nc
  output: o
  priority: WARNING
`,
	} {
		if eng := load(header + extra); eng.Rejects(event.SourceSyscall, event.MustType("openat"), "evt.is_open_write", falseValue) {
			t.Errorf("with %s: Rejects says no rule can match a read-only openat", name)
		}
	}
}
