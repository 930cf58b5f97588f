package engine

import (
	"slices"
	"testing"

	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
)

func loadRules(t *testing.T, yml string, opts Options) *Engine {
	t.Helper()
	eng, _, diags := Load([]rules.Source{{Name: "r.yaml", Data: []byte(yml)}}, opts)
	if diags.HasErrors() {
		t.Fatal(diags.Errors())
	}
	return eng
}

func TestFieldsUsedByConditionsOutputsAndAppendedFields(t *testing.T) {
	yml := `
- macro: shell
  condition: proc.name in (sh, bash)
- rule: R
  desc: d
  condition: evt.type = write and shell and not toupper(fd.name) startswith /TMP and evt.arg[fd] exists
  output: wrote %evt.buffer to %fd.name (%proc.aname[2])
  priority: WARNING
`
	eng := loadRules(t, yml, Options{Append: []AppendOutput{{Fields: []output.ExtraField{{Name: "proc.pname"}, {Name: "cluster", Value: "c1"}}}}})
	got := eng.FieldsUsed(event.SourceSyscall)
	want := []string{"evt.arg[fd]", "evt.buffer", "evt.type", "fd.name", "proc.aname[2]", "proc.name", "proc.pname"}
	if !slices.Equal(got, want) {
		t.Errorf("FieldsUsed = %q, want %q", got, want)
	}
}

// The sensor copies I/O data only for rules that read it, wherever they
// read it: condition, output or append_output.
func TestReadsIODataOnlyWhenARuleReadsTheData(t *testing.T) {
	rule := func(cond, out string) string {
		return "- rule: R\n  desc: d\n  condition: " + cond + "\n  output: \"" + out + "\"\n  priority: WARNING\n"
	}
	for _, tc := range []struct {
		name string
		yml  string
		opts Options
		want bool
	}{
		{"no data field", rule("evt.type = write and fd.name startswith /etc", "%fd.name %evt.res"), Options{}, false},
		{"evt.buffer in the condition", rule("evt.type = read and evt.buffer contains ssh-rsa", "%fd.name"), Options{}, true},
		{"evt.arg.data in the output", rule("evt.type = write", "%evt.arg.data"), Options{}, true},
		{"evt.arg[data] in the condition", rule("evt.type = write and evt.arg[data] contains x", "%fd.name"), Options{}, true},
		{"evt.rawarg.data", rule("evt.type = write and evt.rawarg.data exists", "%fd.name"), Options{}, true},
		{"a parameter by position", rule("evt.type = write", "%evt.arg[1]"), Options{}, true},
		{"every parameter", rule("evt.type = write", "%evt.args"), Options{}, true},
		{"another parameter by name", rule("evt.type = write", "%evt.arg.fd %evt.rawarg.res"), Options{}, false},
		{"inside a transform", rule("evt.type = write and tolower(evt.buffer) contains x", "%fd.name"), Options{}, true},
		{"from append_output", rule("evt.type = write", "%fd.name"),
			Options{Append: []AppendOutput{{Fields: []output.ExtraField{{Name: "evt.buffer"}}}}}, true},
		{"a disabled rule does not count",
			"- rule: R\n  desc: d\n  condition: evt.buffer contains x\n  output: x\n  priority: WARNING\n  enabled: false\n", Options{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := loadRules(t, tc.yml, tc.opts).ReadsIOData(); got != tc.want {
				t.Errorf("ReadsIOData = %v, want %v", got, tc.want)
			}
		})
	}
}
