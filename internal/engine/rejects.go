package engine

import (
	"slices"

	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
)

// Rejects reports whether no rule of source src can match an event of type
// t whose field has the value v, judged from the rules' conditions alone:
// each rule's plan for t has a step that v decides false, a comparison of
// that field (as written, transformers included) that v fails, found
// directly, under "and" (one such child suffices) or under "or" (every
// branch needs one). A rule that cannot match t at all rejects it. It
// answers false when unsure ("not", comparisons with other fields), so a
// caller may leave such events unrecorded only on true.
func (e *Engine) Rejects(src event.Source, t event.Type, field string, v fields.Value) bool {
	if int(src) >= sources || int(t) >= len(e.plans[src]) {
		return true
	}
	for _, p := range e.plans[src][t] {
		if !slices.ContainsFunc(p.steps, func(s step) bool { return rejects(s.pred, field, v) }) {
			return false
		}
	}
	return true
}

func rejects(p Predicate, field string, v fields.Value) bool {
	switch n := p.(type) {
	case *cmpNode:
		return n.multi == nil && n.left.name == field && !n.match(v)
	case andNode:
		return slices.ContainsFunc(n, func(c Predicate) bool { return rejects(c, field, v) })
	case orNode:
		return len(n) > 0 && !slices.ContainsFunc(n, func(c Predicate) bool { return !rejects(c, field, v) })
	}
	return false
}
