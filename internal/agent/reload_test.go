package agent

import (
	"errors"
	"strings"
	"testing"

	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/rules"
)

func loadText(text string) func() (*engine.Engine, error) {
	return func() (*engine.Engine, error) {
		eng, _, diags := engine.Load([]rules.Source{{Name: "r.yaml", Data: []byte(text)}}, engine.Options{})
		if diags.HasErrors() {
			return nil, errors.New(diags.Errors().String())
		}
		return eng, nil
	}
}

func TestReloadSwapsRulesAndKeepsThemWhenTheNewFileIsBroken(t *testing.T) {
	l := &Loop{}
	good := "- rule: A\n  desc: a\n  condition: evt.type=open\n  output: a\n  priority: INFO\n"
	if err := l.Reload(loadText(good)); err != nil {
		t.Fatal(err)
	}
	first := l.Engine.Load()
	if got := first.Rules()[0].Name; got != "A" {
		t.Fatalf("rule %q", got)
	}
	broken := "- rule: B\n  desc: b\n  condition: evt.type=open and (\n  output: b\n  priority: INFO\n"
	err := l.Reload(loadText(broken))
	if err == nil || !strings.Contains(err.Error(), "r.yaml:3:") {
		t.Fatalf("broken reload: got %v, want an error at r.yaml:3", err)
	}
	if l.Engine.Load() != first {
		t.Fatal("a broken file replaced the running rules")
	}
	next := "- rule: C\n  desc: c\n  condition: evt.type=openat\n  output: c\n  priority: INFO\n"
	if err := l.Reload(loadText(next)); err != nil {
		t.Fatal(err)
	}
	if got := l.Engine.Load().Rules()[0].Name; got != "C" {
		t.Fatalf("after reload: rule %q, want C", got)
	}
}
