package rules

import (
	"github.com/truesightsec/truesight/internal/condition"
)

// EngineVersion is the Falco rules engine version whose semantics this
// loader implements; required_engine_version items are checked against it.
const EngineVersion = "0.57.0"

// ContainerPluginVersion is the version of Falco's container plugin whose
// fields truesight provides natively.
const ContainerPluginVersion = "0.4.0"

// Source is one rules file: Name is used in messages, Data is its content.
type Source struct {
	Name string
	Data []byte
}

// Options tune a load. The zero value loads syscall rules with no field
// checks; the engine passes KnownField and Validate.
type Options struct {
	// Sources are the event sources the engine can evaluate. Rules for
	// other sources are skipped with a warning, as Falco does when the
	// plugin is missing. Empty means just "syscall".
	Sources []string
	// Plugins maps plugin names to the versions we provide, for checking
	// required_plugin_versions. Nil means {"container": ContainerPluginVersion}.
	Plugins map[string]string
	// KnownField reports whether a field name as written in a condition or
	// output ("proc.aname[2]", "evt.arg.flags") exists. Nil skips field checks.
	KnownField func(name string) bool
	// KnownEventType reports whether an evt.type value names an event.
	// Nil skips the check.
	KnownEventType func(name string) bool
	// Validate lets the engine compile each rule that passed the loader's
	// own checks. Return a *CompileError to point at a node of the
	// condition; any other error is reported at the rule.
	Validate func(r *Rule) error
	// MaxConditionBytes bounds a condition's text, before and after list
	// expansion. Zero means 1 MiB.
	MaxConditionBytes int
	// MaxConditionNodes bounds a condition's size once macros are
	// expanded, and 16 times it the total over all rules. Zero means 1<<17
	// nodes (Falco's stable rules have at most 124, and 485 in all).
	MaxConditionNodes int
}

// CompileError is what Options.Validate returns to report a problem at a
// node of Rule.Condition.
type CompileError struct {
	// Pos is the Position() of the offending node, or NoPos for the rule.
	Pos condition.Pos
	// Unknown marks an unknown field or event type: a rule with
	// skip-if-unknown-filter is then skipped with a warning instead.
	Unknown bool
	Msg     string
}

// NoPos is a CompileError.Pos that points at the rule rather than a node.
const NoPos condition.Pos = -1

// Error returns the message.
func (e *CompileError) Error() string { return e.Msg }

// Position is a place in a rules file. Line and Column are 1-based.
type Position struct {
	File   string
	Line   int
	Column int
}

// Rule is a compiled rule.
type Rule struct {
	Name string
	Desc string
	// Condition is the parsed condition with lists, exceptions and macros
	// expanded. Subtrees of macros are shared between rules: treat the
	// tree as read-only. Node positions are loader positions; pass them to
	// Ruleset.Position to get a file, line and column.
	Condition condition.Expr
	// ConditionText is Condition printed in canonical form, as Falco's
	// "condition_compiled".
	ConditionText string
	Output        string
	Priority      Priority
	Source        string
	// Tags are sorted and without duplicates, as Falco keeps them.
	Tags    []string
	Enabled bool
	// EventTypes are the event type names the condition can match, sorted.
	// When AllEventTypes is set it can instead match every event type
	// except those in EventTypes (usually none: no evt.type constraint).
	EventTypes          []string
	AllEventTypes       bool
	WarnEvttypes        bool
	SkipIfUnknownFilter bool
	Capture             bool
	// CaptureDuration is in milliseconds; zero means the engine's default.
	CaptureDuration uint64
	// ExceptionFields are the fields named by the rule's exceptions, sorted.
	ExceptionFields []string
	// File, Line and Column locate the rule's (last) definition.
	File   string
	Line   int
	Column int
}

// List is a list after appends, with references to earlier lists inlined.
type List struct {
	Name  string
	Items []string
	Used  bool
	File  string
	Line  int
}

// Macro is a macro after appends, with its condition resolved.
type Macro struct {
	Name string
	// Text is the macro's condition text as written (after appends).
	Text      string
	Condition condition.Expr
	Used      bool
	File      string
	Line      int
}

// PluginRequirement is one acceptable plugin version.
type PluginRequirement struct {
	Name    string
	Version string
}

// Ruleset is the result of a successful load.
type Ruleset struct {
	// Rules in file order (a redefined rule keeps its first slot). Rules
	// for unknown sources and rules skipped by skip-if-unknown-filter are
	// not included.
	Rules  []*Rule
	Lists  []*List
	Macros []*Macro
	// RequiredEngineVersion is the highest version the files asked for.
	RequiredEngineVersion string
	// RequiredPlugins holds each required_plugin_versions entry with its
	// alternatives.
	RequiredPlugins [][]PluginRequirement

	positions *posSpace
}

// Rule returns the rule with that name, or nil.
func (rs *Ruleset) Rule(name string) *Rule {
	for _, r := range rs.Rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Position maps the position of a condition node of a rule or macro in this
// ruleset to its place in the rules files.
func (rs *Ruleset) Position(p condition.Pos) Position {
	if rs == nil || rs.positions == nil {
		return Position{}
	}
	return rs.positions.position(p)
}
