// Package rules loads Falco rules files unchanged: it reads the YAML items
// (required versions, lists, macros, rules), applies redefinitions, appends
// and overrides in file order, expands lists and exceptions into each rule's
// condition text, parses it, and resolves macros into one condition tree per
// rule, with Falco 0.4x (engine version 0.57.0) semantics. Every problem is a
// Diagnostic pointing at file, line and column, like a compiler message.
//
// The package knows nothing about how fields are extracted: the engine
// passes Options.KnownField to check field names and Options.Validate to
// compile each rule, reporting back through the same diagnostics (a
// *CompileError locates the problem at a node of the condition).
package rules
