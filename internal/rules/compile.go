package rules

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/truesightsec/truesight/internal/condition"
)

// macroState is a macro during compilation.
type macroState struct {
	info     *macroInfo
	ast      condition.Expr
	failed   bool // its condition did not parse or resolve (already reported)
	resolved bool
	size     int // node count once expanded
	used     bool
}

type compiledList struct {
	info *List
	src  *listInfo
}

// compile turns the collected items into a Ruleset, in Falco's order: lists,
// then macros, then rules, then warnings about what was never used.
func (l *loader) compile() *Ruleset {
	rs := &Ruleset{positions: &l.ps, RequiredPlugins: l.plugins}
	if l.maxEngine != (semver{}) {
		rs.RequiredEngineVersion = l.maxEngine.String()
	}
	lists := l.compileLists()
	for _, cl := range lists {
		rs.Lists = append(rs.Lists, cl.info)
	}
	macros, byName := l.compileMacros(lists)
	for _, ri := range l.col.rules.items {
		if ri.unknownSource {
			continue
		}
		if r := l.compileRule(ri, lists, byName); r != nil {
			rs.Rules = append(rs.Rules, r)
		}
	}
	for _, m := range macros {
		ctx := m.info.ctx
		rs.Macros = append(rs.Macros, &Macro{Name: m.info.name, Text: m.info.cond.String(), Condition: m.ast,
			Used: m.used, File: ctx.f.name, Line: ctx.node.Line})
		if !m.used {
			l.report(ctx, Warning, errAt(WarnUnusedMacro, ctx.node, "macro not referred to by any rule or macro"))
		}
	}
	for _, cl := range lists {
		if !cl.info.Used {
			l.report(cl.src.ctx, Warning, errAt(WarnUnusedList, cl.src.ctx.node, "list not referred to by any rule, macro or list"))
		}
	}
	return rs
}

// compileLists inlines, in each list, the items of lists named among its
// items that were defined before it. Like Falco, only one level is inlined:
// the referenced list's items are taken as written.
func (l *loader) compileLists() []compiledList {
	out := make([]compiledList, 0, len(l.col.lists.items))
	var used []string
	for _, li := range l.col.lists.items {
		cl := &List{Name: li.name, File: li.ctx.f.name, Line: li.ctx.node.Line}
		for _, it := range li.items {
			if ref := l.col.lists.get(it); ref != nil && ref.index < li.visibility {
				used = append(used, ref.name)
				cl.Items = append(cl.Items, ref.items...)
				continue
			}
			cl.Items = append(cl.Items, it)
		}
		out = append(out, compiledList{info: cl, src: li})
	}
	byName := make(map[string]*List, len(out))
	for _, cl := range out {
		byName[cl.info.Name] = cl.info
	}
	for _, name := range used {
		byName[name].Used = true
	}
	return out
}

func (l *loader) compileMacros(lists []compiledList) ([]*macroState, map[string]*macroState) {
	macros := make([]*macroState, 0, len(l.col.macros.items))
	byName := make(map[string]*macroState, len(l.col.macros.items))
	for _, mi := range l.col.macros.items {
		m := &macroState{info: mi}
		m.ast = l.parseCondition(mi.ctx, mi.cond, lists, get(mi.ctx.node, "condition"))
		m.failed = m.ast == nil
		macros = append(macros, m)
		byName[mi.name] = m
	}
	for _, m := range macros {
		if m.failed {
			continue
		}
		r := &resolver{l: l, macros: byName, visibility: m.info.visibility}
		ast, size, err := r.run(m.ast)
		if err != nil {
			l.report(m.info.ctx, Error, err)
			m.failed = true
			continue
		}
		m.ast, m.size, m.resolved = ast, size, true
	}
	return macros, byName
}

// parseCondition expands lists in t, parses it and moves its positions
// into the loader's position space. It reports errors and returns nil.
func (l *loader) parseCondition(ctx itemCtx, t *text, lists []compiledList, where *yaml.Node) condition.Expr {
	limit := l.opts.MaxConditionBytes
	if t.len() > limit {
		l.report(ctx, Error, l.errInText(ErrConditionTooLarge, t, 0, where,
			"condition is %d bytes long, more than the limit of %d", t.len(), limit))
		return nil
	}
	for _, cl := range lists {
		nt, used, ok := expandList(t, cl.info.Name, cl.info.Items, limit)
		if !ok {
			l.report(ctx, Error, l.errInText(ErrConditionTooLarge, t, 0, where,
				"condition is more than %d bytes long once list %q is expanded", limit, cl.info.Name))
			return nil
		}
		if used {
			cl.info.Used = true
		}
		t = nt
	}
	expr, err := condition.Parse(t.String())
	if err != nil {
		var pe *condition.Error
		off, msg := 0, err.Error()
		if errors.As(err, &pe) {
			off, msg = int(pe.Pos), pe.Msg
		}
		l.report(ctx, Error, l.errInText(ErrConditionSyntax, t, off, where, "syntax error in condition: %s", msg))
		return nil
	}
	shift(expr, l.ps.add(t))
	return expr
}

// errInText builds an error located at byte off of a condition text, or at
// the fallback node when that byte has no origin in a file.
func (l *loader) errInText(code Code, t *text, off int, fallback *yaml.Node, format string, args ...any) *loadError {
	e := errAt(code, fallback, format, args...)
	if pos, ok := t.position(off); ok {
		e.pos = &pos
	}
	return e
}

// errAtPos builds an error located at a node position of a parsed tree.
func (l *loader) errAtPos(code Code, p condition.Pos, fallback *yaml.Node, format string, args ...any) *loadError {
	e := errAt(code, fallback, format, args...)
	if pos := l.ps.position(p); pos.Line > 0 {
		e.pos = &pos
	}
	return e
}

// resolver replaces macro names by the macros' trees without modifying any
// tree it is given: changed nodes are copied, unchanged subtrees shared.
type resolver struct {
	l          *loader
	macros     map[string]*macroState
	visibility int // a macro is visible when its slot index is below this
	path       []string
	onPath     map[string]bool
	work       int
	tooLarge   bool
	loop       *condition.Identifier
	loopPath   []string
	undefined  *condition.Identifier
	broken     bool // a referenced macro failed on its own (already reported)
}

func (r *resolver) run(e condition.Expr) (condition.Expr, int, *loadError) {
	out, size := r.resolve(e)
	limit := r.l.opts.MaxConditionNodes
	switch {
	case r.tooLarge || size > limit:
		return nil, 0, r.l.errAtPos(ErrConditionTooLarge, e.Position(), nil,
			"condition has more than %d nodes once macros are expanded", limit)
	case r.loop != nil:
		return nil, 0, r.l.errAtPos(ErrMacroLoop, r.loop.Pos, nil,
			"reference loop in macro '%s' (%s)", r.loop.Name, strings.Join(r.loopPath, " -> "))
	case r.undefined != nil:
		name := r.undefined.Name
		hint := "define it before use or check the spelling"
		if m := r.macros[name]; m != nil {
			ctx := m.info.ctx
			hint = fmt.Sprintf("it is defined later, at %s: a macro can only use macros defined before it", ctx.where())
		}
		return nil, 0, r.l.errAtPos(ErrUndefinedMacro, r.undefined.Pos, nil, "undefined macro '%s' (%s)", name, hint)
	case r.broken:
		return nil, 0, &loadError{code: ErrUndefinedMacro, msg: "condition uses a macro that failed to compile"}
	}
	return out, size, nil
}

func (r *resolver) resolve(e condition.Expr) (condition.Expr, int) {
	r.work++
	if r.tooLarge || r.work > r.l.opts.MaxConditionNodes {
		r.tooLarge = true
		return e, 1
	}
	switch n := e.(type) {
	case *condition.And:
		kids, size, changed := r.children(n.Children)
		if !changed {
			return n, size
		}
		return &condition.And{Pos: n.Pos, Children: kids}, size
	case *condition.Or:
		kids, size, changed := r.children(n.Children)
		if !changed {
			return n, size
		}
		return &condition.Or{Pos: n.Pos, Children: kids}, size
	case *condition.Not:
		c, size := r.resolve(n.Child)
		if c == n.Child {
			return n, size + 1
		}
		return &condition.Not{Pos: n.Pos, Child: c}, size + 1
	case *condition.Identifier:
		return r.identifier(n)
	}
	return e, 1
}

func (r *resolver) children(cs []condition.Expr) ([]condition.Expr, int, bool) {
	out := make([]condition.Expr, len(cs))
	size, changed := 1, false
	for i, c := range cs {
		nc, s := r.resolve(c)
		out[i] = nc
		size += s
		changed = changed || nc != c
		if size > r.l.opts.MaxConditionNodes {
			r.tooLarge = true
		}
	}
	return out, size, changed
}

func (r *resolver) identifier(n *condition.Identifier) (condition.Expr, int) {
	m := r.macros[n.Name]
	if m == nil || m.info.index >= r.visibility {
		if r.undefined == nil {
			r.undefined = n
		}
		return n, 1
	}
	if m.failed {
		m.used = true
		r.broken = true
		return n, 1
	}
	if r.onPath[n.Name] {
		if r.loop == nil {
			r.loop = n
			r.loopPath = append(slices.Clone(r.path), n.Name)
		}
		return n, 1
	}
	m.used = true
	if m.resolved {
		return m.ast, m.size
	}
	if r.onPath == nil {
		r.onPath = map[string]bool{}
	}
	r.path = append(r.path, n.Name)
	r.onPath[n.Name] = true
	out, size := r.resolve(m.ast)
	r.path = r.path[:len(r.path)-1]
	delete(r.onPath, n.Name)
	return out, size
}

// compileRule builds one rule; it returns nil when the rule has an error
// (reported) or is skipped.
func (l *loader) compileRule(ri *ruleInfo, lists []compiledList, macros map[string]*macroState) *Rule {
	ctx := ri.ctx
	ctx.kind, ctx.name = "rule", ri.name
	condNode := get(ctx.node, "condition")
	if n := ri.cond.len(); n > l.opts.MaxConditionBytes {
		l.report(ctx, Error, l.errInText(ErrConditionTooLarge, ri.cond, 0, condNode,
			"condition is %d bytes long, more than the limit of %d", n, l.opts.MaxConditionBytes))
		return nil
	}
	exFields := map[string]bool{}
	cond, lerr := buildExceptions(ri.cond, ri.exceptions, exFields)
	if lerr != nil {
		l.report(ctx, Error, lerr)
		return nil
	}

	output := ri.output
	outNode := nodeOr(ri.outputNode, ctx.node)
	if strings.Contains(output, "%container.info") {
		l.report(ctx, Warning, errAt(WarnDeprecatedContainerI, outNode,
			"%%container.info is deprecated and no longer needed: container fields are added to the output automatically"))
		output = strings.ReplaceAll(output, "%container.info", "")
	}
	if l.opts.KnownField != nil {
		for _, f := range outputFields(output) {
			if l.opts.KnownField(f) {
				continue
			}
			if ri.skipUnknown {
				l.report(ctx, Warning, errAt(WarnUnknownFilter, outNode, "unknown field '%s' in output: rule skipped (skip-if-unknown-filter is set)", f))
				return nil
			}
			l.report(ctx, Error, errAt(ErrOutput, outNode, "unknown field '%%%s' in output (check the spelling or the list of supported fields)", f))
			return nil
		}
	}
	for _, df := range deprecatedFields {
		if strings.Contains(output, df) {
			l.report(ctx, Warning, errAt(WarnDeprecatedField, outNode,
				"usage of deprecated field '%s' has been detected in the rule output: %s", df, deprecatedWhy(df)))
		}
	}

	expr := l.parseCondition(ctx, cond, lists, condNode)
	if expr == nil {
		return nil
	}
	r := &resolver{l: l, macros: macros, visibility: math.MaxInt}
	expr, size, lerr := r.run(expr)
	if lerr != nil {
		if lerr.pos == nil && lerr.node == nil && r.broken {
			return nil // the macro's own error says it all
		}
		l.report(ctx, Error, lerr)
		return nil
	}
	// Shared macro trees keep each rule small in memory, but every rule
	// is walked (and printed) in full: bound the total work.
	l.totalNodes += size
	if limit := 16 * l.opts.MaxConditionNodes; l.totalNodes > limit {
		l.report(ctx, Error, errAt(ErrConditionTooLarge, condNode,
			"the rules' conditions have more than %d nodes in total once macros are expanded", limit))
		return nil
	}
	l.conditionWarnings(ctx, expr, condNode)
	if lerr, unknown := l.checkNames(expr, condNode); lerr != nil {
		if unknown && ri.skipUnknown {
			lerr.code = WarnUnknownFilter
			lerr.msg += ": rule skipped (skip-if-unknown-filter is set)"
			l.report(ctx, Warning, lerr)
		} else {
			l.report(ctx, Error, lerr)
		}
		return nil
	}

	rule := &Rule{
		Name: ri.name, Desc: ri.desc, Condition: expr, ConditionText: expr.String(),
		Output: output, Priority: ri.priority, Source: ri.source, Tags: slices.Clone(ri.tags),
		Enabled: ri.enabled, WarnEvttypes: ri.warnEvttypes, SkipIfUnknownFilter: ri.skipUnknown,
		Capture: ri.capture, CaptureDuration: ri.captureDuration,
		File: ctx.f.name, Line: ctx.node.Line, Column: ctx.node.Column,
	}
	for f := range exFields {
		rule.ExceptionFields = append(rule.ExceptionFields, f)
	}
	slices.Sort(rule.ExceptionFields)
	set, err := condition.EventTypeSet(expr)
	if err != nil && ri.source == "syscall" {
		l.report(ctx, Error, errAt(ErrValidate, condNode, "%v", err))
		return nil
	}
	rule.AllEventTypes = set.All
	for name := range set.Names {
		rule.EventTypes = append(rule.EventTypes, name)
	}
	slices.Sort(rule.EventTypes)

	if l.opts.Validate != nil {
		if err := l.opts.Validate(rule); err != nil {
			var ce *CompileError
			lerr := errAt(ErrValidate, ctx.node, "%v", err)
			if errors.As(err, &ce) {
				lerr = l.errAtPos(ErrValidate, ce.Pos, ctx.node, "%s", ce.Msg)
				if ce.Unknown && ri.skipUnknown {
					lerr.code = WarnUnknownFilter
					lerr.msg += ": rule skipped (skip-if-unknown-filter is set)"
					l.report(ctx, Warning, lerr)
					return nil
				}
			}
			l.report(ctx, Error, lerr)
			return nil
		}
	}

	if ri.source == "syscall" && ri.warnEvttypes && (set.All || len(set.Names) > 100) {
		l.report(ctx, Warning, errAt(WarnNoEvttype, ctx.node,
			"rule matches too many evt.type values, which has a significant performance penalty: restrict it with evt.type (or set warn_evttypes: false)"))
	}
	return rule
}

// outputFields lists the %field tokens of an output format.
func outputFields(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		j := i + 1
		for j < len(s) && isFieldByte(s[j]) {
			j++
		}
		if j < len(s) && s[j] == '[' {
			if k := strings.IndexByte(s[j:], ']'); k > 0 {
				j += k + 1
			}
		}
		tok := strings.TrimRight(s[i+1:j], ".")
		if tok != "" {
			out = append(out, tok)
		}
		i = j - 1
	}
	return out
}

func isFieldByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.'
}

var deprecatedFields = []string{"evt.dir", "evt.latency", "evt.latency.s", "evt.latency.ns", "evt.latency.human", "evt.wait_latency"}

func deprecatedWhy(f string) string {
	if f == "evt.dir" {
		return "events have no direction since enter events were dropped ('evt.dir = <' is always true, 'evt.dir = >' always false); remove the check"
	}
	return "the field is not available since enter events were dropped"
}

// forEachCompare calls fn on every comparison of an expanded tree.
func forEachCompare(e condition.Expr, fn func(*condition.Compare)) {
	switch n := e.(type) {
	case *condition.And:
		for _, c := range n.Children {
			forEachCompare(c, fn)
		}
	case *condition.Or:
		for _, c := range n.Children {
			forEachCompare(c, fn)
		}
	case *condition.Not:
		forEachCompare(n.Child, fn)
	case *condition.Compare:
		fn(n)
	}
}

// forEachField calls fn on every field an operand reads.
func forEachField(o condition.Operand, fn func(*condition.Field)) {
	switch n := o.(type) {
	case *condition.Field:
		fn(n)
	case *condition.Transform:
		if len(n.Args) == 0 {
			forEachField(n.Arg, fn)
		}
		for _, a := range n.Args {
			forEachField(a, fn)
		}
	case *condition.ArgList:
		for _, a := range n.Items {
			forEachField(a, fn)
		}
	}
}

func compareValues(c *condition.Compare) []*condition.Value {
	switch v := c.Right.(type) {
	case *condition.Value:
		return []*condition.Value{v}
	case *condition.List:
		return v.Items
	}
	return nil
}

var transformers = []string{"tolower", "toupper", "b64", "basename", "len", "join", "val"}

// conditionWarnings reports what Falco's filter compiler and warning
// resolver warn about, once per rule and place.
func (l *loader) conditionWarnings(ctx itemCtx, e condition.Expr, where *yaml.Node) {
	seen := map[string]bool{}
	// once-per-rule warnings are keyed without their position.
	warn := func(code Code, p condition.Pos, once bool, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		key := fmt.Sprintf("%s\x00%d\x00%s", code, p, msg)
		if once {
			key = fmt.Sprintf("%s\x00%s", code, msg)
		}
		if seen[key] {
			return
		}
		seen[key] = true
		l.report(ctx, Warning, l.errAtPos(code, p, where, "%s", msg))
	}
	forEachCompare(e, func(c *condition.Compare) {
		forEachField(c.Left, func(f *condition.Field) {
			if slices.Contains(deprecatedFields, f.Name) {
				warn(WarnDeprecatedField, f.Pos, true, "usage of deprecated field '%s' has been detected in the rule condition: %s", f.Name, deprecatedWhy(f.Name))
			}
		})
		lf, _ := c.Left.(*condition.Field)
		unsafe := lf != nil && (strings.HasPrefix(lf.Name, "ka.") || strings.HasPrefix(lf.Name, "jevt.")) &&
			slices.Contains([]string{"=", "==", "!=", "in", "intersects", "pmatch"}, c.Op)
		for _, v := range compareValues(c) {
			if v == nil {
				continue
			}
			if unsafe && v.Text == "<NA>" {
				warn(WarnUnsafeNACheck, v.Pos, true, "comparing a field value with <NA> is unsafe and can lead to unpredictable behavior of the rule condition: use the 'exists' operator to check whether a field is set")
			}
			if c.Op == "regex" && regexIsSimple(v.Text) {
				warn(WarnRegexSimple, v.Pos, false, "regex check with '%s' may be optimized with simpler operators such as '=', 'contains', 'startswith', 'endswith'", v.Text)
			}
			nospaces := strings.Map(func(r rune) rune {
				if strings.ContainsRune(" \t\n\v\f\r", r) {
					return -1
				}
				return r
			}, v.Text)
			if l.opts.KnownField != nil && nospaces != "" && l.opts.KnownField(nospaces) {
				warn(WarnValueIsField, v.Pos, false, "'%s' may be a valid field misused as a const string value (write val(%s) to compare with the field)", v.Text, nospaces)
			}
			for _, t := range transformers {
				if len(nospaces) >= len(t)+2 && strings.HasPrefix(nospaces, t+"(") && strings.HasSuffix(nospaces, ")") {
					warn(WarnValueIsTransformer, v.Pos, false, "'%s' may be a valid field transformer misused as a const string value", v.Text)
				}
			}
		}
	})
}

// regexIsSimple mirrors libsinsp's heuristic: a regex without special
// characters (besides anchors and a leading or trailing ".*") could be a
// plain comparison.
func regexIsSimple(v string) bool {
	const special = ".+*?^$()[]{}|\\"
	n := len(v)
	for i := 0; i < n; i++ {
		if (i == 0 && v[i] == '^') || (i == n-1 && v[i] == '$') {
			continue
		}
		if ((i == 0 && n > 1) || i == n-2) && v[i] == '.' && i+1 < n && strings.IndexByte("+*?", v[i+1]) >= 0 {
			i++
			continue
		}
		if strings.IndexByte(special, v[i]) >= 0 {
			return false
		}
	}
	return true
}

// checkNames verifies field names and evt.type values with the caller's
// registries; unknown reports whether skip-if-unknown-filter may apply.
func (l *loader) checkNames(e condition.Expr, where *yaml.Node) (lerr *loadError, unknown bool) {
	forEachCompare(e, func(c *condition.Compare) {
		if lerr != nil {
			return
		}
		check := func(f *condition.Field) {
			if lerr == nil && l.opts.KnownField != nil && !l.opts.KnownField(f.Raw) {
				lerr = l.errAtPos(ErrUnknownField, f.Pos, where, "unknown field '%s' (check the spelling or the list of supported fields)", f.Raw)
			}
		}
		forEachField(c.Left, check)
		forEachField(c.Right, check)
		lf, _ := c.Left.(*condition.Field)
		if lerr != nil || l.opts.KnownEventType == nil || lf == nil || lf.HasArg ||
			(lf.Name != "evt.type" && lf.Name != "syscall.type") || c.Modifier != "" {
			return
		}
		if !slices.Contains([]string{"=", "==", "!=", "in"}, c.Op) {
			return
		}
		for _, v := range compareValues(c) {
			if v != nil && !l.opts.KnownEventType(v.Text) {
				lerr = l.errAtPos(ErrUnknownEventType, v.Pos, where, "unknown event type '%s'", v.Text)
				return
			}
		}
	})
	return lerr, lerr != nil
}
