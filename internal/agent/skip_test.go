package agent

import (
	"testing"

	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/ruleset"
)

// truesight's own rules judge only opens for writing: the read-only file
// filter is on with them. Upstream's stable rules read files opened
// read-only (sensitive files read by untrusted programs), and a rule of
// our own on a read-only open or on read turns it off.
func TestReadOnlyFilterFollowsTheRules(t *testing.T) {
	load := func(srcs ...rules.Source) *engine.Engine {
		t.Helper()
		eng, _, diags := engine.Load(srcs, engine.Options{})
		if eng == nil || diags.HasErrors() {
			t.Fatalf("load: %v", diags)
		}
		return eng
	}
	defaults := rules.Source{Name: ruleset.DefaultName, Data: ruleset.Default}
	if !readOnlyFilesUnused(load(defaults)) {
		t.Error("the filter is off with truesight's default rules")
	}
	if readOnlyFilesUnused(load(defaults, stableRulesSource(t))) {
		t.Error("the filter is on with upstream's stable rules, which read files opened read-only")
	}
	for name, rule := range map[string]string{
		"a read-only open": `
- rule: shadow read
  desc: d
  condition: evt.type = openat and fd.name = /etc/shadow
  output: o
  priority: WARNING
`,
		"read": `
- rule: reads
  desc: d
  condition: evt.type = read and fd.name = /etc/shadow
  output: o
  priority: WARNING
`,
	} {
		if readOnlyFilesUnused(load(defaults, rules.Source{Name: "extra.yaml", Data: []byte(rule)})) {
			t.Errorf("the filter is on with a rule on %s", name)
		}
	}
}
