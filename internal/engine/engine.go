package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/truesightsec/truesight/internal/condition"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
)

// Matching says how many rules may alert for one event.
type Matching uint8

const (
	// MatchFirst alerts only the first matching rule in file order (Falco's
	// default, rule_matching: first).
	MatchFirst Matching = iota
	// MatchAll alerts every matching rule (rule_matching: all).
	MatchAll
)

// ParseMatching reads Falco's rule_matching setting.
func ParseMatching(s string) (Matching, error) {
	switch strings.ToLower(s) {
	case "", "first":
		return MatchFirst, nil
	case "all":
		return MatchAll, nil
	}
	return 0, fmt.Errorf("rule_matching must be first or all, not %q", s)
}

// Options tune an engine.
type Options struct {
	Matching Matching
	// MinPriority drops rules less severe than this at load, as Falco's
	// priority setting does. The zero value keeps everything (Debug).
	MinPriority rules.Priority
	// HasMinPriority must be set for MinPriority to apply.
	HasMinPriority bool
	// Append adds text and fields to the output of matching rules
	// (Falco's append_output), in order.
	Append []AppendOutput
}

// AppendOutput is one append_output entry: rules of Source (if set) whose
// name is Rule (if set) and that carry every tag in Tags get Extra appended
// to their output text and Fields added to their JSON output_fields.
type AppendOutput struct {
	Source string
	Rule   string
	Tags   []string
	Extra  string
	Fields []output.ExtraField
}

func (a *AppendOutput) matches(name, source string, tags []string) bool {
	if a.Source != "" && a.Source != source {
		return false
	}
	if a.Rule != "" && a.Rule != name {
		return false
	}
	for _, want := range a.Tags {
		if !slices.Contains(tags, want) {
			return false
		}
	}
	return true
}

// Rule is a compiled, enabled rule.
type Rule struct {
	Name     string
	Desc     string
	Priority rules.Priority
	Source   event.Source
	Tags     []string
	Output   *output.Format
	// Types are the event types the rule can match; AllTypes is set when its
	// condition does not constrain evt.type.
	Types    []event.Type
	AllTypes bool
	// Condition is the compiled condition text, as Falco prints it.
	Condition string

	pred  Predicate
	conj  []conjunct
	order int
}

// conjunct is one operand of a rule condition's top-level "and", keyed by
// its canonical text so that rules sharing it (Falco's rules mostly start
// with the same macro: open_write, spawned_process) evaluate it once per
// event.
type conjunct struct {
	key  string
	pred Predicate
}

// Eval reports whether the rule's condition holds for the event.
func (r *Rule) Eval(c *fields.Ctx) bool { return r.pred.Eval(c) }

// NewRule compiles one rule. The condition must have its macros resolved;
// types are the event type names the loader found it can match (nil with
// all set for a rule that matches every type).
func NewRule(name string, cond condition.Expr, outputFormat string, types []string, all bool) (*Rule, error) {
	parts := []condition.Expr{cond}
	if and, ok := cond.(*condition.And); ok {
		parts = and.Children
	}
	var conj []conjunct
	preds := make(andNode, 0, len(parts))
	for _, part := range parts {
		p, err := Compile(part)
		if err != nil {
			return nil, err
		}
		conj = append(conj, conjunct{key: part.String(), pred: p})
		preds = append(preds, p)
	}
	var pred Predicate = preds
	if len(preds) == 1 {
		pred = preds[0]
	}
	f, err := output.Compile(outputFormat)
	if err != nil {
		return nil, err
	}
	r := &Rule{Name: name, Output: f, Condition: cond.String(), pred: pred, conj: conj, AllTypes: all}
	if !all {
		for _, n := range types {
			if t, ok := event.TypeByName(n); ok {
				r.Types = append(r.Types, t)
			}
		}
		slices.Sort(r.Types)
	}
	return r, nil
}

// sources is the number of event sources the engine indexes.
const sources = 2

// Engine runs events through an indexed set of compiled rules. It is
// immutable once built: hot reload builds a new Engine and swaps it.
type Engine struct {
	opts  Options
	rules []*Rule
	// plans[src][t] are the rules of source src that can match events of
	// type t, in file order, as steps, with the conjuncts several of them
	// share given a memo slot.
	plans [sources][][]plan
}

// maxShared bounds the conjuncts per event type whose result is
// remembered during one event; any beyond are evaluated per rule.
const maxShared = 64

// plan is a rule's condition as the steps Match evaluates in order.
type plan struct {
	rule  *Rule
	steps []step
}

// step is one conjunct; slot is its memo index, or -1 when no other rule
// of the event type has it.
type step struct {
	pred Predicate
	slot int
}

// New indexes compiled rules (in file order) by source and event type.
func New(rs []*Rule, opts Options) *Engine {
	e := &Engine{opts: opts}
	var byType [sources][][]*Rule
	for s := range byType {
		byType[s] = make([][]*Rule, event.NumTypes)
		e.plans[s] = make([][]plan, event.NumTypes)
	}
	for i, r := range rs {
		if opts.HasMinPriority && r.Priority > opts.MinPriority {
			continue
		}
		r.order = i
		e.rules = append(e.rules, r)
		src := int(r.Source)
		if src >= sources {
			continue
		}
		if r.AllTypes {
			for t := 1; t < event.NumTypes; t++ {
				byType[src][t] = append(byType[src][t], r)
			}
			continue
		}
		for _, t := range r.Types {
			byType[src][t] = append(byType[src][t], r)
		}
	}
	for src := range byType {
		for t, rs := range byType[src] {
			e.plans[src][t] = plans(rs, event.Source(src), event.Type(t))
		}
	}
	return e
}

// plans turns the rules of one event type into evaluation plans, giving
// a memo slot to each conjunct that more than one of them has. Each
// conjunct is first specialised to the type (foldType): one decided true
// is left out, a rule with one decided false has no plan for the type.
func plans(rs []*Rule, src event.Source, t event.Type) []plan {
	if len(rs) == 0 {
		return nil
	}
	folded := make([][]conjunct, 0, len(rs))
	kept := make([]*Rule, 0, len(rs))
rules:
	for _, r := range rs {
		var cs []conjunct
		for _, c := range r.conj {
			p, known, v := foldType(c.pred, src, t)
			if known {
				if !v {
					continue rules
				}
				continue
			}
			cs = append(cs, conjunct{key: c.key, pred: p})
		}
		folded = append(folded, cs)
		kept = append(kept, r)
	}
	uses := map[string]int{}
	for _, cs := range folded {
		for _, c := range cs {
			uses[c.key]++
		}
	}
	slots := map[string]int{}
	out := make([]plan, len(kept))
	for i, r := range kept {
		out[i].rule = r
		for _, c := range folded[i] {
			slot := -1
			if uses[c.key] > 1 {
				s, ok := slots[c.key]
				if !ok && len(slots) < maxShared {
					s, ok = len(slots), true
					slots[c.key] = s
				}
				if ok {
					slot = s
				}
			}
			out[i].steps = append(out[i].steps, step{pred: c.pred, slot: slot})
		}
	}
	return out
}

// holds evaluates a plan's steps in order, as "and" does, taking the
// results of shared conjuncts from memo (0: not yet evaluated for this
// event, 1: false, 2: true) and recording those it evaluates.
func (p *plan) holds(c *fields.Ctx, memo *[maxShared]uint8) bool {
	for i := range p.steps {
		s := &p.steps[i]
		if s.slot < 0 {
			if !s.pred.Eval(c) {
				return false
			}
			continue
		}
		m := memo[s.slot]
		if m == 0 {
			m = 1
			if s.pred.Eval(c) {
				m = 2
			}
			memo[s.slot] = m
		}
		if m == 1 {
			return false
		}
	}
	return true
}

// Rules returns the engine's rules in file order.
func (e *Engine) Rules() []*Rule { return e.rules }

// Types returns the event types of a source that at least one rule is
// evaluated on.
func (e *Engine) Types(src event.Source) []event.Type {
	var out []event.Type
	for t, ps := range e.plans[src] {
		if len(ps) > 0 {
			out = append(out, event.Type(t))
		}
	}
	return out
}

// CaptureTypes returns the event types of a source a sensor must capture
// for the rules: Types, less the generic syscalls (clock_gettime, futex,
// ...) that only rules matching every type would see. As Falco, truesight
// captures those high-volume syscalls only for a rule that names them.
func (e *Engine) CaptureTypes(src event.Source) []event.Type {
	var out []event.Type
	for _, t := range e.Types(src) {
		if !t.Generic() || slices.ContainsFunc(e.plans[src][t], func(p plan) bool { return !p.rule.AllTypes }) {
			out = append(out, t)
		}
	}
	return out
}

// Match runs the event in c through the rules of its type and calls fn for
// each rule that matches: only the first one with MatchFirst. It returns
// the number of matches. Match does not allocate.
func (e *Engine) Match(c *fields.Ctx, fn func(r *Rule)) int {
	src := int(c.Evt.Source)
	if src >= sources || int(c.Evt.Type) >= len(e.plans[src]) {
		return 0
	}
	n := 0
	var memo [maxShared]uint8
	ps := e.plans[src][c.Evt.Type]
	for i := range ps {
		if ps[i].holds(c, &memo) {
			n++
			fn(ps[i].rule)
			if e.opts.Matching == MatchFirst {
				return n
			}
		}
	}
	return n
}

// Alert builds the alert a matched rule raises for the event in c.
func (r *Rule) Alert(c *fields.Ctx) *output.Alert {
	return &output.Alert{
		Time:     c.Evt.Time,
		Rule:     r.Name,
		Priority: r.Priority.String(),
		Source:   r.Source.String(),
		Tags:     r.Tags,
		Hostname: c.Hostname,
		Message:  r.Output.String(c),
		Fields:   r.Output.Values(c),
	}
}
