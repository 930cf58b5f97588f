package rules

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/truesightsec/truesight/internal/condition"
)

func load(t *testing.T, opts Options, files ...string) (*Ruleset, Diagnostics) {
	t.Helper()
	var srcs []Source
	for i, f := range files {
		srcs = append(srcs, Source{Name: string(rune('a'+i)) + ".yaml", Data: []byte(f)})
	}
	return Load(srcs, opts)
}

// where is the part of a diagnostic that says where and what.
type where struct {
	Code     Code
	File     string
	Line     int
	Column   int
	ItemKind string
	ItemName string
}

func whereOf(d Diagnostic) where {
	return where{d.Code, d.File, d.Line, d.Column, d.ItemKind, d.ItemName}
}

const ruleTail = "  output: x\n  priority: INFO\n"

func TestErrorsPointAtFileLineColumnAndItem(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		want    where
		message string
	}{
		{
			name:    "broken YAML",
			files:   []string{"- rule: r\n  desc: d\n  condition: evt.type = open\n   output: x\n  priority: INFO\n"},
			want:    where{ErrYAMLParse, "a.yaml", 4, 4, "rule", "r"},
			message: "mapping values are not allowed",
		},
		{
			name:    "unbalanced parentheses",
			files:   []string{"- rule: r\n  desc: d\n  condition: (evt.type = open and (proc.name = x)\n" + ruleTail},
			want:    where{ErrConditionSyntax, "a.yaml", 3, 50, "rule", "r"},
			message: "syntax error in condition: expected a ')' token",
		},
		{
			name:    "undefined macro",
			files:   []string{"- rule: r\n  desc: d\n  condition: evt.type = open and foo\n" + ruleTail},
			want:    where{ErrUndefinedMacro, "a.yaml", 3, 34, "rule", "r"},
			message: "undefined macro 'foo' (define it before use or check the spelling)",
		},
		{
			name:    "macro used before its definition",
			files:   []string{"- macro: a\n  condition: b\n- macro: b\n  condition: evt.type = open\n- rule: r\n  desc: d\n  condition: a\n" + ruleTail},
			want:    where{ErrUndefinedMacro, "a.yaml", 2, 14, "macro", "a"},
			message: "undefined macro 'b' (it is defined later, at a.yaml:3:3: a macro can only use macros defined before it)",
		},
		{
			name:    "macro loop through an append",
			files:   []string{"- macro: a\n  condition: evt.type = open\n- macro: a\n  condition: or a\n  override:\n    condition: append\n- rule: r\n  desc: d\n  condition: a\n" + ruleTail},
			want:    where{ErrMacroLoop, "a.yaml", 4, 17, "macro", "a"},
			message: "reference loop in macro 'a' (a -> a)",
		},
		{
			name:    "bad priority",
			files:   []string{"- rule: r\n  desc: d\n  condition: evt.type = open\n  output: x\n  priority: SEVERE\n"},
			want:    where{ErrPriority, "a.yaml", 5, 13, "rule", "r"},
			message: `invalid priority "SEVERE"`,
		},
		{
			name:    "override before definition",
			files:   []string{"- rule: r\n  condition: and proc.name = x\n  override:\n    condition: append\n"},
			want:    where{ErrNoPreviousRuleAppend, "a.yaml", 1, 3, "rule", "r"},
			message: `no rule named "r" is defined before it`,
		},
		{
			name:    "10 MB condition",
			files:   []string{"- rule: r\n  desc: d\n  condition: evt.type = open" + strings.Repeat(" and proc.name = x", 600000) + "\n" + ruleTail},
			want:    where{ErrConditionTooLarge, "a.yaml", 3, 14, "rule", "r"},
			message: "condition is 10800015 bytes long, more than the limit of 1048576",
		},
		{
			name:    "error at the end of a folded condition",
			files:   []string{"- rule: r\n  desc: d\n  condition: >\n    evt.type = open and\n    proc.name = x and (\n" + ruleTail},
			want:    where{ErrConditionSyntax, "a.yaml", 5, 24, "rule", "r"},
			message: "syntax error in condition",
		},
		{
			name:    "error inside a literal condition",
			files:   []string{"- rule: r\n  desc: d\n  condition: |\n    evt.type = open and\n      proc.name = x and )\n" + ruleTail},
			want:    where{ErrConditionSyntax, "a.yaml", 5, 25, "rule", "r"},
			message: "syntax error in condition",
		},
		{
			name:    "error on a continuation line of a plain condition",
			files:   []string{"- rule: r\n  desc: d\n  condition: evt.type = open and\n    proc.name = x and\n    badmacro\n" + ruleTail},
			want:    where{ErrUndefinedMacro, "a.yaml", 5, 5, "rule", "r"},
			message: "undefined macro 'badmacro'",
		},
		{
			name:    "error after an expanded list",
			files:   []string{"- list: l\n  items: [a, b]\n- rule: r\n  desc: d\n  condition: proc.name in (l) and foo\n" + ruleTail},
			want:    where{ErrUndefinedMacro, "a.yaml", 5, 35, "rule", "r"},
			message: "undefined macro 'foo'",
		},
		{
			name:    "error in the appended part, in another file",
			files:   []string{"- rule: r\n  desc: d\n  condition: evt.type = open\n" + ruleTail, "\n- rule: r\n  condition: and nomacro\n  override:\n    condition: append\n"},
			want:    where{ErrUndefinedMacro, "b.yaml", 3, 18, "rule", "r"},
			message: "undefined macro 'nomacro'",
		},
		{
			name:    "UTF-16 file",
			files:   []string{utf16LE("- rule: r\n  desc: d\n  condition: evt.type = open and foo\n" + ruleTail)},
			want:    where{ErrUndefinedMacro, "a.yaml", 3, 34, "rule", "r"},
			message: "undefined macro 'foo'",
		},
		{
			name:    "UTF-8 byte order mark and Unicode line separators",
			files:   []string{"\xEF\xBB\xBF- rule: r\u2028  desc: d\u0085  condition: proc.name = é and foo\n" + ruleTail},
			want:    where{ErrUndefinedMacro, "a.yaml", 3, 32, "rule", "r"},
			message: "undefined macro 'foo'",
		},
		{
			name:    "item that is not a mapping",
			files:   []string{"- just a string\n"},
			want:    where{ErrYAMLSchema, "a.yaml", 1, 3, "", ""},
			message: "each item must be a mapping",
		},
		{
			name:    "name that is not a scalar",
			files:   []string{"- rule: [x]\n"},
			want:    where{ErrYAMLSchema, "a.yaml", 1, 9, "rule", ""},
			message: "value of 'rule' must be a scalar, not a sequence",
		},
		{
			name:    "boolean that is not one",
			files:   []string{"- rule: r\n  desc: d\n  condition: evt.type = open\n" + ruleTail + "  enabled: maybe\n"},
			want:    where{ErrYAMLSchema, "a.yaml", 6, 12, "rule", "r"},
			message: `value of 'enabled' must be true or false, not "maybe"`,
		},
		{
			name:    "missing output",
			files:   []string{"- rule: r\n  desc: d\n  condition: evt.type = open\n  priority: INFO\n"},
			want:    where{ErrMissingKey, "a.yaml", 1, 3, "rule", "r"},
			message: "missing required key 'output'",
		},
		{
			name:    "items not a sequence",
			files:   []string{"- list: l\n  items: a\n"},
			want:    where{ErrYAMLSchema, "a.yaml", 2, 10, "list", "l"},
			message: "value of 'items' must be a sequence",
		},
		{
			name:    "rules content not a sequence",
			files:   []string{"rule: r\n"},
			want:    where{ErrYAMLSchema, "a.yaml", 1, 1, "", ""},
			message: "rules content must be a sequence of items",
		},
		{
			name:    "engine version too new",
			files:   []string{"- required_engine_version: 0.58.0\n"},
			want:    where{ErrEngineVersion, "a.yaml", 1, 28, "required_engine_version", ""},
			message: "rules require engine version 0.58.0, but this engine implements version 0.57.0",
		},
		{
			name:    "unknown plugin",
			files:   []string{"- required_plugin_versions:\n  - name: k8saudit\n    version: 0.1.0\n"},
			want:    where{ErrPluginVersion, "a.yaml", 2, 5, "required_plugin_versions", ""},
			message: "the rules need k8saudit >= 0.1.0, truesight provides container 0.4.0",
		},
		{
			name:    "exception values of the wrong length",
			files:   []string{"- rule: r\n  desc: d\n  condition: evt.type = open\n" + ruleTail + "  exceptions:\n  - name: e\n    fields: [proc.name, fd.name]\n    values:\n    - [a]\n"},
			want:    where{ErrException, "a.yaml", 10, 7, "rule", "r"},
			message: `exception "e": fields and values lists must have equal length (2 fields)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, diags := load(t, Options{}, tt.files...)
			if rs != nil {
				t.Fatalf("loaded; diagnostics:\n%s", diags)
			}
			errs := diags.Errors()
			if got := whereOf(errs[0]); got != tt.want {
				t.Errorf("first error at %+v, want %+v\n%s", got, tt.want, diags)
			}
			if !strings.Contains(errs[0].Message, tt.message) {
				t.Errorf("message %q does not contain %q", errs[0].Message, tt.message)
			}
		})
	}
}

func utf16LE(s string) string {
	b := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return string(b)
}

func TestDiagnosticRendersLikeACompiler(t *testing.T) {
	d := Diagnostic{Severity: Error, Code: ErrUndefinedMacro, File: "rules.yaml", Line: 12, Column: 14,
		ItemKind: "rule", ItemName: "X", Message: "undefined macro 'foo' (define it before use or check the spelling)"}
	want := `rules.yaml:12:14: rule "X": undefined macro 'foo' (define it before use or check the spelling)`
	if d.Error() != want {
		t.Errorf("got  %s\nwant %s", d.Error(), want)
	}
	w := Diagnostic{Severity: Warning, Code: WarnUnusedList, File: "r.yaml", Line: 3, Column: 3, ItemKind: "list", ItemName: "l", Message: "unused"}
	if got, want := w.String(), `r.yaml:3:3: warning: list "l": unused`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got, want := (Diagnostic{File: "r.yaml", Message: "m"}).String(), "r.yaml: warning: m"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got, want := ErrUndefinedMacro.Upstream(), "LOAD_ERR_VALIDATE"; got != want {
		t.Errorf("Upstream() = %s, want %s", got, want)
	}
	ds := Diagnostics{w, d}
	if err := ds.Err(); err == nil || err.Error() != want {
		t.Errorf("Err() = %v, want only the error", err)
	}
	if (Diagnostics{w}).Err() != nil {
		t.Error("Err() of warnings only is not nil")
	}
}

func TestPriorities(t *testing.T) {
	tests := []struct {
		in   string
		want Priority
		name string
	}{
		{"EMERGENCY", PriorityEmergency, "Emergency"},
		{"alert", PriorityAlert, "Alert"},
		{"Critical", PriorityCritical, "Critical"},
		{"ERROR", PriorityError, "Error"},
		{"warning", PriorityWarning, "Warning"},
		{"NOTICE", PriorityNotice, "Notice"},
		{"INFORMATIONAL", PriorityInformational, "Informational"},
		{"INFO", PriorityInformational, "Informational"},
		{"info", PriorityInformational, "Informational"},
		{"debug", PriorityDebug, "Debug"},
	}
	for _, tt := range tests {
		p, ok := ParsePriority(tt.in)
		if !ok || p != tt.want || p.String() != tt.name {
			t.Errorf("ParsePriority(%q) = %v (%s), %v; want %v (%s)", tt.in, p, p.String(), ok, tt.want, tt.name)
		}
	}
	for _, bad := range []string{"", "WARN", "informationa", "severe"} {
		if _, ok := ParsePriority(bad); ok {
			t.Errorf("ParsePriority(%q) accepted", bad)
		}
	}
}

func TestRuleKeysAreRead(t *testing.T) {
	rs, diags := load(t, Options{}, `
- rule: r
  desc: a description
  condition: evt.type in (open, openat) and proc.name = cat
  output: "  file=%fd.name  "
  priority: error
  source: syscall
  enabled: "False"
  tags: [zeta, alpha, zeta]
  warn_evttypes: off
  skip-if-unknown-filter: yes
  capture: true
  capture_duration: 1500
  exceptions:
  - name: e
    fields: [proc.name, fd.name]
    values:
    - [sh, /etc/passwd]
`)
	if rs == nil {
		t.Fatalf("not loaded:\n%s", diags)
	}
	got := *rs.Rules[0]
	got.Condition = nil
	want := Rule{
		Name: "r", Desc: "a description",
		ConditionText: "((evt.type in (open, openat) and proc.name = cat) and not (proc.name = sh and fd.name = /etc/passwd))",
		Output:        "file=%fd.name", Priority: PriorityError, Source: "syscall",
		Tags: []string{"alpha", "zeta"}, Enabled: false,
		EventTypes: []string{"open", "openat"}, WarnEvttypes: false, SkipIfUnknownFilter: true,
		Capture: true, CaptureDuration: 1500, ExceptionFields: []string{"fd.name", "proc.name"},
		File: "a.yaml", Line: 2, Column: 3,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestRedefinitionsKeepTheirSlot(t *testing.T) {
	rs, diags := load(t, Options{}, `
- rule: first
  desc: d
  condition: evt.type = open
  output: x
  priority: INFO
  tags: [a]
- rule: second
  desc: d
  condition: evt.type = close
  output: x
  priority: INFO
`, `
- rule: first
  desc: redefined
  condition: evt.type = execve
  output: y
  priority: DEBUG
- rule: second
  tags: [b, a]
  output: more
  override:
    tags: append
    output: append
- rule: second
  enabled: false
  priority: critical
  override:
    enabled: replace
    priority: replace
`)
	if rs == nil {
		t.Fatalf("not loaded:\n%s", diags)
	}
	var got []string
	for _, r := range rs.Rules {
		got = append(got, fmt.Sprintf("%s|%s|%s|%s|%v|%v|%s:%d", r.Name, r.ConditionText, r.Output, r.Priority, r.Tags, r.Enabled, r.File, r.Line))
	}
	want := []string{
		"first|evt.type = execve|y|Debug|[]|true|b.yaml:2",
		"second|evt.type = close|x more|Critical|[a b]|false|a.yaml:8",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestListsInlineEarlierListsOneLevel(t *testing.T) {
	// Falco inlines, in a list, the items of an earlier list as written:
	// a list of a list of a list keeps the innermost name as a value.
	rs, diags := load(t, Options{}, `
- list: a
  items: [x]
- list: b
  items: [a, y]
- list: c
  items: [b, z, later]
- list: later
  items: [w]
- rule: r
  desc: d
  condition: evt.type = open and proc.name in (c)
  output: x
  priority: INFO
`)
	if rs == nil {
		t.Fatalf("not loaded:\n%s", diags)
	}
	if got, want := rs.Rules[0].ConditionText, "(evt.type = open and proc.name in (a, y, z, w))"; got != want {
		t.Errorf("condition %s, want %s", got, want)
	}
	used := map[string]bool{}
	for _, l := range rs.Lists {
		used[l.Name] = l.Used
	}
	if want := map[string]bool{"a": true, "b": true, "c": true, "later": true}; !reflect.DeepEqual(used, want) {
		t.Errorf("used = %v, want %v", used, want)
	}
}

func TestExpandListMatchesFalcosTextualSubstitution(t *testing.T) {
	tests := []struct {
		cond  string
		items []string
		want  string
	}{
		{"proc.name in (l)", []string{"a", "b"}, "proc.name in ( a, b )"},
		{"x in (l, c)", []string{"a"}, "x in ( a , c)"},
		{"x in (c,l)", []string{"a"}, "x in (c, a )"},
		{"x in (c, l)", nil, "x in (c  )"},
		{"x in (l, c)", nil, "x in (   c)"},
		{"x in (l)", []string{"a b", `"q r"`}, `x in ( "a b", "q r" )`},
		{"l", []string{"a"}, "a "},
		{"  l and ll in (l)", []string{"a"}, "a and ll in ( a )"},
		{"xl in (lx, l_, l)", []string{"a"}, "xl in (lx, l_, a )"},
		{"x=l", []string{"a"}, "x= a "},
		{"l l", []string{"a"}, "a l"}, // Falco resumes one byte late after a match at the start
		{"(x in (l))\tor\ny in (l)", []string{"a"}, "(x in ( a ))\tor\ny in ( a )"},
	}
	for _, tt := range tests {
		in := &text{b: []byte(tt.cond)}
		out, used, ok := expandList(in, "l", tt.items, 1<<20)
		if !ok || !used || out.String() != tt.want {
			t.Errorf("expandList(%q, %q) = %q, used=%v ok=%v; want %q", tt.cond, tt.items, out.String(), used, ok, tt.want)
		}
	}
	if out, used, _ := expandList(&text{b: []byte("x in (ll)")}, "l", []string{"a"}, 1<<20); used || out.String() != "x in (ll)" {
		t.Errorf("expanded a name inside a longer word: %q", out.String())
	}
	if _, _, ok := expandList(&text{b: []byte("x in (l, l, l)")}, "l", []string{"aaaaaaaaaa"}, 20); ok {
		t.Error("expansion beyond the limit was accepted")
	}
}

func TestMacroExpansionIsBounded(t *testing.T) {
	// Each macro doubles its predecessor: 2^40 nodes if expanded.
	var b strings.Builder
	b.WriteString("- macro: m0\n  condition: evt.type = open\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "- macro: m%d\n  condition: (m%d or m%d)\n", i, i-1, i-1)
	}
	b.WriteString("- rule: r\n  desc: d\n  condition: m40\n" + ruleTail)
	start := time.Now()
	rs, diags := load(t, Options{}, b.String())
	if rs != nil {
		t.Fatal("loaded an exponentially large condition")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	if got := diags.Errors()[0]; got.Code != ErrConditionTooLarge {
		t.Errorf("got %s, want %s", got, ErrConditionTooLarge)
	}
}

func TestTotalExpansionIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("- macro: m0\n  condition: evt.type = open\n")
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&b, "- macro: m%d\n  condition: (m%d or m%d)\n", i, i-1, i-1)
	}
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&b, "- rule: r%d\n  desc: d\n  condition: m12\n"+ruleTail, i)
	}
	// m12 has 8191 nodes: each rule fits 8192, but 16 rules exhaust 16*8192.
	rs, diags := load(t, Options{MaxConditionNodes: 8192}, b.String())
	if rs != nil {
		t.Fatal("loaded beyond the total budget")
	}
	errs := diags.Errors()
	if len(errs) != 4 || errs[0].Code != ErrConditionTooLarge || errs[0].ItemName != "r16" {
		t.Errorf("want 4 errors from r16 on, got:\n%s", errs)
	}
}

func TestLongMacroChainsLoad(t *testing.T) {
	var b strings.Builder
	b.WriteString("- macro: m0\n  condition: evt.type = open\n")
	const n = 2000
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "- macro: m%d\n  condition: m%d and proc.pid > %d\n", i, i-1, i)
	}
	fmt.Fprintf(&b, "- rule: r\n  desc: d\n  condition: m%d\n"+ruleTail, n)
	rs, diags := load(t, Options{}, b.String())
	if rs == nil {
		t.Fatalf("not loaded:\n%s", diags.Errors())
	}
	if got := rs.Rules[0].EventTypes; !reflect.DeepEqual(got, []string{"open"}) {
		t.Errorf("event types %v", got)
	}
}

func TestUnknownFields(t *testing.T) {
	known := func(f string) bool { return strings.HasPrefix(f, "evt.") || strings.HasPrefix(f, "proc.") }
	yaml := func(skip string) string {
		return "- rule: r\n  desc: d\n  condition: evt.type = open and prc.name = x\n  output: x\n  priority: INFO\n" + skip
	}
	rs, diags := load(t, Options{KnownField: known}, yaml(""))
	if rs != nil {
		t.Fatal("loaded a rule with an unknown field")
	}
	if got, want := whereOf(diags[0]), (where{ErrUnknownField, "a.yaml", 3, 34, "rule", "r"}); got != want {
		t.Errorf("got %+v, want %+v: %s", got, want, diags[0])
	}
	rs, diags = load(t, Options{KnownField: known}, yaml("  skip-if-unknown-filter: true\n"))
	if rs == nil || len(rs.Rules) != 0 {
		t.Fatalf("want the rule skipped, got %v\n%s", rs, diags)
	}
	if got, want := whereOf(diags[0]), (where{WarnUnknownFilter, "a.yaml", 3, 34, "rule", "r"}); got != want {
		t.Errorf("got %+v, want %+v: %s", got, want, diags[0])
	}
	_, diags = load(t, Options{KnownField: known}, "- rule: r\n  desc: d\n  condition: evt.type = open\n  output: x %fd.nam\n  priority: INFO\n")
	if got, want := whereOf(diags[0]), (where{ErrOutput, "a.yaml", 4, 11, "rule", "r"}); got != want {
		t.Errorf("got %+v, want %+v: %s", got, want, diags[0])
	}
}

func TestValidateHookReportsAtTheNode(t *testing.T) {
	files := []string{"- macro: m\n  condition: proc.name = x\n", "- rule: r\n  desc: d\n  condition: evt.type = open and m\n" + ruleTail}
	// Reject the comparison that came from the macro: the error points
	// into the macro's file while naming the rule.
	validate := func(r *Rule) error {
		and := r.Condition.(*condition.And)
		return &CompileError{Pos: and.Children[1].Position(), Msg: "no extractor for proc.name"}
	}
	_, diags := load(t, Options{Validate: validate}, files...)
	if got, want := whereOf(diags[0]), (where{ErrValidate, "a.yaml", 2, 14, "rule", "r"}); got != want {
		t.Errorf("got %+v, want %+v: %s", got, want, diags[0])
	}
	plain := func(r *Rule) error { return fmt.Errorf("nope") }
	_, diags = load(t, Options{Validate: plain}, files...)
	if got, want := whereOf(diags[0]), (where{ErrValidate, "b.yaml", 1, 3, "rule", "r"}); got != want {
		t.Errorf("got %+v, want %+v: %s", got, want, diags[0])
	}
	unknown := func(r *Rule) error { return &CompileError{Pos: NoPos, Unknown: true, Msg: "unknown field"} }
	rs, diags := load(t, Options{Validate: unknown}, files[0], files[1]+"  skip-if-unknown-filter: true\n")
	if rs == nil || len(rs.Rules) != 0 || diags[0].Code != WarnUnknownFilter {
		t.Errorf("want the rule skipped with %s, got %v\n%s", WarnUnknownFilter, rs, diags)
	}
	rs, _ = load(t, Options{Validate: func(*Rule) error { return nil }}, files...)
	if p := rs.Position(rs.Rules[0].Condition.Position()); p != (Position{"b.yaml", 3, 14}) {
		t.Errorf("condition position %+v", p)
	}
}

func TestRequiredVersions(t *testing.T) {
	tests := []struct {
		yaml string
		ok   bool
	}{
		{"- required_engine_version: 0.57.0\n", true},
		{"- required_engine_version: 0.26.0\n", true},
		{"- required_engine_version: 26\n", true},
		{"- required_engine_version: 57\n", true},
		{"- required_engine_version: 58\n", false},
		{"- required_engine_version: 1.0.0\n", false},
		{"- required_engine_version: 0.57\n", false},
		{"- required_plugin_versions:\n  - name: container\n    version: 0.4.0\n", true},
		{"- required_plugin_versions:\n  - name: container\n    version: 0.3.9\n", true},
		{"- required_plugin_versions:\n  - name: container\n    version: 0.5.0\n", false},
		{"- required_plugin_versions:\n  - name: json\n    version: 0.7.0\n    alternatives:\n    - name: container\n      version: 0.1.0\n", true},
		{"- required_plugin_versions:\n  - name: container\n    version: latest\n", false},
	}
	for _, tt := range tests {
		rs, diags := load(t, Options{}, tt.yaml)
		if (rs != nil) != tt.ok {
			t.Errorf("%q: loaded=%v, want %v\n%s", tt.yaml, rs != nil, tt.ok, diags)
		}
	}
	rs, _ := load(t, Options{}, "- required_engine_version: 12\n- required_engine_version: 0.31.2\n")
	if rs.RequiredEngineVersion != "0.31.2" {
		t.Errorf("RequiredEngineVersion = %q", rs.RequiredEngineVersion)
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []where
	}{
		{
			name: "unused list and macro",
			yaml: "- list: l\n  items: [a]\n- macro: m\n  condition: evt.type = open\n",
			want: []where{{WarnUnusedMacro, "a.yaml", 3, 3, "macro", "m"}, {WarnUnusedList, "a.yaml", 1, 3, "list", "l"}},
		},
		{
			name: "unknown item kind",
			yaml: "- rules: r\n",
			want: []where{{WarnUnknownItem, "a.yaml", 1, 3, "", ""}},
		},
		{
			name: "unknown source",
			yaml: "- rule: r\n  desc: d\n  condition: ka.verb = GET\n  output: x\n  priority: INFO\n  source: k8s_audit\n",
			want: []where{{WarnUnknownSource, "a.yaml", 6, 11, "rule", "r"}},
		},
		{
			name: "unsafe <NA> check",
			yaml: "- rule: r\n  desc: d\n  condition: evt.type = open and ka.user.name = <NA>\n  output: x\n  priority: INFO\n",
			want: []where{{WarnUnsafeNACheck, "a.yaml", 3, 49, "rule", "r"}},
		},
		{
			name: "simple regex",
			yaml: "- rule: r\n  desc: d\n  condition: evt.type = open and proc.name regex '^curl.*'\n  output: x\n  priority: INFO\n",
			want: []where{{WarnRegexSimple, "a.yaml", 3, 50, "rule", "r"}},
		},
		{
			name: "deprecated container.info",
			yaml: "- rule: r\n  desc: d\n  condition: evt.type = open\n  output: x %container.info\n  priority: INFO\n",
			want: []where{{WarnDeprecatedContainerI, "a.yaml", 4, 11, "rule", "r"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, diags := load(t, Options{}, tt.yaml)
			var got []where
			for _, d := range diags {
				got = append(got, whereOf(d))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v\n%s", got, tt.want, diags)
			}
		})
	}
}

func TestInputsThatMustNotCrash(t *testing.T) {
	inputs := []string{
		"", "---\n", "~", "- ~\n", "- {}\n", "[[[[", "- &a [*a]\n", "- rule: &x r\n  desc: *x\n",
		"a: &a [*a, *a]\nb: *a\n", "- rule:\n", "- macro: m\n  condition:\n", "- list: l\n  items: [[a]]\n",
		"- rule: r\n  exceptions: {}\n  append: true\n", "- rule: r\n  override: [condition]\n",
		"- rule: r\n  desc: d\n  condition: evt.type = open\n  output: x\n  priority: INFO\n  exceptions:\n  - name: e\n    fields: p\n    values: [[[[a]]]]\n",
		"- required_plugin_versions: x\n", "- required_plugin_versions:\n  - name: [a]\n",
		"\xff\xfe- rule: r\n", "- rule: r\r\n  desc: d\r\n  condition: (\r\n  output: x\r\n  priority: INFO\r\n",
		"- rule: r\n  desc: d\n  condition: \"a\\u00e9\\x41 and (\"\n  output: x\n  priority: INFO\n",
		"- rule: r\n  desc: d\n  condition: " + strings.Repeat("(", 5000) + "\n  output: x\n  priority: INFO\n",
		"- rule: r\n  desc: d\n  condition: " + strings.Repeat("not ", 100000) + "a\n  output: x\n  priority: INFO\n",
	}
	for _, in := range inputs {
		done := make(chan struct{})
		go func() {
			defer close(done)
			rs, diags := Load([]Source{{Name: "x.yaml", Data: []byte(in)}}, Options{})
			if (rs == nil) != diags.HasErrors() {
				t.Errorf("%q: ruleset/diagnostics disagree", in)
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%.60q: Load hangs", in)
		}
	}
}

func BenchmarkLoadStable(b *testing.B) {
	known := knownField(b)
	data, err := readStable(b)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rs, diags := Load([]Source{{Name: "falco_rules.yaml", Data: data}}, Options{KnownField: known})
		if rs == nil {
			b.Fatal(diags)
		}
	}
}
