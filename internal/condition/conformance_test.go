package condition

import (
	"encoding/json"
	"github.com/truesightsec/truesight/internal/testenv"
	"os"
	"path/filepath"
	"testing"
)

// parserVector is one case of libsinsp's filter parser tests.
type parserVector struct {
	Filter string `json:"filter"`
	Expect string `json:"expect"` // "accept" or "reject"
	Line   int    `json:"line"`   // line in the upstream test file
}

func loadParserVectors(t testing.TB) []parserVector {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.ConformanceDir(t), "falco", "filter-parser-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []parserVector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

// Every condition libsinsp's parser accepts is accepted, every one it rejects
// is rejected, and accepted ones print to text that parses to the same tree.
func TestParseAgreesWithLibsinspVectors(t *testing.T) {
	vs := loadParserVectors(t)
	if len(vs) != 526 {
		t.Fatalf("got %d vectors, want 526", len(vs))
	}
	accepted := 0
	for _, v := range vs {
		if v.Expect != "accept" && v.Expect != "reject" {
			t.Fatalf("line %d: unknown expectation %q", v.Line, v.Expect)
		}
		e, err := Parse(v.Filter)
		switch {
		case v.Expect == "accept" && err != nil:
			t.Errorf("line %d: Parse(%q) = %v, want accepted", v.Line, v.Filter, err)
		case v.Expect == "reject" && err == nil:
			t.Errorf("line %d: Parse(%q) accepted as %s, want rejected", v.Line, v.Filter, e)
		case err != nil:
			if _, ok := err.(*Error); !ok {
				t.Errorf("line %d: error %T is not *Error", v.Line, err)
			}
		default:
			accepted++
			s := e.String()
			e2, err := Parse(s)
			if err != nil {
				t.Errorf("line %d: printed form %q of %q does not parse: %v", v.Line, s, v.Filter, err)
			} else if s2 := e2.String(); s2 != s {
				t.Errorf("line %d: %q prints %q, which reprints %q", v.Line, v.Filter, s, s2)
			}
		}
	}
	if accepted != 335 {
		t.Errorf("accepted %d vectors, want 335", accepted)
	}
}

// Falco's compiled conditions, as printed by libsinsp, parse and print back
// unchanged.
func TestStringReproducesFalcoCompiledConditions(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.ConformanceDir(t), "falco", "rule-loader-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Test     string `json:"test"`
		Expected []struct {
			Rule              string `json:"rule"`
			CompiledCondition string `json:"compiled_condition"`
		} `json:"expected"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range cases {
		for _, want := range c.Expected {
			if want.CompiledCondition == "" {
				continue
			}
			n++
			e, err := Parse(want.CompiledCondition)
			if err != nil {
				t.Errorf("%s: Parse(%q): %v", c.Test, want.CompiledCondition, err)
				continue
			}
			if got := e.String(); got != want.CompiledCondition {
				t.Errorf("%s: printed\n got %s\nwant %s", c.Test, got, want.CompiledCondition)
			}
		}
	}
	if n != 33 {
		t.Errorf("checked %d compiled conditions, want 33", n)
	}
}
