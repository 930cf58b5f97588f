package engine

import (
	"slices"
	"testing"

	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/rules"
)

// Comparisons of evt.type are decided per indexed type, wherever they sit
// in the condition: under "or", under "not", inside macros.
func TestTypeComparisonsAreDecidedPerType(t *testing.T) {
	src := `
- macro: opened
  condition: (evt.type in (open, openat, openat2) and evt.is_open_write = true)
- rule: either
  desc: d
  condition: (evt.type = openat and fd.name = /etc/ld.so.preload) or (evt.type = execve and proc.name = sh)
  output: o
  priority: WARNING
- rule: not exec
  desc: d
  condition: evt.type in (openat, execve) and not evt.type = execve and proc.name = sh
  output: o
  priority: WARNING
- rule: macro
  desc: d
  condition: opened and fd.name startswith /etc/
  output: o
  priority: WARNING
- rule: type is
  desc: d
  condition: evt.type in (openat, execve) and evt.type.is[execve] = true
  output: o
  priority: WARNING
- rule: no type
  desc: d
  condition: proc.name = sh and (evt.type = execve or fd.name = /etc/ld.so.preload)
  output: o
  priority: WARNING
`
	eng, _, diags := Load([]rules.Source{{Name: "fold.yaml", Data: []byte(src)}}, Options{Matching: MatchAll})
	if eng == nil || diags.HasErrors() {
		t.Fatalf("load: %v", diags)
	}
	tests := []struct {
		typ, name string
		want      []string
	}{
		{"openat", "/etc/ld.so.preload", []string{"either", "not exec", "macro", "no type"}},
		{"openat", "/tmp/x", []string{"not exec"}},
		{"execve", "/etc/ld.so.preload", []string{"either", "type is", "no type"}},
		{"open", "/etc/passwd", []string{"macro"}},
		{"close", "/etc/ld.so.preload", []string{"no type"}},
	}
	for _, tc := range tests {
		c := testCtx()
		c.Evt.Type = event.MustType(tc.typ)
		c.Evt.FD.Name = tc.name
		var got []string
		eng.Match(c, func(r *Rule) { got = append(got, r.Name) })
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s of %s: matched %q, want %q", tc.typ, tc.name, got, tc.want)
		}
	}
}

// The specialised plans give exactly the rules whose whole condition
// holds, for upstream's stable rules and ours, on every event type of a
// varied stream.
func TestPlansAgreeWithWholeConditions(t *testing.T) {
	eng := stableAndDefaults(t, Options{Matching: MatchAll})
	stream := mixedStream()
	// Add the same events as every other type, and the alerting test
	// events, so that folded branches of every kind are exercised.
	var extra []fields.Ctx
	for i, typ := range []string{"open", "openat2", "execveat", "chmod", "unlinkat", "ptrace", "setuid", "bind", "accept", "sendto", "mkdirat", "renameat2", "symlinkat", "memfd_create", "bpf", "mount"} {
		c := stream[i*7%len(stream)]
		e := *c.Evt
		e.Type = event.MustType(typ)
		c.Evt = &e
		extra = append(extra, c)
	}
	for _, mk := range []func() *fields.Ctx{testCtx, netCtx} {
		extra = append(extra, *mk())
		c := mk()
		c.Evt.Type = event.MustType("execve")
		extra = append(extra, *c)
	}
	stream = append(stream, extra...)
	matched := 0
	for i := range stream {
		c := &stream[i]
		var got, want []string
		eng.Match(c, func(r *Rule) { got = append(got, r.Name) })
		for _, r := range eng.Rules() {
			if r.Source != c.Evt.Source || !r.AllTypes && !slices.Contains(r.Types, c.Evt.Type) {
				continue
			}
			if r.Eval(c) {
				want = append(want, r.Name)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("event %d (%s): plans matched %q, whole conditions %q", i, c.Evt.Type, got, want)
		}
		matched += len(got)
	}
	if matched == 0 {
		t.Error("no event matched any rule: the comparison proves nothing")
	}
}
