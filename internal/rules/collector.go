package rules

import (
	"fmt"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// listInfo, macroInfo and ruleInfo are items as collected from the files,
// before compilation. index is the slot of the first definition (which a
// redefinition keeps); visibility is the sequence number of the latest
// definition or append, which decides what a macro or list may refer to.
type listInfo struct {
	name              string
	items             []string
	ctx               itemCtx
	index, visibility int
}

type macroInfo struct {
	name              string
	cond              *text
	ctx               itemCtx
	index, visibility int
}

type ruleInfo struct {
	name            string
	ctx             itemCtx
	cond            *text
	output          string
	outputNode      *yaml.Node
	desc            string
	priority        Priority
	source          string
	enabled         bool
	tags            []string
	exceptions      []*exceptionInfo
	warnEvttypes    bool
	skipUnknown     bool
	capture         bool
	captureDuration uint64
	unknownSource   bool
	index           int
}

// ruleUpdate is an append or a selective replace of a rule's keys.
type ruleUpdate struct {
	name            string
	ctx             itemCtx
	cond            *text
	output          *string
	outputNode      *yaml.Node
	desc            *string
	tags            []string
	hasTags         bool
	exceptions      []*exceptionInfo
	hasExceptions   bool
	priority        *Priority
	enabled         *bool
	warnEvttypes    *bool
	skipUnknown     *bool
	capture         *bool
	captureDuration *uint64
	source          string
	sourceNode      *yaml.Node
}

func (u *ruleUpdate) hasAnyValue() bool {
	return u.cond != nil || u.output != nil || u.desc != nil || u.hasTags || u.hasExceptions ||
		u.priority != nil || u.enabled != nil || u.warnEvttypes != nil || u.skipUnknown != nil ||
		u.capture != nil || u.captureDuration != nil
}

// ordered keeps items in slot order with lookup by name.
type ordered[T any] struct {
	items []*T
	byKey map[string]int
}

func (o *ordered[T]) get(name string) *T {
	if i, ok := o.byKey[name]; ok {
		return o.items[i]
	}
	return nil
}

func (o *ordered[T]) put(name string, v *T) int {
	if o.byKey == nil {
		o.byKey = map[string]int{}
	}
	if i, ok := o.byKey[name]; ok {
		o.items[i] = v
		return i
	}
	o.byKey[name] = len(o.items)
	o.items = append(o.items, v)
	return len(o.items) - 1
}

// collector accumulates the items of all files in order, applying
// redefinitions, appends and overrides as Falco's rule collector does.
type collector struct {
	l      *loader
	seq    int // sequence number of definitions and appends
	lists  ordered[listInfo]
	macros ordered[macroInfo]
	rules  ordered[ruleInfo]
}

func (c *collector) next() int {
	c.seq++
	return c.seq
}

func (c *collector) defineList(info *listInfo) {
	id := c.next()
	info.index, info.visibility = id, id
	if prev := c.lists.get(info.name); prev != nil {
		info.index = prev.index
	}
	c.lists.put(info.name, info)
}

func (c *collector) appendList(info *listInfo) *loadError {
	prev := c.lists.get(info.name)
	if prev == nil {
		return errAt(ErrNoPreviousList, info.ctx.node, "list uses 'append' or 'override.items: append' but no list named %q is defined before it", info.name)
	}
	prev.items = append(prev.items, info.items...)
	prev.visibility = c.next()
	return nil
}

func (c *collector) defineMacro(info *macroInfo) {
	id := c.next()
	info.index, info.visibility = id, id
	if prev := c.macros.get(info.name); prev != nil {
		info.index = prev.index
	}
	c.macros.put(info.name, info)
}

func (c *collector) appendMacro(info *macroInfo) *loadError {
	prev := c.macros.get(info.name)
	if prev == nil {
		return errAt(ErrNoPreviousMacro, info.ctx.node, "macro uses 'append' or 'override.condition: append' but no macro named %q is defined before it", info.name)
	}
	prev.cond.add(" ")
	prev.cond.addText(info.cond)
	prev.visibility = c.next()
	return nil
}

func (c *collector) defineRule(info *ruleInfo) *loadError {
	prev := c.rules.get(info.name)
	if prev != nil && prev.source != info.source {
		return errSource(info.ctx.node, info.name, prev)
	}
	if !c.l.knownSource(info.source) {
		info.unknownSource = true
		c.l.report(info.ctx, Warning, errAt(WarnUnknownSource, get(info.ctx.node, "source"),
			"unknown source %q: this rule is skipped (truesight evaluates %s)", info.source, strings.Join(c.l.sources(), ", ")))
	}
	for _, ex := range info.exceptions {
		if !ex.fields.valid() {
			return errAt(ErrException, ex.node, "exception %q must have a 'fields' key with a field or a list of fields", ex.name)
		}
		if err := c.validateException(info, ex); err != nil {
			return err
		}
	}
	id := c.next()
	info.index = id
	if prev != nil {
		info.index = prev.index
	}
	c.rules.put(info.name, info)
	return nil
}

func errSource(n *yaml.Node, name string, prev *ruleInfo) *loadError {
	return errAt(ErrSourceMismatch, n, "rule has been re-defined with a different source: %q was defined at %s with source %q",
		name, prev.ctx.where(), prev.source)
}

func (ctx itemCtx) where() string {
	if ctx.node == nil {
		return ctx.f.name
	}
	return ctx.f.name + ":" + strconv.Itoa(ctx.node.Line) + ":" + strconv.Itoa(ctx.node.Column)
}

// updatable finds the rule an append or override applies to.
func (c *collector) updatable(u *ruleUpdate, missing Code, what string) (*ruleInfo, *loadError) {
	prev := c.rules.get(u.name)
	if prev == nil {
		return nil, errAt(missing, u.ctx.node, "%s but no rule named %q is defined before it", what, u.name)
	}
	if u.source != "" && u.source != prev.source {
		return nil, errSource(u.sourceNode, u.name, prev)
	}
	return prev, nil
}

func (c *collector) appendRule(u *ruleUpdate) *loadError {
	prev, err := c.updatable(u, ErrNoPreviousRuleAppend, "rule uses 'append' or 'override.<key>: append'")
	if err != nil {
		return err
	}
	if !u.hasAnyValue() {
		return errAt(ErrYAMLSchema, u.ctx.node, "an appended rule must have a condition or exceptions to append")
	}
	if u.cond != nil && u.cond.len() > 0 {
		prev.cond.add(" ")
		prev.cond.addText(u.cond)
	}
	if u.output != nil && *u.output != "" {
		prev.output += " " + *u.output
	}
	if u.desc != nil && *u.desc != "" {
		prev.desc += " " + *u.desc
	}
	if u.hasTags {
		prev.tags = tagSet(prev.tags, u.tags)
	}
	byName := map[string]*exceptionInfo{}
	for _, p := range prev.exceptions {
		if byName[p.name] == nil {
			byName[p.name] = p
		}
	}
	for _, ex := range u.exceptions {
		old := byName[ex.name]
		if old == nil {
			if !ex.fields.valid() {
				return errAt(ErrException, ex.node, "new exception %q must have a 'fields' key with a field or a list of fields", ex.name)
			}
			if len(ex.values) == 0 {
				return errAt(ErrException, ex.node, "new exception %q must have a 'values' key with a list of values", ex.name)
			}
			if err := c.validateException(prev, ex); err != nil {
				return err
			}
			prev.exceptions = append(prev.exceptions, ex)
			byName[ex.name] = ex
			continue
		}
		if ex.fields.defined {
			return errAt(ErrException, ex.node, "cannot append fields to existing exception %q, only values", ex.name)
		}
		if ex.comps.defined {
			return errAt(ErrException, ex.node, "cannot append comps to existing exception %q, only values", ex.name)
		}
		old.values = append(old.values, ex.values...)
	}
	c.next()
	return nil
}

func (c *collector) replaceRule(u *ruleUpdate) *loadError {
	prev, err := c.updatable(u, ErrNoPreviousRuleReplace, "an 'override.<key>: replace' was requested")
	if err != nil {
		return err
	}
	if !u.hasAnyValue() {
		return errAt(ErrYAMLSchema, u.ctx.node, "the rule must have at least one key that can be replaced")
	}
	if u.cond != nil {
		prev.cond = u.cond
	}
	if u.output != nil {
		prev.output = *u.output
	}
	if u.desc != nil {
		prev.desc = *u.desc
	}
	if u.hasTags {
		prev.tags = u.tags
	}
	if u.hasExceptions {
		for _, ex := range u.exceptions {
			if err := c.validateException(prev, ex); err != nil {
				return err
			}
		}
		prev.exceptions = u.exceptions
	}
	if u.priority != nil {
		prev.priority = *u.priority
	}
	if u.enabled != nil {
		prev.enabled = *u.enabled
	}
	if u.warnEvttypes != nil {
		prev.warnEvttypes = *u.warnEvttypes
	}
	if u.skipUnknown != nil {
		prev.skipUnknown = *u.skipUnknown
	}
	if u.capture != nil {
		prev.capture = *u.capture
	}
	if u.captureDuration != nil {
		prev.captureDuration = *u.captureDuration
	}
	c.next()
	return nil
}

func (c *collector) enableRule(name string, enabled bool, ctx itemCtx) *loadError {
	prev := c.rules.get(name)
	if prev == nil {
		return errAt(ErrNoPreviousRuleEnable, ctx.node, "rule has an 'enabled' key but no rule named %q is defined before it", name)
	}
	prev.enabled = enabled
	return nil
}

// semver is a version "major.minor.patch"; anything after the patch number
// (pre-release, build) is ignored, as Falco does.
type semver struct{ major, minor, patch uint64 }

func parseSemver(s string) (semver, bool) {
	var v semver
	parts := strings.SplitN(s, ".", 3)
	if len(parts) != 3 {
		return v, false
	}
	last := parts[2]
	end := 0
	for end < len(last) && last[end] >= '0' && last[end] <= '9' {
		end++
	}
	if end < len(last) && last[end] != '-' && last[end] != '+' {
		return v, false
	}
	nums := []string{parts[0], parts[1], last[:end]}
	dst := []*uint64{&v.major, &v.minor, &v.patch}
	for i, n := range nums {
		u, ok := parseUint(n, 32)
		if !ok {
			return v, false
		}
		*dst[i] = u
	}
	return v, true
}

func (v semver) String() string { return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch) }

func (v semver) less(o semver) bool {
	if v.major != o.major {
		return v.major < o.major
	}
	if v.minor != o.minor {
		return v.minor < o.minor
	}
	return v.patch < o.patch
}

// satisfies reports whether v can serve where req is required: same major
// version, and not older.
func (v semver) satisfies(req semver) bool { return v.major == req.major && !v.less(req) }
