package engine

import (
	"strings"

	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
)

// foldType specialises a predicate to events of one source and type: the
// comparisons of evt.type (and evt.type.is[...]) are decided once, at
// build time, and the "and", "or" and "not" above them are simplified.
// Rules index events by type, so inside one type's plans such a comparison
// always gives the same answer; Falco's rules repeat their type lists in
// nested macros (open_write, spawned_process), which an event would
// otherwise evaluate again. known reports that p is constant, with value
// v; otherwise out is the simplified predicate.
func foldType(p Predicate, src event.Source, t event.Type) (out Predicate, known, v bool) {
	out, known, v, _ = fold(p, src, t)
	return out, known, v
}

// fold is foldType that also says whether anything changed, so that
// unchanged subtrees are shared rather than copied for every type.
func fold(p Predicate, src event.Source, t event.Type) (out Predicate, known, v, changed bool) {
	switch n := p.(type) {
	case andNode:
		var keep andNode
		for _, ch := range n {
			f, k, val, c := fold(ch, src, t)
			changed = changed || c
			if k {
				if !val {
					return nil, true, false, true
				}
				continue
			}
			keep = append(keep, f)
		}
		if !changed {
			return p, false, false, false
		}
		switch len(keep) {
		case 0:
			return nil, true, true, true
		case 1:
			return keep[0], false, false, true
		}
		return keep, false, false, true
	case orNode:
		var keep orNode
		for _, ch := range n {
			f, k, val, c := fold(ch, src, t)
			changed = changed || c
			if k {
				if val {
					return nil, true, true, true
				}
				continue
			}
			keep = append(keep, f)
		}
		if !changed {
			return p, false, false, false
		}
		switch len(keep) {
		case 0:
			return nil, true, false, true
		case 1:
			return keep[0], false, false, true
		}
		return keep, false, false, true
	case notNode:
		f, k, val, c := fold(n.p, src, t)
		if k {
			return nil, true, !val, true
		}
		if !c {
			return p, false, false, false
		}
		return notNode{f}, false, false, true
	case *cmpNode:
		if n.multi == nil && (n.left.name == "evt.type" || strings.HasPrefix(n.left.name, "evt.type.is")) {
			c := fields.Ctx{Evt: &event.Event{Source: src, Type: t}}
			return nil, true, n.Eval(&c), true
		}
	}
	return p, false, false, false
}
