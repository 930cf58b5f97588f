package engine

import (
	"slices"
	"testing"

	"github.com/truesightsec/truesight/internal/condition"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/rules"
)

// Rules sharing leading conjuncts: the shared ones are evaluated once per
// event, and the result must not leak into the next event.
func TestSharedConjunctsAreEvaluatedPerEvent(t *testing.T) {
	src := `
- macro: etc_open
  condition: evt.type = openat and fd.name startswith /etc/
- rule: by sh
  desc: d
  condition: etc_open and proc.name = sh
  output: o
  priority: WARNING
- rule: by bash
  desc: d
  condition: etc_open and proc.name = bash
  output: o
  priority: WARNING
- rule: outside etc
  desc: d
  condition: evt.type = openat and not fd.name startswith /etc/
  output: o
  priority: WARNING
- rule: preload
  desc: d
  condition: etc_open and fd.name endswith preload and proc.name = sh
  output: o
  priority: WARNING
`
	eng, _, diags := Load([]rules.Source{{Name: "shared.yaml", Data: []byte(src)}}, Options{Matching: MatchAll})
	if eng == nil || diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	match := func(name string) []string {
		c := testCtx()
		c.Evt.FD.Name = name
		var got []string
		eng.Match(c, func(r *Rule) { got = append(got, r.Name) })
		return got
	}
	for range 2 {
		if got, want := match("/etc/ld.so.preload"), []string{"by sh", "preload"}; !slices.Equal(got, want) {
			t.Errorf("/etc/ld.so.preload: matched %q, want %q", got, want)
		}
		if got, want := match("/tmp/x"), []string{"outside etc"}; !slices.Equal(got, want) {
			t.Errorf("/tmp/x: matched %q, want %q", got, want)
		}
	}
	first, _, _ := Load([]rules.Source{{Name: "shared.yaml", Data: []byte(src)}}, Options{Matching: MatchFirst})
	var got []string
	first.Match(testCtx(), func(r *Rule) { got = append(got, r.Name) })
	if !slices.Equal(got, []string{"by sh"}) {
		t.Errorf("rule_matching first: matched %q", got)
	}
}

// evt.buffer compares the raw bytes of a data buffer, unprintable ones
// included, while its text shows them as dots.
func TestBufferComparesRawBytes(t *testing.T) {
	c := testCtx()
	c.Evt.Type = event.MustType("write")
	c.Evt.AddParam("data", "..GET /", 7)
	c.Evt.Params[c.Evt.NParams-1].Raw = "\x00\x01GET /"
	for cond, want := range map[string]bool{
		"evt.buffer bcontains 0001474554": true,
		"evt.buffer bcontains 2e2e":       false, // the dots are only the text
		"evt.buffer contains GET":         true,
		"evt.buffer bstartswith 00":       true,
	} {
		expr, err := condition.Parse(cond)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Compile(expr)
		if err != nil {
			t.Fatalf("%s: %v", cond, err)
		}
		if got := p.Eval(c); got != want {
			t.Errorf("%s = %v, want %v", cond, got, want)
		}
	}
}
