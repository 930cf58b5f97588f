// Package rules loads Falco rules files unchanged: it reads the YAML items
// (required versions, lists, macros, rules), applies redefinitions, appends
// and overrides in file order, expands lists and exceptions into each rule's
// condition text, parses it, and resolves macros into one condition tree per
// rule. Every problem is reported as a Diagnostic pointing at the file, line
// and column, in Falco's terms, so users can fix their rules like code.
//
// The package knows nothing about how fields are extracted: callers pass
// Options.KnownField and Options.Validate so the engine can check and compile
// each rule and report its findings back through the same diagnostics.
package rules
