package rules

import (
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// exEntry is an exception's fields, comps, or one value: a string or a list.
type exEntry struct {
	defined bool
	isList  bool
	item    string
	ref     *scalarRef // the scalar, for a string
	items   []exEntry
	node    *yaml.Node
}

// valid mirrors Falco: a non-empty string or a non-empty list.
func (e exEntry) valid() bool {
	if e.isList {
		return len(e.items) > 0
	}
	return e.item != ""
}

type exceptionInfo struct {
	name   string
	node   *yaml.Node
	fields exEntry
	comps  exEntry
	values []exEntry
}

// readEntry decodes a scalar or a sequence; depth bounds the nesting of
// sequences (values may hold lists of lists: one list per field).
func readEntry(f *file, n *yaml.Node, what string, depth int) (exEntry, *loadError) {
	v := deref(n)
	e := exEntry{defined: true, node: n}
	switch {
	case isScalar(v):
		if v.Value == "" {
			return e, errAt(ErrException, n, "%s must not be empty", what)
		}
		e.item, e.ref = v.Value, &scalarRef{f: f, n: v}
	case v != nil && v.Kind == yaml.SequenceNode && depth > 0:
		e.isList = true
		for _, c := range v.Content {
			ce, err := readEntry(f, c, what, depth-1)
			if err != nil {
				return e, err
			}
			e.items = append(e.items, ce)
		}
	case v != nil && v.Kind == yaml.SequenceNode:
		return e, errAt(ErrException, n, "%s is nested too deeply: use a string or a list of strings", what)
	default:
		return e, errAt(ErrException, n, "%s must be a string or a list, not %s", what, kindName(v))
	}
	return e, nil
}

// readExceptions decodes a rule's exceptions. When appending, fields may be
// left out (values are added to an existing exception).
func (r *reader) readExceptions(ctx itemCtx, appending bool) ([]*exceptionInfo, *loadError) {
	n := get(ctx.node, "exceptions")
	if isNull(n) {
		return nil, nil
	}
	seq := deref(n)
	if seq.Kind != yaml.SequenceNode {
		return nil, errAt(ErrYAMLSchema, n, "rule exceptions must be a sequence, not %s", kindName(seq))
	}
	var out []*exceptionInfo
	seen := map[string]bool{}
	for _, en := range seq.Content {
		m := deref(en)
		if m == nil || m.Kind != yaml.MappingNode {
			return nil, errAt(ErrYAMLSchema, en, "each rule exception must be a mapping with name, fields, comps and values, not %s", kindName(en))
		}
		name, _, err := str(m, "name")
		if err != nil {
			return nil, err
		}
		ex := &exceptionInfo{name: name, node: m}
		for _, kv := range entries(m) {
			if !slices.Contains([]string{"name", "fields", "comps", "values"}, kv.key) {
				r.l.report(ctx, Warning, errAt(WarnUnknownKey, kv.keyN,
					"unknown key '%s' in exception %q; it is ignored (exceptions have name, fields, comps and values)", kv.key, name))
			}
		}
		if seen[name] {
			r.l.report(ctx, Warning, errAt(WarnExceptionNameReused, m,
				"multiple definitions of exception %q in the same rule: give each exception its own name", name))
		}
		seen[name] = true
		if fn := get(m, "fields"); fn != nil {
			if ex.fields, err = readEntry(r.f, fn, "exception fields", 1); err != nil {
				return nil, err
			}
		} else if !appending {
			return nil, errAt(ErrMissingKey, m, "missing required key 'fields' in exception %q", name)
		}
		if cn := get(m, "comps"); cn != nil {
			if ex.comps, err = readEntry(r.f, cn, "exception comps", 1); err != nil {
				return nil, err
			}
		}
		if vn := get(m, "values"); vn != nil {
			vs := deref(vn)
			if vs == nil || vs.Kind != yaml.SequenceNode {
				return nil, errAt(ErrException, vn, "values of exception %q must be a sequence, not %s", name, kindName(vs))
			}
			for _, v := range vs.Content {
				ve, err := readEntry(r.f, v, "exception value", 2)
				if err != nil {
					return nil, err
				}
				ex.values = append(ex.values, ve)
			}
		} else if appending {
			r.l.report(ctx, Warning, errAt(WarnAppendNoValues, m,
				"overriding/appending exception %q with no values: nothing is added", name))
		}
		out = append(out, ex)
	}
	return out, nil
}

var (
	// Comparison operators an exception may use.
	exceptionOps = []string{"=", "==", "!=", "<", "<=", ">", ">=", "contains", "icontains", "bcontains",
		"startswith", "bstartswith", "endswith", "glob", "iglob", "regex", "in", "intersects", "pmatch"}
	// Operators that compare with a list of values.
	listOps = []string{"in", "intersects", "pmatch"}
	// Operators that accept a oneof/anyof/allof modifier.
	modifiableOps = []string{"=", "==", "!=", "contains", "icontains", "bcontains", "startswith",
		"bstartswith", "endswith", "glob", "iglob", "regex"}
	modifiers = []string{"oneof", "anyof", "allof"}
)

// normComp collapses the blanks of a comparison ("  startswith  oneof ").
func normComp(s string) string { return strings.Join(strings.Fields(s), " ") }

func validComp(s string) bool {
	p := strings.Fields(s)
	switch len(p) {
	case 1:
		return slices.Contains(exceptionOps, p[0])
	case 2:
		return slices.Contains(modifiableOps, p[0]) && slices.Contains(modifiers, p[1])
	}
	return false
}

// compTakesList reports whether a comparison's value is written as a list.
func compTakesList(s string) bool {
	p := strings.Fields(s)
	return len(p) == 2 || (len(p) == 1 && slices.Contains(listOps, p[0]))
}

// validateException checks an exception against its rule and fills in the
// default comps, as Falco does when a rule is defined.
func (c *collector) validateException(rule *ruleInfo, ex *exceptionInfo) *loadError {
	checkField := func(fe exEntry) *loadError {
		if rule.unknownSource || c.l.opts.KnownField == nil {
			return nil
		}
		if name := stripTransformers(fe.item); !c.l.opts.KnownField(name) {
			return errAt(ErrException, fe.node, "'%s' in exception %q is not a supported filter field", fe.item, ex.name)
		}
		return nil
	}
	if ex.fields.isList {
		if !ex.comps.valid() {
			ex.comps = exEntry{isList: true}
			for range ex.fields.items {
				ex.comps.items = append(ex.comps.items, exEntry{item: "="})
			}
		}
		if len(ex.fields.items) != len(ex.comps.items) {
			return errAt(ErrException, ex.node, "fields and comps lists of exception %q must have equal length", ex.name)
		}
		for _, ce := range ex.comps.items {
			if !validComp(ce.item) {
				return errAt(ErrException, nodeOr(ce.node, ex.node), "'%s' is not a supported comparison operator", normComp(ce.item))
			}
		}
		for _, fe := range ex.fields.items {
			if err := checkField(fe); err != nil {
				return err
			}
		}
		return nil
	}
	if !ex.comps.valid() {
		ex.comps = exEntry{item: "in"}
	}
	if ex.comps.isList {
		return errAt(ErrException, ex.node, "fields and comps of exception %q must both be strings, or both lists", ex.name)
	}
	if op := normComp(ex.comps.item); op != "in" && op != "pmatch" && op != "intersects" {
		return errAt(ErrException, nodeOr(ex.comps.node, ex.node), "when fields is a single value, comps must be one of (in, pmatch, intersects), not '%s'", op)
	}
	return checkField(ex.fields)
}

func nodeOr(n, fallback *yaml.Node) *yaml.Node {
	if n != nil {
		return n
	}
	return fallback
}

// stripTransformers reduces "tolower( proc.name )" to "proc.name".
func stripTransformers(s string) string {
	s = strings.TrimSpace(s)
	for i := 0; i < 16; i++ {
		open := strings.IndexByte(s, '(')
		if open <= 0 || !strings.HasSuffix(s, ")") || !isWord(s[:open]) {
			break
		}
		s = strings.TrimSpace(s[open+1 : len(s)-1])
	}
	return s
}

func isWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '_' && !isAlnum(c) {
			return false
		}
	}
	return s != ""
}

// addEntry writes an exception's field or comp into t.
func addEntry(t *text, e exEntry) {
	if e.ref != nil && e.ref.n.Value == e.item {
		t.addScalar(e.ref, 0, len(e.item))
		return
	}
	t.add(e.item)
}

// addValue writes a value, quoted like Falco when it has spaces.
func addValue(t *text, e exEntry) {
	q := quoteItem(e.item)
	if q == e.item {
		addEntry(t, e)
		return
	}
	t.add(`"`)
	addEntry(t, e)
	t.add(`"`)
}

// buildExceptions appends the rule's exceptions to its condition exactly as
// Falco writes them: "(cond) and not (f1 op v1) and not ((f1 op v1 and f2
// op v2) or (...))", and collects the fields used.
func buildExceptions(cond *text, exs []*exceptionInfo, fields map[string]bool) (*text, *loadError) {
	out := &text{}
	out.add("(")
	out.addText(cond)
	out.add(")")
	for _, ex := range exs {
		ic := &text{}
		if !ex.fields.isList {
			for _, v := range ex.values {
				if v.isList {
					return nil, errAt(ErrException, nodeOr(v.node, ex.node), "exception %q has a single field, so each value must be a string, not a list", ex.name)
				}
				if ic.len() == 0 {
					ic.add("(")
					addEntry(ic, ex.fields)
					ic.add(" ")
					addEntry(ic, ex.comps)
					ic.add(" (")
				} else {
					ic.add(", ")
				}
				fields[ex.fields.item] = true
				addValue(ic, v)
			}
			if ic.len() > 0 {
				ic.add("))")
			}
		} else {
			ic.add("(")
			for vi, vals := range ex.values {
				if len(ex.fields.items) != len(vals.items) || !vals.isList {
					return nil, errAt(ErrException, nodeOr(vals.node, ex.node), "exception %q: fields and values lists must have equal length (%d fields)", ex.name, len(ex.fields.items))
				}
				if vi > 0 {
					ic.add(" or ")
				}
				ic.add("(")
				for k, field := range ex.fields.items {
					if k > 0 {
						ic.add(" and ")
					}
					ic.add(" ")
					addEntry(ic, field)
					ic.add(" ")
					addEntry(ic, ex.comps.items[k])
					ic.add(" ")
					v := vals.items[k]
					switch {
					case v.isList:
						ic.add("(")
						for j, it := range v.items {
							if j > 0 {
								ic.add(", ")
							}
							addValue(ic, it)
						}
						ic.add(")")
					case compTakesList(ex.comps.items[k].item):
						if strings.HasPrefix(v.item, "(") {
							addEntry(ic, v)
						} else {
							ic.add("(")
							addEntry(ic, v)
							ic.add(")")
						}
					default:
						addValue(ic, v)
					}
					fields[field.item] = true
				}
				ic.add(")")
			}
			ic.add(")")
			if ic.String() == "()" {
				ic = &text{}
			}
		}
		if ic.len() > 0 {
			out.add(" and not ")
			out.addText(ic)
		}
	}
	return out, nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
