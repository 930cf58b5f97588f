package engine

import (
	"slices"
	"strconv"

	"github.com/truesightsec/truesight/internal/condition"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
)

// FieldsUsed returns the fields that the rules of source src read in
// their conditions and outputs, and the extra fields of append_output, as
// written, sorted, each once.
func (e *Engine) FieldsUsed(src event.Source) []string {
	seen := map[string]bool{}
	for _, r := range e.rules {
		if r.Source != src {
			continue
		}
		for _, f := range r.Output.Fields() {
			seen[f] = true
		}
		if expr, err := condition.Parse(r.Condition); err == nil {
			conditionFields(expr, seen)
		}
	}
	for _, a := range e.opts.Append {
		for _, f := range a.Fields {
			if f.Value == "" {
				seen[f.Name] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// ReadsIOData reports whether a syscall rule or output reads the data of
// reads and writes: evt.buffer, the data parameter (evt.arg.data,
// evt.rawarg[data], or a parameter by position), or every parameter
// (evt.args, evt.info). The sensor copies I/O data in the kernel only
// then, as Falco's snaplen bytes.
func (e *Engine) ReadsIOData() bool {
	return slices.ContainsFunc(e.FieldsUsed(event.SourceSyscall), readsIOData)
}

func readsIOData(raw string) bool {
	f, arg, _, err := fields.Split(raw)
	if err != nil {
		return false
	}
	switch f.Name {
	case "evt.buffer", "evt.args", "evt.info":
		return true
	case "evt.arg", "evt.rawarg":
		_, byPosition := strconv.Atoi(arg)
		return arg == "data" || byPosition == nil
	}
	return false
}

func conditionFields(x any, seen map[string]bool) {
	switch n := x.(type) {
	case *condition.And:
		for _, c := range n.Children {
			conditionFields(c, seen)
		}
	case *condition.Or:
		for _, c := range n.Children {
			conditionFields(c, seen)
		}
	case *condition.Not:
		conditionFields(n.Child, seen)
	case *condition.Compare:
		conditionFields(n.Left, seen)
		if n.Right != nil {
			conditionFields(n.Right, seen)
		}
	case *condition.Field:
		raw := n.Raw
		if raw == "" {
			raw = n.Name
			if n.HasArg {
				raw += "[" + n.Arg + "]"
			}
		}
		seen[raw] = true
	case *condition.Transform:
		for _, a := range n.Args {
			conditionFields(a, seen)
		}
	case *condition.ArgList:
		for _, a := range n.Items {
			conditionFields(a, seen)
		}
	}
}
