// Package engine compiles rule conditions into evaluators bound to field
// extractors, indexes rules by the event types they can match, and runs
// each event through the rules of its type with Falco's first/all matching.
package engine
