package condition

import (
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/truesightsec/truesight/internal/testenv"
)

// Every macro and rule condition of Falco's stable rules parses as written
// (list names still unexpanded) and prints to text that parses back the same.
func TestParseAcceptsStableRulesConditions(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.ConformanceDir(t), "falco", "falco_rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var items []map[string]any
	if err := yaml.Unmarshal(b, &items); err != nil {
		t.Fatal(err)
	}
	macros, rules := 0, 0
	for _, it := range items {
		cond, ok := it["condition"].(string)
		if !ok {
			continue
		}
		name, _ := it["macro"].(string)
		if name != "" {
			macros++
		} else {
			name, _ = it["rule"].(string)
			rules++
		}
		e, err := Parse(cond)
		if err != nil {
			t.Errorf("%s: %v\n%s", name, err, cond)
			continue
		}
		s := e.String()
		if e2, err := Parse(s); err != nil || e2.String() != s {
			t.Errorf("%s: printed form %q does not round-trip (%v)", name, s, err)
		}
	}
	if macros != 87 || rules != 25 {
		t.Errorf("parsed %d macros and %d rules, want 87 and 25", macros, rules)
	}
}
