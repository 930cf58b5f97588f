package replay

import (
	"fmt"
	"os"
	"testing"

	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/rules"
)

func TestConds(t *testing.T) {
	data, _ := os.ReadFile("/work/shared/conformance/falco/falco_rules.yaml")
	eng, _, diags := engine.Load([]rules.Source{{Name: "falco_rules.yaml", Data: data}}, engine.Options{})
	for _, d := range diags {
		t.Log(d)
	}
	if eng == nil {
		t.Fatal("nil engine")
	}
	f, _ := os.Create("/tmp/conds.txt")
	for _, r := range eng.Rules() {
		fmt.Fprintf(f, "%s\t%s\n", r.Name, r.Condition)
	}
	f.Close()
}
