package rules

import (
	"bufio"
	"encoding/json"
	"github.com/truesightsec/truesight/internal/testenv"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

type loaderVector struct {
	Test       string `json:"test"`
	RulesYAML  string `json:"rules_yaml"`
	ExpectLoad bool   `json:"expect_load"`
	Expected   []struct {
		Rule              string `json:"rule"`
		CompiledCondition string `json:"compiled_condition"`
	} `json:"expected"`
	ErrorChecks   []string `json:"error_checks"`
	WarningChecks []string `json:"warning_checks"`
}

func loadVectors(t testing.TB) []loaderVector {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.ConformanceDir(t), "falco", "rule-loader-vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []loaderVector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

var (
	fieldSetOnce sync.Once
	fieldSet     map[string]bool
)

// knownField answers from all-fields.tsv, the field table of libsinsp and
// the container plugin: a name as written is known when it, its name before
// a [argument], or a registered prefix before a dotted argument is listed.
func knownField(t testing.TB) func(string) bool {
	t.Helper()
	dir := testenv.ConformanceDir(t)
	fieldSetOnce.Do(func() {
		fieldSet = map[string]bool{}
		f, err := os.Open(filepath.Join(dir, "falco", "all-fields.tsv"))
		if err != nil {
			return
		}
		defer func() { _ = f.Close() }()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			name, _, _ := strings.Cut(sc.Text(), "\t")
			if name != "" && name != "field" {
				fieldSet[name] = true
			}
		}
	})
	if len(fieldSet) == 0 {
		t.Fatal("all-fields.tsv is empty or unreadable")
	}
	return func(name string) bool {
		if i := strings.IndexByte(name, '['); i >= 0 {
			name = name[:i]
		}
		if fieldSet[name] {
			return true
		}
		for j := strings.LastIndexByte(name, '.'); j > 0; j = strings.LastIndexByte(name[:j], '.') {
			switch name[:j] {
			case "evt.arg", "evt.rawarg", "k8s.pod.label", "k8s.ns.label", "container.label", "proc.env", "evt.abspath":
				return true
			}
		}
		return false
	}
}

// check maps an upstream check (a message constant's name or a quoted
// message substring) to the diagnostic that must carry it here.
type check struct {
	code     Code
	contains string // in our message, to tie the check to one diagnostic
}

var upstreamChecks = map[string]check{
	`"'>= oneof' is not a supported comparison operator"`:                               {ErrException, "'>= oneof' is not a supported comparison operator"},
	`"'enabled' was specified but 'enabled' is not defined"`:                            {ErrOverride, "'enabled' was specified but 'enabled' is not defined"},
	`"'frobulate oneof' is not a supported comparison operator"`:                        {ErrException, "'frobulate oneof' is not a supported comparison operator"},
	`"'in oneof' is not a supported comparison operator"`:                               {ErrException, "'in oneof' is not a supported comparison operator"},
	`"'oneof' is not a supported comparison operator"`:                                  {ErrException, "'oneof' is not a supported comparison operator"},
	`"An append override for 'condition' was specified but 'condition' is not defined"`: {ErrOverride, "append override for 'condition' was specified but 'condition' is not defined"},
	`"Item has no mapping for key 'fields'"`:                                            {ErrMissingKey, "'fields'"},
	`"Key 'priority' cannot be appended to, use 'replace' instead"`:                     {ErrOverride, "'priority' cannot be appended to, use 'replace' instead"},
	`"Rule has been re-defined with a different source"`:                                {ErrSourceMismatch, "re-defined with a different source"},
	`"Unable to parse engine version"`:                                                  {ErrEngineVersion, "unable to parse engine version"},
	`"Unexpected key 'priority'"`:                                                       {ErrOverride, "unexpected key 'priority'"},
	`"comps must be one of"`:                                                            {ErrException, "comps must be one of"},
	"ERROR_NO_PREVIOUS_LIST":                                                            {ErrNoPreviousList, "no list named"},
	"ERROR_NO_PREVIOUS_MACRO":                                                           {ErrNoPreviousMacro, "no macro named"},
	"ERROR_NO_PREVIOUS_RULE_APPEND":                                                     {ErrNoPreviousRuleAppend, "no rule named"},
	"ERROR_NO_PREVIOUS_RULE_REPLACE":                                                    {ErrNoPreviousRuleReplace, "no rule named"},
	"ERROR_OVERRIDE_APPEND":                                                             {ErrOverrideAppend, "cannot be used together"},
	`"'proc.pname ' may be a valid field misused as a const string value"`:              {WarnValueIsField, "'proc.pname ' may be a valid field misused as a const string value"},
	`"'proc.pname' may be a valid field misused as a const string value"`:               {WarnValueIsField, "'proc.pname' may be a valid field misused as a const string value"},
	"\"'toupper( proc.pname)' may be a valid field transformer misused \"\n\t                              \"as a const string value\"": {WarnValueIsTransformer, "'toupper( proc.pname)' may be a valid field transformer misused as a const string value"},
	`"List has an invalid name. List names should match a regular expression"`:                                                          {WarnInvalidListName, "invalid list name"},
	`"Macro has an invalid name. Macro names should match a regular expression"`:                                                        {WarnInvalidMacroName, "invalid macro name"},
	`"Multiple definitions of exception"`:                                                                                               {WarnExceptionNameReused, "multiple definitions of exception"},
	`"Overriding/appending exception with no values"`:                                                                                   {WarnAppendNoValues, "with no values"},
	`"Unknown key 'priority'"`:   {WarnUnknownKey, "unknown key 'priority'"},
	`"Unknown key 'typo_field'"`: {WarnUnknownKey, "unknown key 'typo_field'"},
	`"evt.dir"`:                  {WarnDeprecatedField, "'evt.dir'"},
	`"usage of deprecated field 'evt.dir' has been detected in the rule output"`: {WarnDeprecatedField, "usage of deprecated field 'evt.dir' has been detected in the rule output"},
	"WARNING_APPEND":     {WarnAppend, "'append' key is deprecated"},
	"WARNING_ENABLED":    {WarnEnabled, "'enabled' key is deprecated"},
	"WARNING_NO_EVTTYPE": {WarnNoEvttype, "too many evt.type values"},
}

// absentWarnings lists the vectors whose warning checks assert that the
// warning is NOT emitted (upstream's ASSERT_FALSE / the test's name says so).
var absentWarnings = map[string]bool{
	"rule_override_append":                           true, // override, not the deprecated append flag
	"no_evttype_warning_for_narrow_condition":        true,
	"evttype_warning_disabled_by_warn_evttypes":      true,
	"no_evttype_warning_for_unsatisfiable_condition": true, // evt.num = 0 indexes to no event type
	"no_evttype_warning_for_evt_type_contradiction":  true,
	"no_evttype_warning_for_never_true_macro":        true,
	"no_deprecated_field_warning_in_output":          true,
}

func TestLoaderVectors(t *testing.T) {
	vectors := loadVectors(t)
	if len(vectors) != 103 {
		t.Fatalf("got %d loader vectors, want 103", len(vectors))
	}
	known := knownField(t)
	for _, v := range vectors {
		t.Run(v.Test, func(t *testing.T) {
			rs, diags := Load([]Source{{Name: "rules.yaml", Data: []byte(v.RulesYAML)}}, Options{KnownField: known})
			if got := !diags.HasErrors(); got != v.ExpectLoad {
				t.Fatalf("loaded = %v, want %v; diagnostics:\n%s", got, v.ExpectLoad, diags)
			}
			if (rs != nil) != v.ExpectLoad {
				t.Fatalf("ruleset non-nil = %v, want %v", rs != nil, v.ExpectLoad)
			}
			for _, e := range v.Expected {
				r := rs.Rule(e.Rule)
				if r == nil {
					t.Fatalf("rule %q not loaded", e.Rule)
				}
				if r.ConditionText != e.CompiledCondition {
					t.Errorf("rule %q compiled condition:\n got %s\nwant %s", e.Rule, r.ConditionText, e.CompiledCondition)
				}
			}
			for _, c := range v.ErrorChecks {
				assertCheck(t, diags, c, Error, true)
			}
			for _, c := range v.WarningChecks {
				assertCheck(t, diags, c, Warning, !absentWarnings[v.Test])
			}
		})
	}
}

func assertCheck(t *testing.T, diags Diagnostics, upstream string, sev Severity, present bool) {
	t.Helper()
	want, ok := upstreamChecks[upstream]
	if !ok {
		t.Fatalf("no mapping for upstream check %q", upstream)
	}
	found := false
	for _, d := range diags {
		if d.Severity == sev && d.Code == want.code && strings.Contains(d.Message, want.contains) {
			found = true
		}
	}
	if found != present {
		t.Errorf("check %s: want present=%v for %s %s containing %q; diagnostics:\n%s",
			upstream, present, sev, want.code, want.contains, diags)
	}
}
