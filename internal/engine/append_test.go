package engine

import (
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
)

func TestAppendOutputAddsTextAndFieldsToMatchingRules(t *testing.T) {
	yml := `
- rule: Tagged
  desc: d
  condition: evt.type = openat
  output: file=%fd.name
  priority: WARNING
  tags: [filesystem, container]
- rule: Untagged
  desc: d
  condition: evt.type = openat
  output: also=%fd.name
  priority: NOTICE
`
	opts := Options{Matching: MatchAll, Append: []AppendOutput{
		{Source: "syscall", Tags: []string{"container"}, Extra: "cid=%container.id",
			Fields: []output.ExtraField{{Name: "proc.pname"}, {Name: "cluster", Value: "prod-eu"}}},
		{Rule: "Nope", Extra: "never"},
	}}
	eng, _, diags := Load([]rules.Source{{Name: "r.yaml", Data: []byte(yml)}}, opts)
	if diags.HasErrors() {
		t.Fatal(diags.Errors())
	}
	c := testCtx()
	var got []*output.Alert
	eng.Match(c, func(r *Rule) { got = append(got, r.Alert(c)) })
	if len(got) != 2 {
		t.Fatalf("got %d alerts", len(got))
	}
	utc := output.TextOptions{Location: time.UTC}
	if s := got[0].Text(utc); s != "22:13:20.123456789: Warning file=/etc/ld.so.preload cid=3f2a9c1d5e7b" {
		t.Errorf("tagged: %q", s)
	}
	if got[0].Fields["proc.pname"] != "bash" || got[0].Fields["cluster"] != "prod-eu" || got[0].Fields["container.id"] != "3f2a9c1d5e7b" {
		t.Errorf("tagged fields: %v", got[0].Fields)
	}
	if s := got[1].Text(utc); s != "22:13:20.123456789: Notice also=/etc/ld.so.preload" {
		t.Errorf("untagged: %q", s)
	}
	if _, ok := got[1].Fields["cluster"]; ok {
		t.Errorf("untagged rule got extra fields: %v", got[1].Fields)
	}
}
