package rules

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// itemCtx says which item of which file a diagnostic is about.
type itemCtx struct {
	f    *file
	kind string
	name string
	node *yaml.Node
}

// loadError is a problem found while reading or compiling one item; node
// (or, failing that, the item) is where it is reported.
type loadError struct {
	code Code
	msg  string
	node *yaml.Node
	pos  *Position // overrides node when set
}

func (e *loadError) Error() string { return e.msg }

func errAt(code Code, node *yaml.Node, format string, args ...any) *loadError {
	return &loadError{code: code, msg: fmt.Sprintf(format, args...), node: node}
}

// The item kinds, in the order that decides an item's kind.
var itemKinds = []string{"required_engine_version", "required_plugin_versions", "list", "macro", "rule"}

var allowedKeys = map[string][]string{
	"required_engine_version":  {"required_engine_version"},
	"required_plugin_versions": {"required_plugin_versions"},
	"list":                     {"list", "items", "append", "override"},
	"macro":                    {"macro", "condition", "append", "override"},
	"rule": {"rule", "condition", "output", "desc", "priority", "source", "enabled", "tags",
		"exceptions", "warn_evttypes", "skip-if-unknown-filter", "capture", "capture_duration",
		"append", "override"},
}

var (
	// Names a condition can refer to: Falco's filter grammar tokens.
	rgxIdentifier = regexp.MustCompile(`^[a-zA-Z]+[a-zA-Z0-9_]*$`)
	rgxBareString = regexp.MustCompile(`^[^()"'\s=,]+$`)
)

var (
	ruleAppendable  = []string{"condition", "output", "desc", "tags", "exceptions"}
	ruleReplaceable = []string{"condition", "output", "desc", "priority", "tags", "exceptions",
		"enabled", "warn_evttypes", "skip-if-unknown-filter", "capture", "capture_duration"}
)

// reader turns YAML items into collector definitions.
type reader struct {
	l *loader
	f *file
}

func (r *reader) readDocuments() {
	docs, err := decodeDocuments(r.f.data)
	if err != nil {
		r.yamlError(err)
		return
	}
	for _, doc := range docs {
		root := doc
		if root.Kind == yaml.DocumentNode {
			if len(root.Content) == 0 {
				continue
			}
			root = root.Content[0]
		}
		root = deref(root)
		if isNull(root) {
			continue
		}
		if root.Kind != yaml.SequenceNode {
			ctx := itemCtx{f: r.f, node: root}
			r.l.report(ctx, Error, errAt(ErrYAMLSchema, root,
				"rules content must be a sequence of items (each like `- rule: name`), not %s", kindName(root)))
			continue
		}
		for _, item := range root.Content {
			if isNull(item) {
				continue
			}
			r.readItem(item)
		}
	}
}

// yamlError reports a YAML syntax error at its line, naming the item the
// line belongs to when it can be guessed.
func (r *reader) yamlError(err error) {
	msg := err.Error()
	line := yamlErrorLine(msg)
	d := Diagnostic{Severity: Error, Code: ErrYAMLParse, File: r.f.name, Line: line, Message: msg}
	if line > 0 {
		starts := r.f.lineStarts()
		if line <= len(starts) {
			off := starts[line-1]
			for off < len(r.f.data) && (r.f.data[off] == ' ' || r.f.data[off] == '\t') {
				off++
			}
			_, d.Column = r.f.position(off)
		}
		d.ItemKind, d.ItemName = guessItem(r.f, line)
	}
	r.l.diags = append(r.l.diags, d)
}

var rgxItemStart = regexp.MustCompile(`^-\s+(rule|macro|list)\s*:\s*(.*?)\s*$`)

// guessItem finds the item a broken line belongs to: the nearest line above
// that starts a rule, macro or list.
func guessItem(f *file, line int) (kind, name string) {
	starts := f.lineStarts()
	for l := min(line, len(starts)); l >= 1 && line-l < 10000; l-- {
		end := len(f.data)
		if l < len(starts) {
			end = starts[l]
		}
		text := strings.TrimRight(string(f.data[starts[l-1]:end]), "\r\n")
		if m := rgxItemStart.FindStringSubmatch(text); m != nil {
			name := m[2]
			if i := strings.Index(name, " #"); i >= 0 {
				name = strings.TrimSpace(name[:i])
			}
			if uq, err := strconv.Unquote(name); err == nil {
				name = uq
			} else if len(name) >= 2 && name[0] == '\'' && name[len(name)-1] == '\'' {
				name = name[1 : len(name)-1]
			}
			return m[1], name
		}
	}
	return "", ""
}

func (r *reader) readItem(item *yaml.Node) {
	item = deref(item)
	ctx := itemCtx{f: r.f, node: item}
	if item == nil || item.Kind != yaml.MappingNode {
		r.l.report(ctx, Error, errAt(ErrYAMLSchema, item,
			"each item must be a mapping (like `- rule: name`), not %s", kindName(item)))
		return
	}
	for _, k := range itemKinds {
		if has(item, k) {
			ctx.kind = k
			break
		}
	}
	if ctx.kind == "" {
		r.l.report(ctx, Warning, errAt(WarnUnknownItem, item,
			"unknown item: it has none of the keys rule, macro, list, required_engine_version, required_plugin_versions; ignored"))
		return
	}
	if ctx.kind == "list" || ctx.kind == "macro" || ctx.kind == "rule" {
		// The name, when readable, labels every later message.
		if n := deref(get(item, ctx.kind)); isScalar(n) {
			ctx.name = n.Value
		}
	}
	for _, kv := range entries(item) {
		if !slices.Contains(allowedKeys[ctx.kind], kv.key) {
			r.l.report(ctx, Warning, errAt(WarnUnknownKey, kv.keyN,
				"unknown key '%s' for a %s; it is ignored (check the spelling, or whether it belongs to another kind of item)",
				kv.key, strings.ReplaceAll(ctx.kind, "_", " ")))
		}
	}
	var err *loadError
	switch ctx.kind {
	case "required_engine_version":
		err = r.readEngineVersion(ctx)
	case "required_plugin_versions":
		err = r.readPluginVersions(ctx)
	case "list":
		err = r.readList(ctx)
	case "macro":
		err = r.readMacro(ctx)
	case "rule":
		err = r.readRule(ctx)
	}
	if err != nil {
		r.l.report(ctx, Error, err)
	}
}

// str decodes a required, non-empty scalar.
func str(item *yaml.Node, key string) (string, *yaml.Node, *loadError) {
	n := get(item, key)
	if n == nil {
		return "", item, errAt(ErrMissingKey, item, "missing required key '%s'", key)
	}
	v := deref(n)
	if isNull(v) {
		return "", n, errAt(ErrYAMLSchema, n, "key '%s' has no value", key)
	}
	if v.Kind != yaml.ScalarNode {
		return "", n, errAt(ErrYAMLSchema, n, "value of '%s' must be a scalar, not %s", key, kindName(v))
	}
	if v.Value == "" {
		return "", n, errAt(ErrYAMLSchema, n, "value of '%s' must not be empty", key)
	}
	return v.Value, v, nil
}

// optBool decodes an optional boolean; present reports whether it was set.
func optBool(item *yaml.Node, key string) (val, present bool, err *loadError) {
	if !has(item, key) {
		return false, false, nil
	}
	s, n, err := str(item, key)
	if err != nil {
		return false, true, err
	}
	b, ok := parseBool(s)
	if !ok {
		return false, true, errAt(ErrYAMLSchema, n, "value of '%s' must be true or false, not %q", key, s)
	}
	return b, true, nil
}

// stringSeq decodes a sequence of scalars.
func stringSeq(item *yaml.Node, key string) ([]string, *loadError) {
	n := get(item, key)
	if n == nil {
		return nil, errAt(ErrMissingKey, item, "missing required key '%s'", key)
	}
	v := deref(n)
	if v == nil || v.Kind != yaml.SequenceNode {
		return nil, errAt(ErrYAMLSchema, n, "value of '%s' must be a sequence (like [a, b]), not %s", key, kindName(v))
	}
	out := make([]string, 0, len(v.Content))
	for _, e := range v.Content {
		if !isScalar(e) {
			return nil, errAt(ErrYAMLSchema, e, "each entry of '%s' must be a string, not %s", key, kindName(e))
		}
		out = append(out, deref(e).Value)
	}
	return out, nil
}

// overrides decodes the override key into the keys to append and replace.
func overrides(item *yaml.Node, appendable, replaceable []string) (app, repl []string, err *loadError) {
	n := get(item, "override")
	if n == nil {
		return nil, nil, nil
	}
	m := deref(n)
	if isNull(m) {
		return nil, nil, nil
	}
	if m.Kind != yaml.MappingNode {
		return nil, nil, errAt(ErrOverride, n, "'override' must be a mapping of keys to append or replace (like `condition: append`), not %s", kindName(m))
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := deref(m.Content[i]), deref(m.Content[i+1])
		if !isScalar(k) {
			return nil, nil, errAt(ErrOverride, m.Content[i], "keys under 'override' must be strings")
		}
		if !isScalar(v) {
			return nil, nil, errAt(ErrOverride, m.Content[i+1], "override operation for key '%s' must be append or replace, not %s", k.Value, kindName(v))
		}
		key, op := k.Value, v.Value
		canAppend, canReplace := slices.Contains(appendable, key), slices.Contains(replaceable, key)
		switch op {
		case "append":
			if !canAppend {
				return nil, nil, errAt(ErrOverride, k, "key '%s' cannot be appended to, use 'replace' instead", key)
			}
			app = append(app, key)
		case "replace":
			if !canReplace {
				return nil, nil, errAt(ErrOverride, k, "key '%s' cannot be replaced", key)
			}
			repl = append(repl, key)
		default:
			var allowed []string
			if canAppend {
				allowed = append(allowed, "append")
			}
			if canReplace {
				allowed = append(allowed, "replace")
			}
			return nil, nil, errAt(ErrOverride, v, "invalid override operation for key '%s': '%s' (allowed: %s)", key, op, strings.Join(allowed, ", "))
		}
	}
	return app, repl, nil
}

func (r *reader) appendFlag(ctx itemCtx) (bool, *loadError) {
	app, _, err := optBool(ctx.node, "append")
	if err != nil {
		return false, err
	}
	if app {
		r.l.report(ctx, Warning, errAt(WarnAppend, get(ctx.node, "append"),
			"'append' key is deprecated: add an 'append' entry (e.g. 'condition: append') under 'override' instead"))
	}
	return app, nil
}

func (r *reader) readEngineVersion(ctx itemCtx) *loadError {
	s, n, err := str(ctx.node, "required_engine_version")
	if err != nil {
		return err
	}
	var v semver
	if u, ok := parseUint(s, 32); ok {
		v = semver{0, u, 0}
	} else if v, ok = parseSemver(s); !ok {
		return errAt(ErrEngineVersion, n, "unable to parse engine version '%s': expected a semver string \"x.y.z\"", s)
	}
	ours, _ := parseSemver(EngineVersion)
	if !ours.satisfies(v) {
		return errAt(ErrEngineVersion, n, "rules require engine version %s, but this engine implements version %s; use rules written for %s or older", v, EngineVersion, EngineVersion)
	}
	if r.l.maxEngine.less(v) {
		r.l.maxEngine = v
	}
	return nil
}

func (r *reader) readPluginVersions(ctx itemCtx) *loadError {
	n := get(ctx.node, "required_plugin_versions")
	seq := deref(n)
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return errAt(ErrYAMLSchema, n, "value of required_plugin_versions must be a sequence, not %s", kindName(seq))
	}
	for _, e := range seq.Content {
		entry := deref(e)
		if entry == nil || entry.Kind != yaml.MappingNode {
			return errAt(ErrYAMLSchema, e, "each plugin version must be a mapping with name and version, not %s", kindName(e))
		}
		var alts []PluginRequirement
		req, err := r.pluginRequirement(ctx, entry)
		if err != nil {
			return err
		}
		alts = append(alts, req)
		if an := get(entry, "alternatives"); an != nil {
			as := deref(an)
			if as == nil || as.Kind != yaml.SequenceNode {
				return errAt(ErrYAMLSchema, an, "value of plugin version alternatives must be a sequence, not %s", kindName(as))
			}
			for _, a := range as.Content {
				am := deref(a)
				if am == nil || am.Kind != yaml.MappingNode {
					return errAt(ErrYAMLSchema, a, "each plugin version alternative must be a mapping with name and version, not %s", kindName(a))
				}
				req, err := r.pluginRequirement(ctx, am)
				if err != nil {
					return err
				}
				alts = append(alts, req)
			}
		}
		seen := map[string]bool{}
		for _, a := range alts {
			if seen[a.Name] {
				return errAt(ErrPluginVersion, entry, "multiple alternative version requirements for plugin '%s'", a.Name)
			}
			seen[a.Name] = true
		}
		if err := r.l.checkPlugins(alts, entry); err != nil {
			return err
		}
		r.l.plugins = append(r.l.plugins, alts)
	}
	return nil
}

func (r *reader) pluginRequirement(ctx itemCtx, m *yaml.Node) (PluginRequirement, *loadError) {
	for _, kv := range entries(m) {
		if kv.key != "name" && kv.key != "version" && kv.key != "alternatives" {
			r.l.report(ctx, Warning, errAt(WarnUnknownKey, kv.keyN, "unknown key '%s' for a plugin version requirement; it is ignored", kv.key))
		}
	}
	name, _, err := str(m, "name")
	if err != nil {
		return PluginRequirement{}, err
	}
	ver, vn, err := str(m, "version")
	if err != nil {
		return PluginRequirement{}, err
	}
	if _, ok := parseSemver(ver); !ok {
		return PluginRequirement{}, errAt(ErrPluginVersion, vn, "invalid required version '%s' for plugin '%s': expected \"x.y.z\"", ver, name)
	}
	return PluginRequirement{Name: name, Version: ver}, nil
}

func (r *reader) readList(ctx itemCtx) *loadError {
	name, _, err := str(ctx.node, "list")
	if err != nil {
		return err
	}
	if !rgxBareString.MatchString(name) {
		r.l.report(ctx, Warning, errAt(WarnInvalidListName, ctx.node,
			"invalid list name: a list name must match %s to be usable in a condition", `[^()"'[:space:]=,]+`))
	}
	items, err := stringSeq(ctx.node, "items")
	if err != nil {
		return err
	}
	app, err := r.appendFlag(ctx)
	if err != nil {
		return err
	}
	oa, or, err := overrides(ctx.node, []string{"items"}, []string{"items"})
	if err != nil {
		return err
	}
	if app && (len(oa) > 0 || len(or) > 0) {
		return errAt(ErrOverrideAppend, ctx.node, "keys 'override' and 'append: true' cannot be used together: add an 'append' entry (e.g. 'items: append') under 'override' instead")
	}
	info := &listInfo{name: name, items: items, ctx: ctx}
	if app || len(oa) > 0 {
		return r.l.col.appendList(info)
	}
	r.l.col.defineList(info)
	return nil
}

func (r *reader) readMacro(ctx itemCtx) *loadError {
	name, _, err := str(ctx.node, "macro")
	if err != nil {
		return err
	}
	if !rgxIdentifier.MatchString(name) {
		r.l.report(ctx, Warning, errAt(WarnInvalidMacroName, ctx.node,
			"invalid macro name: a macro name must match %s to be usable in a condition", `[a-zA-Z]+[a-zA-Z0-9_]*`))
	}
	_, cn, err := str(ctx.node, "condition")
	if err != nil {
		return err
	}
	app, err := r.appendFlag(ctx)
	if err != nil {
		return err
	}
	oa, or, err := overrides(ctx.node, []string{"condition"}, []string{"condition"})
	if err != nil {
		return err
	}
	if app && (len(oa) > 0 || len(or) > 0) {
		return errAt(ErrOverrideAppend, ctx.node, "keys 'override' and 'append: true' cannot be used together: add an 'append' entry (e.g. 'condition: append') under 'override' instead")
	}
	info := &macroInfo{name: name, cond: newScalarText(&scalarRef{f: r.f, n: cn}), ctx: ctx}
	if app || len(oa) > 0 {
		return r.l.col.appendMacro(info)
	}
	r.l.col.defineMacro(info)
	return nil
}

func (r *reader) readRule(ctx itemCtx) *loadError {
	item := ctx.node
	name, _, err := str(item, "rule")
	if err != nil {
		return err
	}
	app, err := r.appendFlag(ctx)
	if err != nil {
		return err
	}
	oa, or, err := overrides(item, ruleAppendable, ruleReplaceable)
	if err != nil {
		return err
	}
	if app && (len(oa) > 0 || len(or) > 0) {
		return errAt(ErrOverrideAppend, item, "keys 'override' and 'append: true' cannot be used together: add an 'append' entry (e.g. 'condition: append') under 'override' instead")
	}
	switch {
	case len(oa) > 0 || len(or) > 0:
		return r.readRuleOverride(ctx, name, oa, or)
	case app:
		u := &ruleUpdate{name: name, ctx: ctx}
		if has(item, "condition") {
			_, cn, err := str(item, "condition")
			if err != nil {
				return err
			}
			u.cond = newScalarText(&scalarRef{f: r.f, n: cn})
		}
		if has(item, "exceptions") {
			if u.exceptions, err = r.readExceptions(ctx, true); err != nil {
				return err
			}
			u.hasExceptions = true
		}
		updateSource(item, u)
		return r.l.col.appendRule(u)
	case !has(item, "condition") && !has(item, "output") && !has(item, "desc") && !has(item, "priority"):
		enabled, present, err := optBool(item, "enabled")
		if err != nil {
			return err
		}
		if !present {
			return errAt(ErrMissingKey, item, "missing required key 'condition' (a rule redefinition without condition, output, desc and priority must set 'enabled')")
		}
		r.l.report(ctx, Warning, errAt(WarnEnabled, get(item, "enabled"),
			"the standalone 'enabled' key is deprecated: also add 'enabled: replace' under 'override'"))
		return r.l.col.enableRule(name, enabled, ctx)
	}
	return r.readRuleDefinition(ctx, name)
}

func (r *reader) readRuleDefinition(ctx itemCtx, name string) *loadError {
	item := ctx.node
	info := &ruleInfo{name: name, ctx: ctx, enabled: true, warnEvttypes: true, source: "syscall"}
	_, cn, err := str(item, "condition")
	if err != nil {
		return err
	}
	info.cond = newScalarText(&scalarRef{f: r.f, n: cn})
	if info.output, _, err = str(item, "output"); err != nil {
		return err
	}
	info.output = strings.TrimSpace(info.output)
	info.outputNode = deref(get(item, "output"))
	if info.desc, _, err = str(item, "desc"); err != nil {
		return err
	}
	pri, pn, err := str(item, "priority")
	if err != nil {
		return err
	}
	var ok bool
	if info.priority, ok = ParsePriority(pri); !ok {
		return errPriority(pn, pri)
	}
	if has(item, "source") {
		if info.source, _, err = str(item, "source"); err != nil {
			return err
		}
	}
	if v, present, err := optBool(item, "enabled"); err != nil {
		return err
	} else if present {
		info.enabled = v
	}
	if v, present, err := optBool(item, "warn_evttypes"); err != nil {
		return err
	} else if present {
		info.warnEvttypes = v
	}
	if v, present, err := optBool(item, "skip-if-unknown-filter"); err != nil {
		return err
	} else if present {
		info.skipUnknown = v
	}
	if v, present, err := optBool(item, "capture"); err != nil {
		return err
	} else if present {
		info.capture = v
	}
	if has(item, "capture_duration") {
		if info.captureDuration, err = captureDuration(item); err != nil {
			return err
		}
	}
	if has(item, "tags") {
		tags, err := stringSeq(item, "tags")
		if err != nil {
			return err
		}
		info.tags = tagSet(nil, tags)
	}
	if info.exceptions, err = r.readExceptions(ctx, false); err != nil {
		return err
	}
	return r.l.col.defineRule(info)
}

func errPriority(n *yaml.Node, s string) *loadError {
	return errAt(ErrPriority, n, "invalid priority %q: use one of EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFORMATIONAL (or INFO), DEBUG", s)
}

func captureDuration(item *yaml.Node) (uint64, *loadError) {
	s, n, err := str(item, "capture_duration")
	if err != nil {
		return 0, err
	}
	v, ok := parseUint(s, 64)
	if !ok {
		return 0, errAt(ErrYAMLSchema, n, "value of 'capture_duration' must be a number of milliseconds, not %q", s)
	}
	return v, nil
}

// tagSet adds tags to a sorted set.
func tagSet(set, tags []string) []string {
	out := append(slices.Clone(set), tags...)
	slices.Sort(out)
	return slices.Compact(out)
}

// updateSource records a non-empty source given with an append or override,
// which must match the rule's.
func updateSource(item *yaml.Node, u *ruleUpdate) {
	n := deref(get(item, "source"))
	if isScalar(n) && n.Value != "" {
		u.source = n.Value
		u.sourceNode = n
	}
}

func (r *reader) readRuleOverride(ctx itemCtx, name string, oa, or []string) *loadError {
	item := ctx.node
	expected := map[string]bool{}
	for _, k := range append(slices.Clone(ruleAppendable), ruleReplaceable...) {
		if has(item, k) {
			expected[k] = true
		}
	}
	check := func(ops []string, op, key string) (bool, *loadError) {
		if !slices.Contains(ops, key) {
			return false, nil
		}
		if !expected[key] {
			return false, errAt(ErrOverride, item, "an %s override for '%s' was specified but '%s' is not defined", op, key, key)
		}
		delete(expected, key)
		return true, nil
	}
	for _, pass := range []struct {
		op   string
		keys []string
	}{{"append", oa}, {"replace", or}} {
		if len(pass.keys) == 0 {
			continue
		}
		u := &ruleUpdate{name: name, ctx: ctx}
		isAppend := pass.op == "append"
		if ok, err := check(pass.keys, pass.op, "condition"); err != nil {
			return err
		} else if ok {
			_, cn, err := str(item, "condition")
			if err != nil {
				return err
			}
			u.cond = newScalarText(&scalarRef{f: r.f, n: cn})
		}
		if ok, err := check(pass.keys, pass.op, "exceptions"); err != nil {
			return err
		} else if ok {
			ex, err := r.readExceptions(ctx, isAppend)
			if err != nil {
				return err
			}
			u.exceptions, u.hasExceptions = ex, true
		}
		if ok, err := check(pass.keys, pass.op, "output"); err != nil {
			return err
		} else if ok {
			s, on, err := str(item, "output")
			if err != nil {
				return err
			}
			u.output, u.outputNode = &s, on
		}
		if ok, err := check(pass.keys, pass.op, "desc"); err != nil {
			return err
		} else if ok {
			s, _, err := str(item, "desc")
			if err != nil {
				return err
			}
			u.desc = &s
		}
		if ok, err := check(pass.keys, pass.op, "tags"); err != nil {
			return err
		} else if ok {
			tags, err := stringSeq(item, "tags")
			if err != nil {
				return err
			}
			u.tags, u.hasTags = tagSet(nil, tags), true
		}
		if !isAppend {
			if ok, err := check(pass.keys, pass.op, "priority"); err != nil {
				return err
			} else if ok {
				s, pn, err := str(item, "priority")
				if err != nil {
					return err
				}
				p, valid := ParsePriority(s)
				if !valid {
					return errPriority(pn, s)
				}
				u.priority = &p
			}
			for _, b := range []struct {
				key string
				dst **bool
			}{{"enabled", &u.enabled}, {"warn_evttypes", &u.warnEvttypes}, {"skip-if-unknown-filter", &u.skipUnknown}, {"capture", &u.capture}} {
				if ok, err := check(pass.keys, pass.op, b.key); err != nil {
					return err
				} else if ok {
					v, _, err := optBool(item, b.key)
					if err != nil {
						return err
					}
					*b.dst = &v
				}
			}
			if ok, err := check(pass.keys, pass.op, "capture_duration"); err != nil {
				return err
			} else if ok {
				d, err := captureDuration(item)
				if err != nil {
					return err
				}
				u.captureDuration = &d
			}
		}
		updateSource(item, u)
		var err *loadError
		if isAppend {
			err = r.l.col.appendRule(u)
		} else {
			err = r.l.col.replaceRule(u)
		}
		if err != nil {
			return err
		}
	}
	for _, k := range append(slices.Clone(ruleAppendable), ruleReplaceable...) {
		if expected[k] {
			kn := item
			for _, kv := range entries(item) {
				if kv.key == k {
					kn = kv.keyN
					break
				}
			}
			return errAt(ErrOverride, kn, "unexpected key '%s': no corresponding entry under 'override' is defined (add '%s: append' or '%s: replace' there)", k, k, k)
		}
	}
	return nil
}
