package rules

import (
	"slices"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Load reads the rules files in order into one namespace (a later file can
// redefine, append to or override items of an earlier one), compiles every
// rule and returns the ruleset with all diagnostics. The ruleset is nil if
// and only if the diagnostics contain an error.
func Load(sources []Source, opts Options) (*Ruleset, Diagnostics) {
	l := &loader{opts: opts}
	if l.opts.MaxConditionBytes <= 0 {
		l.opts.MaxConditionBytes = 1 << 20
	}
	if l.opts.MaxConditionNodes <= 0 {
		l.opts.MaxConditionNodes = 1 << 17
	}
	l.col = &collector{l: l}
	for _, src := range sources {
		f := &file{name: src.Name, data: utf8Text(src.Data)}
		(&reader{l: l, f: f}).readDocuments()
	}
	rs := l.compile()
	if l.diags.HasErrors() {
		return nil, l.diags
	}
	return rs, l.diags
}

// loader holds the state of one Load.
type loader struct {
	opts      Options
	diags     Diagnostics
	col       *collector
	maxEngine semver
	plugins   [][]PluginRequirement
	ps        posSpace
	// totalNodes counts the expanded condition nodes of all rules so far.
	totalNodes int
}

// report adds a diagnostic for an item.
func (l *loader) report(ctx itemCtx, sev Severity, e *loadError) {
	d := Diagnostic{Severity: sev, Code: e.code, ItemKind: ctx.kind, ItemName: ctx.name, Message: e.msg}
	if ctx.f != nil {
		d.File = ctx.f.name
	}
	switch n := nodeOr(e.node, ctx.node); {
	case e.pos != nil:
		d.File, d.Line, d.Column = e.pos.File, e.pos.Line, e.pos.Column
	case n != nil:
		d.Line, d.Column = n.Line, n.Column
	}
	l.diags = append(l.diags, d)
}

func (l *loader) sources() []string {
	if len(l.opts.Sources) == 0 {
		return []string{"syscall"}
	}
	return l.opts.Sources
}

func (l *loader) knownSource(s string) bool { return slices.Contains(l.sources(), s) }

func (l *loader) providedPlugins() map[string]string {
	if l.opts.Plugins == nil {
		return map[string]string{"container": ContainerPluginVersion}
	}
	return l.opts.Plugins
}

// checkPlugins verifies that one of the alternatives of a plugin
// requirement is provided in a compatible version.
func (l *loader) checkPlugins(alts []PluginRequirement, where *yaml.Node) *loadError {
	provided := l.providedPlugins()
	var wants []string
	for _, a := range alts {
		req, _ := parseSemver(a.Version)
		wants = append(wants, a.Name+" >= "+a.Version)
		have, ok := provided[a.Name]
		if !ok {
			continue
		}
		if v, ok := parseSemver(have); ok && v.satisfies(req) {
			return nil
		}
	}
	var have []string
	for name, v := range provided {
		have = append(have, name+" "+v)
	}
	sort.Strings(have)
	if len(have) == 0 {
		have = []string{"no plugins"}
	}
	return errAt(ErrPluginVersion, where, "plugin requirement not satisfied: the rules need %s, truesight provides %s",
		strings.Join(wants, " or "), strings.Join(have, ", "))
}
