package posture

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/truesightsec/truesight/internal/event"
)

// Kind is finding.kind of posture findings.
const Kind = "posture"

// Finding is one failed check, about one container, pod or node.
type Finding struct {
	Check    string   `json:"check"`
	Name     string   `json:"name"`
	Severity Severity `json:"severity"`
	Reason   string   `json:"reason"`
	// Message says what was seen, e.g. "capability SYS_ADMIN added".
	Message     string `json:"message,omitempty"`
	Remediation string `json:"remediation"`
	// Where: a manifest file and line, or a running container.
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	Workload  string `json:"workload"`            // Kind namespace/name, "container <name>", "node"
	Container string `json:"container,omitempty"` // "" for pod and node findings
	// ContainerID and Pid are set for running containers.
	ContainerID string `json:"container_id,omitempty"`
	Pid         int64  `json:"pid,omitempty"`
}

func newFinding(id, message string, container string) Finding {
	c := Checks[id]
	rem := c.Remediation
	if container != "" {
		rem = strings.ReplaceAll(rem, "<c>", container)
	}
	return Finding{Check: id, Name: c.Name, Severity: c.Severity, Reason: c.Reason, Message: message, Remediation: rem, Container: container}
}

// Location is "file:line", or "" for a running container.
func (f *Finding) Location() string {
	if f.File == "" {
		return ""
	}
	if f.Line == 0 {
		return f.File
	}
	return f.File + ":" + itoa(f.Line)
}

// Event returns the finding as an event of source truesight, for the
// rules: finding.kind is posture, finding.summary the reason, and
// finding.detail[check], [name], [severity], [workload], [container],
// [message], [location] say which check failed where.
func (f *Finding) Event(now int64) *event.Event {
	d := map[string]string{
		"check":    f.Check,
		"name":     f.Name,
		"severity": f.Severity.String(),
		"workload": f.Workload,
	}
	set := func(k, v string) {
		if v != "" {
			d[k] = v
		}
	}
	set("container", f.Container)
	set("message", f.Message)
	set("location", f.Location())
	return &event.Event{
		Time:   now,
		Type:   event.MustType(Kind),
		Source: event.SourceTruesight,
		Tid:    f.Pid,
		Pid:    f.Pid,
		Finding: &event.Finding{
			Kind:    Kind,
			Summary: f.Check + " " + f.Reason,
			Detail:  maps.Clone(d),
		},
	}
}

// Sort orders findings by file, line, workload, container, severity
// (worst first) and check.
func Sort(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.File, b.File),
			cmp.Compare(a.Workload, b.Workload),
			cmp.Compare(a.Container, b.Container),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(b.Severity, a.Severity),
			cmp.Compare(a.Check, b.Check),
		)
	})
}

// Worst returns the highest severity among fs, and false when fs is
// empty.
func Worst(fs []Finding) (Severity, bool) {
	if len(fs) == 0 {
		return 0, false
	}
	w := Info
	for _, f := range fs {
		w = max(w, f.Severity)
	}
	return w, true
}
