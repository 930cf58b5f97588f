// Package fields is the registry of every field a condition or an output
// format can name (proc.name, fd.name, container.id, ...): its type, its
// argument form, a one-line description and an extractor over an event and
// the state of the process that caused it. Conditions and outputs share it.
package fields
