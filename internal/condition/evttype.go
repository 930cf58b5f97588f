package condition

import (
	"errors"
	"sort"
	"strings"
)

// EventSet is a set of event type names that may be infinite: when All is
// false it is exactly Names; when All is true it is every event type except
// those in Names (usually none).
type EventSet struct {
	Names map[string]bool
	All   bool
}

// Has reports whether the set contains the event type name.
func (s EventSet) Has(name string) bool { return s.Names[name] != s.All }

// IsAll reports whether the set holds every event type.
func (s EventSet) IsAll() bool { return s.All && len(s.Names) == 0 }

// IsEmpty reports whether the set holds no event type.
func (s EventSet) IsEmpty() bool { return !s.All && len(s.Names) == 0 }

// Resolve returns the members of s among universe, the known event type
// names, in universe order.
func (s EventSet) Resolve(universe []string) []string {
	var out []string
	for _, n := range universe {
		if s.Has(n) {
			out = append(out, n)
		}
	}
	return out
}

// String prints the set as "{a, b}", "all" or "all except {a, b}".
func (s EventSet) String() string {
	names := make([]string, 0, len(s.Names))
	for n := range s.Names {
		names = append(names, n)
	}
	sort.Strings(names)
	list := "{" + strings.Join(names, ", ") + "}"
	switch {
	case !s.All:
		return list
	case len(names) == 0:
		return "all"
	}
	return "all except " + list
}

func allEvents() EventSet { return EventSet{Names: map[string]bool{}, All: true} }

func namesOf(names ...string) EventSet {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return EventSet{Names: m}
}

func (s EventSet) complement() EventSet { return EventSet{Names: s.Names, All: !s.All} }

func (s EventSet) intersect(t EventSet) EventSet {
	switch {
	case !s.All && !t.All: // A ∩ B
		return filterNames(s.Names, func(n string) bool { return t.Names[n] })
	case !s.All: // A ∩ ¬B = A \ B
		return filterNames(s.Names, func(n string) bool { return !t.Names[n] })
	case !t.All:
		return t.intersect(s)
	}
	// ¬A ∩ ¬B = ¬(A ∪ B)
	u := unionNames(s.Names, t.Names)
	u.All = true
	return u
}

func (s EventSet) union(t EventSet) EventSet {
	switch {
	case !s.All && !t.All: // A ∪ B
		return unionNames(s.Names, t.Names)
	case !s.All: // A ∪ ¬B = ¬(B \ A)
		r := filterNames(t.Names, func(n string) bool { return !s.Names[n] })
		r.All = true
		return r
	case !t.All:
		return t.union(s)
	}
	// ¬A ∪ ¬B = ¬(A ∩ B)
	r := filterNames(s.Names, func(n string) bool { return t.Names[n] })
	r.All = true
	return r
}

func filterNames(m map[string]bool, keep func(string) bool) EventSet {
	r := make(map[string]bool)
	for n := range m {
		if keep(n) {
			r[n] = true
		}
	}
	return EventSet{Names: r}
}

func unionNames(a, b map[string]bool) EventSet {
	r := make(map[string]bool, len(a)+len(b))
	for n := range a {
		r[n] = true
	}
	for n := range b {
		r[n] = true
	}
	return EventSet{Names: r}
}

// EventTypes returns the evt.type names a condition can match, the set
// Falco indexes a rule under. When all is false the condition can only match
// events whose type is in types. When all is true it can match every event
// type except those in types, which is usually empty: a condition without an
// evt.type constraint, or one whose analysis fails (see EventTypeSet), matches
// all types. Names are not checked against any event table.
func EventTypes(e Expr) (types map[string]bool, all bool) {
	s, err := EventTypeSet(e)
	if err != nil {
		return map[string]bool{}, true
	}
	return s.Names, s.All
}

// EventTypeSet computes the event types a condition can match with the
// algorithm of libsinsp's ppm_event_codes (filter/ppm_codes.cpp), which is
// what Falco's rule index uses:
//
//   - "evt.type = x", "evt.type in (x, y)" and "evt.type != x" (also on
//     syscall.type) give their set of names; "evt.type exists" gives all.
//   - "and" intersects its children's sets, "or" unites them.
//   - "not" is pushed down to the leaves by De Morgan's laws, and a leaf
//     under an odd number of negations is complemented, except neutral
//     leaves: a check unrelated to evt.type (proc.name = cat), or an
//     unresolved macro name, matches all types whether negated or not.
//   - evt.num is known to start at 1, so "evt.num = 0", "evt.num < 1",
//     "evt.num <= 0" and "evt.num in (0)" match nothing, while
//     "evt.num != 0", "evt.num > 0" and "evt.num >= 1" match everything;
//     both are complemented under negation. This makes Falco's never_true
//     macro (evt.num=0) index to no event type.
//
// A check with a modifier (evt.type = oneof (...)) is treated as neutral.
// Like libsinsp, the analysis fails when evt.type is compared to a field or
// transform, or is the argument of a transformer in an exists check or an
// evt.type comparison; Falco reports those rules as errors.
func EventTypeSet(e Expr) (EventSet, error) {
	v := &evtVisitor{}
	v.expr(e)
	if v.err != nil {
		return EventSet{}, v.err
	}
	return v.codes, nil
}

var (
	errEvtTypeRHSField   = errors.New("right-hand field comparisons on `evt.type`/`syscall.type` checks are not supported by event code search")
	errEvtTypeTransform  = errors.New("event code search does not support `evt.type` checks with transformers")
	errEvtTypeBadOperand = errors.New("event code search: unexpected operand")
)

// evtVisitor mirrors libsinsp's ppm_code_visitor state machine, quirks
// included, so that every condition gets the same set.
type evtVisitor struct {
	isEvtTypeField       bool // the last node was a bare evt.type/syscall.type field
	isFieldOrTransformer bool // the last operand was a field or a transform
	insideNegation       bool
	hasCodes             bool // the last leaf named event types (so negation applies)
	codes                EventSet
	err                  error
}

func (v *evtVisitor) invert() {
	if v.hasCodes {
		v.codes = v.codes.complement()
	}
}

func (v *evtVisitor) tryInvert() {
	if v.insideNegation {
		v.invert()
	}
}

func (v *evtVisitor) expr(e Expr) {
	if v.err != nil {
		return
	}
	switch n := e.(type) {
	case *And:
		if v.insideNegation {
			v.disjunction(n.Children)
		} else {
			v.conjunction(n.Children)
		}
	case *Or:
		if v.insideNegation {
			v.conjunction(n.Children)
		} else {
			v.disjunction(n.Children)
		}
	case *Not:
		v.codes = EventSet{}
		outer := v.insideNegation
		v.insideNegation = !outer
		v.expr(n.Child)
		v.insideNegation = outer
		v.isEvtTypeField = false
	case *Identifier:
		// An unresolved macro: neutral.
		v.hasCodes = false
		v.codes = allEvents()
		v.isEvtTypeField = false
		v.tryInvert()
	case *Compare:
		if n.Op == "exists" {
			v.unary(n)
		} else {
			v.binary(n)
		}
	default:
		v.err = errEvtTypeBadOperand
	}
}

func (v *evtVisitor) conjunction(children []Expr) {
	types := allEvents()
	for _, c := range children {
		v.expr(c)
		types = types.intersect(v.codes)
	}
	v.codes = types
	v.isEvtTypeField = false
}

func (v *evtVisitor) disjunction(children []Expr) {
	types := EventSet{Names: map[string]bool{}}
	for _, c := range children {
		v.expr(c)
		types = types.union(v.codes)
	}
	v.codes = types
	v.isEvtTypeField = false
}

func (v *evtVisitor) unary(c *Compare) {
	v.operand(c.Left)
	v.hasCodes = v.isEvtTypeField
	v.codes = allEvents()
	v.isEvtTypeField = false
	v.tryInvert()
}

func (v *evtVisitor) binary(c *Compare) {
	v.hasCodes = false
	switch evtNumInvariant(c) {
	case knownEmpty:
		v.codes = EventSet{Names: map[string]bool{}}
		v.hasCodes = true
		v.isEvtTypeField = false
		v.tryInvert()
		return
	case knownAll:
		v.codes = allEvents()
		v.hasCodes = true
		v.isEvtTypeField = false
		v.tryInvert()
		return
	}
	if c.Modifier == "" && (c.Op == "=" || c.Op == "!=" || c.Op == "in") {
		v.operand(c.Left)
		if v.err != nil {
			return
		}
		if v.isEvtTypeField {
			v.isFieldOrTransformer = false
			v.operand(c.Right)
			if v.err != nil {
				return
			}
			if v.isFieldOrTransformer {
				v.err = errEvtTypeRHSField
				return
			}
			if c.Op == "!=" {
				// The leaf may already have been complemented for an
				// enclosing negation; complementing again handles both
				// "evt.type != x" and "not evt.type != x".
				v.invert()
			}
			v.isEvtTypeField = false
			return
		}
	}
	v.codes = allEvents()
	v.isEvtTypeField = false
	v.tryInvert()
}

func (v *evtVisitor) operand(o Operand) {
	if v.err != nil {
		return
	}
	switch n := o.(type) {
	case *Field:
		v.hasCodes = false
		v.isFieldOrTransformer = true
		v.isEvtTypeField = (n.Name == "evt.type" || n.Name == "syscall.type") && !n.HasArg
		v.codes = allEvents()
		v.tryInvert()
	case *Transform:
		args := n.Args
		if len(args) == 0 && n.Arg != nil {
			args = []Operand{n.Arg}
		}
		for _, a := range args {
			v.operand(a)
			if v.err != nil {
				return
			}
			if v.isEvtTypeField {
				v.err = errEvtTypeTransform
				return
			}
		}
		v.isFieldOrTransformer = true
	case *ArgList:
		for _, a := range n.Items {
			v.operand(a)
			if v.err != nil {
				return
			}
		}
	case *Value:
		v.hasCodes = true
		v.codes = namesOf(n.Text)
		v.isEvtTypeField = false
		v.tryInvert()
	case *List:
		v.hasCodes = true
		names := make([]string, len(n.Items))
		for i, it := range n.Items {
			names[i] = it.Text
		}
		v.codes = namesOf(names...)
		v.isEvtTypeField = false
		v.tryInvert()
	default:
		v.err = errEvtTypeBadOperand
	}
}

type invariant int

const (
	indeterminate invariant = iota
	knownEmpty
	knownAll
)

// evtNumInvariant decides checks on a bare evt.num against literals, given
// that event numbers start at 1, as libsinsp's evaluate_field_invariant does.
func evtNumInvariant(c *Compare) invariant {
	f, ok := c.Left.(*Field)
	if !ok || f.Name != "evt.num" || f.HasArg || c.Modifier != "" {
		return indeterminate
	}
	if c.Op == "in" {
		l, ok := c.Right.(*List)
		if !ok {
			return indeterminate
		}
		for _, it := range l.Items {
			if n, ok := parseU64(it.Text); !ok || n != 0 {
				return indeterminate
			}
		}
		return knownEmpty // also for the empty list
	}
	val, ok := c.Right.(*Value)
	if !ok {
		return indeterminate
	}
	n, ok := parseU64(val.Text)
	if !ok {
		return indeterminate
	}
	switch c.Op {
	case "=":
		if n == 0 {
			return knownEmpty
		}
	case "!=":
		if n == 0 {
			return knownAll
		}
	case "<":
		if n <= 1 {
			return knownEmpty
		}
	case "<=":
		if n == 0 {
			return knownEmpty
		}
	case ">":
		if n == 0 {
			return knownAll
		}
	case ">=":
		if n <= 1 {
			return knownAll
		}
	}
	return indeterminate
}

// parseU64 parses s as sscanf("%lu") would with nothing after the number:
// optional leading white space, an optional sign (a minus wraps around),
// decimal digits. An out-of-range number saturates, as strtoull does.
func parseU64(s string) (uint64, bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var n uint64
	overflow := false
	for ; i < len(s) && isDigit(s[i]); i++ {
		d := uint64(s[i] - '0')
		if n > (^uint64(0)-d)/10 {
			overflow = true
		}
		n = n*10 + d
	}
	if i == start || i != len(s) {
		return 0, false
	}
	if overflow {
		return ^uint64(0), true
	}
	if neg {
		n = -n
	}
	return n, true
}
