package rules

import "strings"

// Priority is a rule's severity. Lower values are more severe, as in Falco.
type Priority int

// The eight priorities, most severe first.
const (
	PriorityEmergency Priority = iota
	PriorityAlert
	PriorityCritical
	PriorityError
	PriorityWarning
	PriorityNotice
	PriorityInformational
	PriorityDebug
)

var priorityNames = [...]string{
	"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug",
}

// String returns the priority capitalised as Falco prints it in alerts,
// e.g. "Warning" or "Informational".
func (p Priority) String() string {
	if p < 0 || int(p) >= len(priorityNames) {
		return "Unknown"
	}
	return priorityNames[p]
}

// ParsePriority reads a priority name case-insensitively. "INFO" is accepted
// for Informational, as Falco does for historical reasons.
func ParsePriority(s string) (Priority, bool) {
	for i, name := range priorityNames {
		if strings.EqualFold(s, name) {
			return Priority(i), true
		}
	}
	if strings.EqualFold(s, "info") {
		return PriorityInformational, true
	}
	return 0, false
}
