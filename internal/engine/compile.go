package engine

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/truesightsec/truesight/internal/condition"
	"github.com/truesightsec/truesight/internal/fields"
)

// CompileError is a condition that parses but cannot be compiled: an
// unknown field, an operator the field's type does not support, a value
// that is not of the field's type. Pos points into the condition text.
type CompileError struct {
	Pos condition.Pos
	Msg string
	// UnknownField is set when the error is an unknown field, which
	// skip-if-unknown-filter turns into a warning.
	UnknownField bool
}

func (e *CompileError) Error() string { return e.Msg }

func errorf(pos condition.Pos, format string, args ...any) *CompileError {
	return &CompileError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// Predicate is a compiled condition.
type Predicate interface {
	// Eval reports whether the condition holds for the event in c.
	Eval(c *fields.Ctx) bool
}

// Compile binds every field of a resolved condition (macros already
// substituted) to its extractor and every value to its field's type.
func Compile(e condition.Expr) (Predicate, error) {
	return compileExpr(e)
}

type andNode []Predicate
type orNode []Predicate
type notNode struct{ p Predicate }

func (n andNode) Eval(c *fields.Ctx) bool {
	for _, p := range n {
		if !p.Eval(c) {
			return false
		}
	}
	return true
}

func (n orNode) Eval(c *fields.Ctx) bool {
	for _, p := range n {
		if p.Eval(c) {
			return true
		}
	}
	return false
}

func (n notNode) Eval(c *fields.Ctx) bool { return !n.p.Eval(c) }

func compileExpr(e condition.Expr) (Predicate, error) {
	switch n := e.(type) {
	case *condition.And:
		out := make(andNode, 0, len(n.Children))
		for _, ch := range n.Children {
			p, err := compileExpr(ch)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
		return out, nil
	case *condition.Or:
		out := make(orNode, 0, len(n.Children))
		for _, ch := range n.Children {
			p, err := compileExpr(ch)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
		}
		return out, nil
	case *condition.Not:
		p, err := compileExpr(n.Child)
		if err != nil {
			return nil, err
		}
		return notNode{p}, nil
	case *condition.Identifier:
		return nil, errorf(n.Pos, "undefined macro '%s' (define it before this rule, or check the spelling)", n.Name)
	case *condition.Compare:
		return compileCompare(n)
	}
	return nil, errorf(e.Position(), "unexpected expression %T", e)
}

// operand is a compiled field reference (possibly transformed).
type operand struct {
	typ   fields.Type
	ex    fields.Extractor
	multi fields.Multi
	name  string
}

// any reports whether any value of the operand passes t.
func (o *operand) any(c *fields.Ctx, t fields.ValueTest) bool {
	if o.multi != nil {
		return o.multi(c, t)
	}
	v, ok := o.ex(c)
	return ok && t.Test(v)
}

// anyValue passes every value: exists.
type anyValue struct{}

func (anyValue) Test(fields.Value) bool { return true }

func compileOperand(op condition.Operand) (*operand, error) {
	switch n := op.(type) {
	case *condition.Field:
		raw := n.Raw
		if raw == "" {
			raw = n.Name
			if n.HasArg {
				raw += "[" + n.Arg + "]"
			}
		}
		b, err := fields.Resolve(raw)
		if err != nil {
			ce := errorf(n.Pos, "%v", err)
			if strings.HasPrefix(err.Error(), "unknown field") {
				ce.UnknownField = true
				ce.Msg = fmt.Sprintf("unknown field '%s' (run `truesight fields` for the list)", raw)
			}
			return nil, ce
		}
		return &operand{typ: b.Field.Type, ex: b.Extract, multi: b.Multi, name: raw}, nil
	case *condition.Transform:
		inner, err := compileOperand(n.Arg)
		if err != nil {
			return nil, err
		}
		return transform(n, inner)
	}
	return nil, errorf(op.Position(), "expected a field, found %s", op.String())
}

func transform(n *condition.Transform, in *operand) (*operand, error) {
	var f func(fields.Value) (fields.Value, bool)
	typ := fields.String
	switch n.Name {
	case "tolower":
		f = func(v fields.Value) (fields.Value, bool) { return fields.Value{S: strings.ToLower(v.S)}, true }
	case "toupper":
		f = func(v fields.Value) (fields.Value, bool) { return fields.Value{S: strings.ToUpper(v.S)}, true }
	case "basename":
		f = func(v fields.Value) (fields.Value, bool) {
			if v.S == "" {
				return v, true
			}
			return fields.Value{S: path.Base(v.S)}, true
		}
	case "b64":
		f = func(v fields.Value) (fields.Value, bool) {
			b, err := base64.StdEncoding.DecodeString(v.S)
			if err != nil {
				return fields.Value{}, false
			}
			return fields.Value{S: string(b)}, true
		}
	case "len":
		typ = fields.Uint64
		f = func(v fields.Value) (fields.Value, bool) { return fields.Value{N: int64(len(v.S))}, true }
	case "val":
		return in, nil
	default:
		return nil, errorf(n.Pos, "unknown transformer '%s' (use tolower, toupper, b64, basename, len or val)", n.Name)
	}
	if n.Name != "len" && in.typ != fields.String && in.typ != fields.Bytes {
		return nil, errorf(n.Pos, "transformer %s needs a string field, %s is %s", n.Name, in.name, in.typ)
	}
	out := &operand{typ: typ, name: n.Name + "(" + in.name + ")"}
	inEx := in.ex
	out.ex = func(c *fields.Ctx) (fields.Value, bool) {
		v, ok := inEx(c)
		if !ok {
			return fields.Value{}, false
		}
		return f(v)
	}
	if in.multi != nil {
		inMulti := in.multi
		out.multi = func(c *fields.Ctx, t fields.ValueTest) bool {
			return inMulti(c, transformedTest{f: f, t: t})
		}
	}
	return out, nil
}

// transformedTest applies a transformer before testing a value.
type transformedTest struct {
	f func(fields.Value) (fields.Value, bool)
	t fields.ValueTest
}

func (x transformedTest) Test(v fields.Value) bool {
	w, ok := x.f(v)
	return ok && x.t.Test(w)
}

// fieldsValue shortens signatures in this package.
type fieldsValue = fields.Value

// matcher tests one extracted value.
type matcher func(v fields.Value) bool

// Test makes a matcher a fields.ValueTest without allocating.
func (m matcher) Test(v fields.Value) bool { return m(v) }

// cmpNode compares a field against constant values.
// cmpNode keeps its operand's extractors by value, so that an evaluation
// reads them without following the operand pointer.
type cmpNode struct {
	ex    fields.Extractor
	multi fields.Multi
	match matcher
	left  *operand
}

func newCmp(left *operand, m matcher) *cmpNode {
	return &cmpNode{ex: left.ex, multi: left.multi, match: m, left: left}
}

func (n *cmpNode) Eval(c *fields.Ctx) bool {
	if n.multi == nil {
		v, ok := n.ex(c)
		return ok && n.match(v)
	}
	return n.multi(c, n.match)
}

type existsNode struct{ left *operand }

func (n *existsNode) Eval(c *fields.Ctx) bool { return n.left.any(c, anyValue{}) }

// fieldCmpNode compares a field against another field (val(...)).
type fieldCmpNode struct {
	left, right *operand
	cmp         func(a, b fields.Value) bool
}

func (n *fieldCmpNode) Eval(c *fields.Ctx) bool {
	b, ok := n.right.ex(c)
	if !ok {
		return false
	}
	return n.left.any(c, fieldTest{cmp: n.cmp, b: b})
}

// fieldTest compares each left value against the right field's value.
type fieldTest struct {
	cmp func(a, b fields.Value) bool
	b   fields.Value
}

func (x fieldTest) Test(a fields.Value) bool { return x.cmp(a, x.b) }

func compileCompare(n *condition.Compare) (Predicate, error) {
	left, err := compileOperand(n.Left)
	if err != nil {
		return nil, err
	}
	if n.Op == "exists" {
		return &existsNode{left}, nil
	}
	if dnsFields[left.name] {
		return compileDNSCompare(n, left)
	}
	switch r := n.Right.(type) {
	case *condition.Field, *condition.Transform:
		right, err := compileOperand(r)
		if err != nil {
			return nil, err
		}
		if n.Modifier != "" {
			return nil, errorf(n.OpPos, "'%s %s' cannot compare against a field", n.Op, n.Modifier)
		}
		cmp, err := fieldComparator(n, left.typ)
		if err != nil {
			return nil, err
		}
		return &fieldCmpNode{left: left, right: right, cmp: cmp}, nil
	case *condition.List:
		if n.Modifier == "" && n.Op != "in" && n.Op != "intersects" && n.Op != "pmatch" {
			return nil, errorf(n.OpPos, "operator %s takes a single value, not a list", n.Op)
		}
		m, err := listMatcher(n, left, r)
		if err != nil {
			return nil, err
		}
		return newCmp(left, m), nil
	case *condition.Value:
		if n.Modifier != "" || n.Op == "in" || n.Op == "intersects" || n.Op == "pmatch" {
			// A single value where a list is expected is a list of one.
			m, err := listMatcher(n, left, &condition.List{Pos: r.Pos, Items: []*condition.Value{r}})
			if err != nil {
				return nil, err
			}
			return newCmp(left, m), nil
		}
		m, err := valueMatcher(n.Op, n.OpPos, left, r)
		if err != nil {
			return nil, err
		}
		return newCmp(left, m), nil
	case nil:
		return nil, errorf(n.OpPos, "operator %s needs a value", n.Op)
	}
	return nil, errorf(n.Right.Position(), "unexpected operand %s", n.Right.String())
}

func listMatcher(n *condition.Compare, left *operand, l *condition.List) (matcher, error) {
	op := n.Op
	switch {
	case n.Modifier != "":
		ms := make([]matcher, 0, len(l.Items))
		for _, it := range l.Items {
			m, err := valueMatcher(op, n.OpPos, left, it)
			if err != nil {
				return nil, err
			}
			ms = append(ms, m)
		}
		if n.Modifier == "allof" {
			return func(v fields.Value) bool {
				for _, m := range ms {
					if !m(v) {
						return false
					}
				}
				return true
			}, nil
		}
		return func(v fields.Value) bool {
			for _, m := range ms {
				if m(v) {
					return true
				}
			}
			return false
		}, nil
	case op == "pmatch":
		if left.typ != fields.String {
			return nil, errorf(n.OpPos, "pmatch needs a string field, %s is %s", left.name, left.typ)
		}
		prefixes := make([]string, 0, len(l.Items))
		for _, it := range l.Items {
			prefixes = append(prefixes, strings.TrimSuffix(it.Text, "/"))
		}
		return func(v fields.Value) bool {
			for _, p := range prefixes {
				if pathPrefix(v.S, p) {
					return true
				}
			}
			return false
		}, nil
	}
	// in / intersects: equality with any item.
	if left.typ == fields.String || left.typ == fields.Bytes {
		if len(l.Items) > 8 {
			set := make(map[string]struct{}, len(l.Items))
			for _, it := range l.Items {
				set[it.Text] = struct{}{}
			}
			return func(v fields.Value) bool { _, ok := set[v.S]; return ok }, nil
		}
		items := make([]string, len(l.Items))
		for i, it := range l.Items {
			items[i] = it.Text
		}
		return func(v fields.Value) bool {
			for _, s := range items {
				if s == v.S {
					return true
				}
			}
			return false
		}, nil
	}
	ms := make([]matcher, 0, len(l.Items))
	for _, it := range l.Items {
		m, err := valueMatcher("=", n.OpPos, left, it)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return func(v fields.Value) bool {
		for _, m := range ms {
			if m(v) {
				return true
			}
		}
		return false
	}, nil
}

// pathPrefix reports whether p is s or a directory above it.
func pathPrefix(s, p string) bool {
	if !strings.HasPrefix(s, p) {
		return false
	}
	return len(s) == len(p) || s[len(p)] == '/' || p == ""
}

func valueMatcher(op string, pos condition.Pos, left *operand, val *condition.Value) (matcher, error) {
	text := val.Text
	switch left.typ {
	case fields.String, fields.Bytes:
		return stringMatcher(op, pos, text)
	case fields.Bool:
		var want int64
		switch strings.ToLower(text) {
		case "true":
			want = 1
		case "false":
			want = 0
		default:
			return nil, errorf(val.Pos, "%s is a boolean: compare it with true or false, not %q", left.name, text)
		}
		switch op {
		case "=", "==":
			return func(v fields.Value) bool { return v.N == want }, nil
		case "!=":
			return func(v fields.Value) bool { return v.N != want }, nil
		}
	case fields.IPAddr, fields.IPNet:
		if pfx, err := netip.ParsePrefix(text); err == nil {
			pfx = pfx.Masked()
			switch op {
			case "=", "==", "in":
				return func(v fields.Value) bool { return v.IP.IsValid() && pfx.Contains(v.IP.Unmap()) }, nil
			case "!=":
				return func(v fields.Value) bool { return v.IP.IsValid() && !pfx.Contains(v.IP.Unmap()) }, nil
			}
			return nil, errorf(pos, "operator %s is not supported on %s (an address)", op, left.name)
		}
		a, err := netip.ParseAddr(text)
		if err != nil {
			return nil, errorf(val.Pos, "%s is an IP address: %q is neither an address nor a CIDR network", left.name, text)
		}
		a = a.Unmap()
		switch op {
		case "=", "==", "in":
			return func(v fields.Value) bool { return v.IP.Unmap() == a }, nil
		case "!=":
			return func(v fields.Value) bool { return v.IP.IsValid() && v.IP.Unmap() != a }, nil
		}
		return nil, errorf(pos, "operator %s is not supported on %s (an address)", op, left.name)
	default: // numbers
		want, err := parseNumber(text, left.typ)
		if err != nil {
			return nil, errorf(val.Pos, "%s is a number (%s): %q is not", left.name, left.typ, text)
		}
		unsigned := left.typ == fields.Uint64 || left.typ == fields.Port
		switch op {
		case "=", "==", "in":
			return func(v fields.Value) bool { return v.N == want }, nil
		case "!=":
			return func(v fields.Value) bool { return v.N != want }, nil
		case "<":
			if unsigned {
				return func(v fields.Value) bool { return uint64(v.N) < uint64(want) }, nil
			}
			return func(v fields.Value) bool { return v.N < want }, nil
		case "<=":
			if unsigned {
				return func(v fields.Value) bool { return uint64(v.N) <= uint64(want) }, nil
			}
			return func(v fields.Value) bool { return v.N <= want }, nil
		case ">":
			if unsigned {
				return func(v fields.Value) bool { return uint64(v.N) > uint64(want) }, nil
			}
			return func(v fields.Value) bool { return v.N > want }, nil
		case ">=":
			if unsigned {
				return func(v fields.Value) bool { return uint64(v.N) >= uint64(want) }, nil
			}
			return func(v fields.Value) bool { return v.N >= want }, nil
		}
	}
	return nil, errorf(pos, "operator %s is not supported on %s (%s)", op, left.name, left.typ)
}

func parseNumber(text string, t fields.Type) (int64, error) {
	if n, err := strconv.ParseInt(text, 0, 64); err == nil {
		return n, nil
	}
	if t == fields.Uint64 {
		u, err := strconv.ParseUint(text, 0, 64)
		return int64(u), err
	}
	return 0, fmt.Errorf("not a number")
}

func stringMatcher(op string, pos condition.Pos, s string) (matcher, error) {
	switch op {
	case "=", "==", "in", "intersects":
		return func(v fields.Value) bool { return v.S == s }, nil
	case "!=":
		return func(v fields.Value) bool { return v.S != s }, nil
	case "contains":
		return func(v fields.Value) bool { return strings.Contains(v.S, s) }, nil
	case "icontains":
		return func(v fields.Value) bool { return fields.ContainsFold(v.S, s) }, nil
	case "startswith":
		return func(v fields.Value) bool { return strings.HasPrefix(v.S, s) }, nil
	case "endswith":
		return func(v fields.Value) bool { return strings.HasSuffix(v.S, s) }, nil
	case "bcontains", "bstartswith":
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, errorf(pos, "%s needs hexadecimal bytes (e.g. 7f454c46), not %q", op, s)
		}
		bs := string(b)
		if op == "bcontains" {
			return func(v fields.Value) bool { return strings.Contains(v.S, bs) }, nil
		}
		return func(v fields.Value) bool { return strings.HasPrefix(v.S, bs) }, nil
	case "glob":
		return func(v fields.Value) bool { return fields.GlobMatch(s, v.S, false) }, nil
	case "iglob":
		return func(v fields.Value) bool { return fields.GlobMatch(s, v.S, true) }, nil
	case "regex":
		re, err := regexp.Compile(`^(?:` + s + `)$`)
		if err != nil {
			return nil, errorf(pos, "invalid regular expression %q: %v", s, err)
		}
		return func(v fields.Value) bool { return re.MatchString(v.S) }, nil
	case "pmatch":
		p := strings.TrimSuffix(s, "/")
		return func(v fields.Value) bool { return pathPrefix(v.S, p) }, nil
	case "<":
		return func(v fields.Value) bool { return v.S < s }, nil
	case "<=":
		return func(v fields.Value) bool { return v.S <= s }, nil
	case ">":
		return func(v fields.Value) bool { return v.S > s }, nil
	case ">=":
		return func(v fields.Value) bool { return v.S >= s }, nil
	}
	return nil, errorf(pos, "operator %s is not supported on string fields", op)
}

func fieldComparator(n *condition.Compare, t fields.Type) (func(a, b fields.Value) bool, error) {
	switch n.Op {
	case "=", "==":
		if t.Numeric() || t == fields.Bool {
			return func(a, b fields.Value) bool { return a.N == b.N }, nil
		}
		return func(a, b fields.Value) bool { return a.S == b.S && a.IP == b.IP }, nil
	case "!=":
		if t.Numeric() || t == fields.Bool {
			return func(a, b fields.Value) bool { return a.N != b.N }, nil
		}
		return func(a, b fields.Value) bool { return a.S != b.S || a.IP != b.IP }, nil
	case "<":
		return func(a, b fields.Value) bool { return a.N < b.N }, nil
	case "<=":
		return func(a, b fields.Value) bool { return a.N <= b.N }, nil
	case ">":
		return func(a, b fields.Value) bool { return a.N > b.N }, nil
	case ">=":
		return func(a, b fields.Value) bool { return a.N >= b.N }, nil
	case "contains":
		return func(a, b fields.Value) bool { return strings.Contains(a.S, b.S) }, nil
	case "icontains":
		return func(a, b fields.Value) bool { return fields.ContainsFold(a.S, b.S) }, nil
	case "startswith":
		return func(a, b fields.Value) bool { return strings.HasPrefix(a.S, b.S) }, nil
	case "endswith":
		return func(a, b fields.Value) bool { return strings.HasSuffix(a.S, b.S) }, nil
	case "glob":
		return func(a, b fields.Value) bool { return fields.GlobMatch(b.S, a.S, false) }, nil
	case "iglob":
		return func(a, b fields.Value) bool { return fields.GlobMatch(b.S, a.S, true) }, nil
	case "pmatch":
		return func(a, b fields.Value) bool { return pathPrefix(a.S, strings.TrimSuffix(b.S, "/")) }, nil
	}
	return nil, errorf(n.OpPos, "operator %s cannot compare two fields", n.Op)
}

// compileDNSCompare compiles = != and in on fd.*ip.name: the connection's
// address against the resolved addresses of the names.
func compileDNSCompare(n *condition.Compare, left *operand) (Predicate, error) {
	var names []string
	switch r := n.Right.(type) {
	case *condition.Value:
		names = []string{r.Text}
	case *condition.List:
		for _, it := range r.Items {
			names = append(names, it.Text)
		}
	default:
		return nil, errorf(n.OpPos, "%s compares with domain names, not %s", left.name, n.Right.String())
	}
	if n.Modifier != "" {
		return nil, errorf(n.OpPos, "%s supports =, != and in, without modifiers", left.name)
	}
	switch n.Op {
	case "=", "==", "in":
		return newCmp(left, dnsMatcher(names, false)), nil
	case "!=":
		return newCmp(left, dnsMatcher(names, true)), nil
	}
	return nil, errorf(n.OpPos, "%s supports =, != and in (domain names), not %s", left.name, n.Op)
}
