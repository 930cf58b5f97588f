package rules

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/truesightsec/truesight/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func readStable(t testing.TB) ([]byte, error) {
	return os.ReadFile(filepath.Join(testenv.ConformanceDir(t), "falco", "falco_rules.yaml"))
}

func loadStable(t testing.TB) (*Ruleset, Diagnostics) {
	t.Helper()
	data, err := readStable(t)
	if err != nil {
		t.Fatal(err)
	}
	return Load([]Source{{Name: "falco_rules.yaml", Data: data}}, Options{KnownField: knownField(t)})
}

// evttypesReport prints each rule's event types, one rule per line.
func evttypesReport(rs *Ruleset) string {
	var b strings.Builder
	for _, r := range rs.Rules {
		types := strings.Join(r.EventTypes, ",")
		switch {
		case r.AllEventTypes && types == "":
			types = "ALL"
		case r.AllEventTypes:
			types = "ALL except " + types
		}
		fmt.Fprintf(&b, "%s\t%s\n", r.Name, types)
	}
	return b.String()
}

func TestStableRulesLoad(t *testing.T) {
	rs, diags := loadStable(t)
	if diags.HasErrors() {
		t.Fatalf("stable rules do not load:\n%s", diags.Errors())
	}
	t.Logf("warnings:\n%s", diags.Warnings())
	if got := len(rs.Rules); got != 25 {
		t.Errorf("got %d rules, want 25", got)
	}
	if got := len(rs.Macros); got != 87 {
		t.Errorf("got %d macros, want 87", got)
	}
	if got := len(rs.Lists); got != 49 {
		t.Errorf("got %d lists, want 49", got)
	}
	got := evttypesReport(rs)
	golden := filepath.Join("testdata", "stable-evttypes.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("event types differ from %s:\n got:\n%s\nwant:\n%s", golden, got, want)
	}
}
