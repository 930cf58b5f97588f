package posture

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Report is the result of one posture run.
type Report struct {
	Findings []Finding   `json:"findings"`
	Notes    []Note      `json:"notes,omitempty"`
	Errors   []string    `json:"errors,omitempty"`
	Node     *Node       `json:"node,omitempty"`
	Running  []*Observed `json:"running,omitempty"`
}

// WriteText writes the readable report: findings grouped by workload and
// container, in the order of their lines (worst first on one line), then
// notes and errors.
func (r *Report) WriteText(w io.Writer) error {
	fs := append([]Finding(nil), r.Findings...)
	Sort(fs)
	var b strings.Builder
	lastW, lastC := "\x00", "\x00"
	counts := map[Severity]int{}
	for _, f := range fs {
		counts[f.Severity]++
		if f.Workload != lastW || (f.File != "" && lastW == "\x00") {
			if lastW != "\x00" {
				b.WriteString("\n")
			}
			head := f.Workload
			if f.File != "" {
				head += " (" + f.File + ")"
			}
			b.WriteString(head + "\n")
			lastW, lastC = f.Workload, "\x00"
		}
		if f.Container != lastC {
			if f.Container != "" {
				b.WriteString("  container " + f.Container + "\n")
			} else {
				b.WriteString("  pod\n")
			}
			lastC = f.Container
		}
		loc := ""
		if f.Line > 0 {
			loc = fmt.Sprintf(" line %d", f.Line)
		}
		fmt.Fprintf(&b, "    %-8s %s %s%s: %s\n", strings.ToUpper(f.Severity.String()), f.Check, f.Name, loc, f.Message)
		fmt.Fprintf(&b, "             why: %s\n", f.Reason)
		b.WriteString("             fix:\n")
		for _, l := range strings.Split(strings.TrimRight(f.Remediation, "\n"), "\n") {
			b.WriteString("               " + l + "\n")
		}
	}
	if len(fs) > 0 {
		b.WriteString("\n")
	}
	for _, n := range r.Notes {
		b.WriteString("note: " + n.String() + "\n")
	}
	for _, e := range r.Errors {
		b.WriteString("error: " + e + "\n")
	}
	var sum []string
	for s := Critical; s >= Info; s-- {
		if counts[s] > 0 {
			sum = append(sum, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	if len(sum) == 0 {
		b.WriteString("no findings\n")
	} else {
		fmt.Fprintf(&b, "%d findings: %s\n", len(fs), strings.Join(sum, ", "))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	fs := append([]Finding(nil), r.Findings...)
	Sort(fs)
	out := *r
	out.Findings = fs
	if out.Findings == nil {
		out.Findings = []Finding{}
	}
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(out)
}
