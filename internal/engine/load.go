package engine

import (
	"errors"
	"fmt"

	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
)

// Load reads rules files in order, compiles every enabled rule and returns
// the engine with the loaded ruleset and every diagnostic. The engine is
// nil when any diagnostic is an error.
func Load(srcs []rules.Source, opts Options) (*Engine, *rules.Ruleset, rules.Diagnostics) {
	compiled := map[*rules.Rule]*Rule{}
	lopts := rules.Options{
		Sources:    []string{event.SourceSyscall.String(), event.SourceTruesight.String()},
		KnownField: fields.Known,
		KnownEventType: func(name string) bool {
			_, ok := event.TypeByName(name)
			return ok
		},
		Validate: func(r *rules.Rule) error {
			cr, err := NewRule(r.Name, r.Condition, r.Output, r.EventTypes, r.AllEventTypes)
			if err != nil {
				var ce *CompileError
				if errors.As(err, &ce) {
					return &rules.CompileError{Pos: ce.Pos, Unknown: ce.UnknownField, Msg: ce.Msg}
				}
				return &rules.CompileError{Pos: rules.NoPos, Msg: fmt.Sprintf("output: %v", err)}
			}
			compiled[r] = cr
			return nil
		},
	}
	rs, diags := rules.Load(srcs, lopts)
	if diags.HasErrors() || rs == nil {
		return nil, rs, diags
	}
	var list []*Rule
	for _, r := range rs.Rules {
		if !r.Enabled {
			continue
		}
		cr, ok := compiled[r]
		if !ok {
			// Skipped (skip-if-unknown-filter) or not validated.
			continue
		}
		src, ok := event.SourceByName(r.Source)
		if !ok {
			continue
		}
		cr.Desc = r.Desc
		cr.Priority = r.Priority
		cr.Source = src
		cr.Tags = r.Tags
		if err := appendOutputs(cr, r, opts.Append); err != nil {
			diags = append(diags, rules.Diagnostic{Severity: rules.Error, File: r.File, Line: r.Line, Column: r.Column,
				ItemKind: "rule", ItemName: r.Name, Message: "append_output: " + err.Error()})
			return nil, rs, diags
		}
		list = append(list, cr)
	}
	return New(list, opts), rs, diags
}

// appendOutputs applies the append_output entries that match a rule.
func appendOutputs(cr *Rule, r *rules.Rule, entries []AppendOutput) error {
	text := r.Output
	var extra []output.ExtraField
	changed := false
	for i := range entries {
		a := &entries[i]
		if !a.matches(r.Name, r.Source, r.Tags) {
			continue
		}
		if a.Extra != "" {
			text += " " + a.Extra
			changed = true
		}
		extra = append(extra, a.Fields...)
	}
	if changed {
		f, err := output.Compile(text)
		if err != nil {
			return err
		}
		cr.Output = f
	}
	if len(extra) > 0 {
		f, err := cr.Output.WithExtraFields(extra)
		if err != nil {
			return err
		}
		cr.Output = f
	}
	return nil
}
