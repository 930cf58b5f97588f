package condition

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// dump renders a tree with node kinds spelled out, so tests can assert its
// exact shape: and(...), or(...), not(...), id:x, cmp(<left> <op> <right>),
// f:name[arg], t:name(args), v:"text" (q marks quoted), list(...), args(...).
func dump(x any) string {
	var b strings.Builder
	dumpTo(&b, x)
	return b.String()
}

func dumpTo(b *strings.Builder, x any) {
	list := func(name string, items []any) {
		b.WriteString(name + "(")
		for i, it := range items {
			if i > 0 {
				b.WriteString(", ")
			}
			dumpTo(b, it)
		}
		b.WriteString(")")
	}
	switch n := x.(type) {
	case *And:
		items := make([]any, len(n.Children))
		for i, c := range n.Children {
			items[i] = c
		}
		list("and", items)
	case *Or:
		items := make([]any, len(n.Children))
		for i, c := range n.Children {
			items[i] = c
		}
		list("or", items)
	case *Not:
		list("not", []any{n.Child})
	case *Identifier:
		b.WriteString("id:" + n.Name)
	case *Compare:
		b.WriteString("cmp(")
		dumpTo(b, n.Left)
		b.WriteString(" " + n.Op)
		if n.OpText != "" {
			b.WriteString("[" + n.OpText + "]")
		}
		if n.Modifier != "" {
			b.WriteString(" " + n.Modifier)
		}
		if n.Right != nil {
			b.WriteString(" ")
			dumpTo(b, n.Right)
		}
		b.WriteString(")")
	case *Field:
		b.WriteString("f:" + n.Name)
		if n.HasArg {
			fmt.Fprintf(b, "[%q]", n.Arg)
		}
	case *Transform:
		items := make([]any, len(n.Args))
		for i, a := range n.Args {
			items[i] = a
		}
		list("t:"+n.Name, items)
	case *ArgList:
		items := make([]any, len(n.Items))
		for i, a := range n.Items {
			items[i] = a
		}
		list("args", items)
	case *Value:
		if n.Quoted {
			b.WriteString("q")
		}
		fmt.Fprintf(b, "v:%q", n.Text)
	case *List:
		items := make([]any, len(n.Items))
		for i, a := range n.Items {
			items[i] = a
		}
		list("list", items)
	default:
		fmt.Fprintf(b, "?%T", x)
	}
}

func mustParse(t *testing.T, text string) Expr {
	t.Helper()
	e, err := Parse(text)
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	return e
}

func TestParseBuildsTreeShapes(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"identifier is a macro reference", "spawned_process", `id:spawned_process`},
		{"and chain is one node", "a and b and c", `and(id:a, id:b, id:c)`},
		{"or chain is one node", "a or b or c", `or(id:a, id:b, id:c)`},
		{"and binds tighter than or", "a or b and c or d", `or(id:a, and(id:b, id:c), id:d)`},
		{"not binds tighter than and", "not a and b", `and(not(id:a), id:b)`},
		{"parentheses nest without a node", "(a and b) and c", `and(and(id:a, id:b), id:c)`},
		{"redundant parentheses vanish", "((((a))))", `id:a`},
		{"not before parenthesis", "not(a or b)", `not(or(id:a, id:b))`},
		{"double not cancels", "not not a", `id:a`},
		{"triple not is one not", "not not not(a)", `not(id:a)`},
		{"parenthesised double not is kept", "not (not a)", `not(not(id:a))`},
		{"and directly before parenthesis", "a and(b)", `and(id:a, id:b)`},
		{"keywords are identifiers where a check is expected", "a and or", `and(id:a, id:or)`},
		{"not alone is an identifier", "not", `id:not`},
		{"equality", "evt.type=open", `cmp(f:evt.type = v:"open")`},
		{"double equals keeps its spelling", "proc.name == cat", `cmp(f:proc.name =[==] v:"cat")`},
		{"unary exists", "fd.name exists", `cmp(f:fd.name exists)`},
		{"exists needs no blank after it", "a.b existsand c", `and(cmp(f:a.b exists), id:c)`},
		{"numeric operator", "fd.num>=0", `cmp(f:fd.num >= v:"0")`},
		{"hex number", "a.b <= 0XaB", `cmp(f:a.b <= v:"0XaB")`},
		{"signed float with exponent", "a.b > -0.12e+10", `cmp(f:a.b > v:"-0.12e+10")`},
		{"bare string keeps brackets and colons", "proc.name = runc:[0:PARENT]", `cmp(f:proc.name = v:"runc:[0:PARENT]")`},
		{"bare string glob", "fd.name glob /etc/*", `cmp(f:fd.name glob v:"/etc/*")`},
		{"bare string may contain a backslash", `a.b = c\d`, `cmp(f:a.b = v:"c\\d")`},
		{"single quoted", `a.b = 'x y'`, `cmp(f:a.b = qv:"x y")`},
		{"double quoted escapes", `a.b = "\b\f\n\r\t\\\/\""`, `cmp(f:a.b = qv:"\b\f\n\r\t\\/\"")`},
		{"single quoted escaped quote", `a.b = 'it\'s'`, `cmp(f:a.b = qv:"it's")`},
		{"legacy backslash blank", `a.b = "c:\ "`, `cmp(f:a.b = qv:"c:\\")`},
		{"word operators", "a.b icontains x and a.b bstartswith 0a and a.b regex ^a",
			`and(cmp(f:a.b icontains v:"x"), cmp(f:a.b bstartswith v:"0a"), cmp(f:a.b regex v:"^a"))`},
		{"list", `proc.name in (sh, "a b", 'c')`, `cmp(f:proc.name in list(v:"sh", qv:"a b", qv:"c"))`},
		{"empty list", "a.b in ()", `cmp(f:a.b in list())`},
		{"list operators need no blank", "a.b intersects(x) and a.b pmatch(/tmp)",
			`and(cmp(f:a.b intersects list(v:"x")), cmp(f:a.b pmatch list(v:"/tmp")))`},
		{"list name after in", "proc.name in shell_binaries", `cmp(f:proc.name in v:"shell_binaries")`},
		{"field with index argument", "proc.aname[2] = sshd", `cmp(f:proc.aname["2"] = v:"sshd")`},
		{"field with name argument", "evt.arg[flags] contains O_RDWR", `cmp(f:evt.arg["flags"] contains v:"O_RDWR")`},
		{"dotted argument stays in the name", "evt.arg.flags contains O_RDWR", `cmp(f:evt.arg.flags contains v:"O_RDWR")`},
		{"k8s label", "k8s.pod.label.app = web", `cmp(f:k8s.pod.label.app = v:"web")`},
		{"quoted field argument", `a.b['x y'] = 1`, `cmp(f:a.b["x y"] = v:"1")`},
		{"empty field argument", `a.b[""] = 1`, `cmp(f:a.b[""] = v:"1")`},
		{"transformer on the left", "tolower(proc.name) = test", `cmp(t:tolower(f:proc.name) = v:"test")`},
		{"nested transformers", "b64( toupper(a.b) ) exists", `cmp(t:b64(t:toupper(f:a.b)) exists)`},
		{"len and basename", "len(basename(fd.name)) > 3", `cmp(t:len(t:basename(f:fd.name)) > v:"3")`},
		{"field on the right stays a value", "proc.name = proc.pname", `cmp(f:proc.name = v:"proc.pname")`},
		{"val on the right", "proc.name = val(proc.pname)", `cmp(f:proc.name = t:val(f:proc.pname))`},
		{"transformer on the right of a list operator", "a.b in toupper(c.d)", `cmp(f:a.b in t:toupper(f:c.d))`},
		{"transformer on the right of a numeric operator", "len(a.b) > len(c.d)", `cmp(t:len(f:a.b) > t:len(f:c.d))`},
		{"join", `join("-", (fd.name, 1, "x", tolower(a.b))) = y`,
			`cmp(t:join(qv:"-", args(f:fd.name, v:"1", qv:"x", t:tolower(f:a.b))) = v:"y")`},
		{"modifier with list", "proc.name startswith oneof (sshd, sudo)",
			`cmp(f:proc.name startswith oneof list(v:"sshd", v:"sudo"))`},
		{"modifier after symbolic operator", "proc.name != allof (a)", `cmp(f:proc.name != allof list(v:"a"))`},
		{"modifier with list name", "proc.name = anyof my_list", `cmp(f:proc.name = anyof v:"my_list")`},
		{"modifier word as a plain value", "proc.name = oneof", `cmp(f:proc.name = v:"oneof")`},
		{"modifier word as a value before and", "proc.name = oneof and x", `and(cmp(f:proc.name = v:"oneof"), id:x)`},
		{"modifier word needs a blank before it", "proc.name =oneof", `cmp(f:proc.name = v:"oneof")`},
		{"blanks include line breaks and backspace", "a\n and\r\n\tb\b", `and(id:a, id:b)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := dump(mustParse(t, tc.in)); got != tc.want {
				t.Errorf("Parse(%q)\n got %s\nwant %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, in string
		pos      int
		msg      string
	}{
		{"empty input", "", 0, "filter input string is empty"},
		{"blank input", "   ", 3, "expected a '(' token, a field check, or an identifier"},
		{"unclosed parenthesis", "(a.b = 1", 8, "expected a ')' token"},
		{"extra closing parenthesis", "a and b)", 7, "unexpected token after 'b', expecting 'or', 'and'"},
		{"and glued to a name", "a andb", 5, "expected blank or '(' after 'and'"},
		{"dangling or", "a or", 4, "expected blank or '(' after 'or'"},
		{"unknown operator", "a.a notanoperator xxx", 4, "expected a valid check operator"},
		// As in libsinsp, "in" needs no blank after it: this is "a.a in validoperator".
		{"operator starting with in", "a.a invalidoperator xxx", 20, "unexpected token after 'validoperator'"},
		{"word operator glued to its value", "a.b containsvalue", 4, "expected a valid check operator"},
		{"missing value", "a.b =", 5, "expected a string value or a field with a valid transformer"},
		{"number expected", "a.b > x", 6, "expected a number value"},
		{"trailing comma in list", "a.b in (x,)", 10, "expected a string value"},
		{"unterminated quote", `a.b = "abc`, 6, "expected a string value"},
		{"hex escape unsupported", `a.b = "\x41"`, 12, `unsupported string escape sequence: \x`},
		{"escaped double quote in single quotes", `a.b = 'a\"'`, 11, `invalid \" escape in '-quoted string`},
		{"val on the left", "val(a.b) exists", 3, "unexpected token after 'val'"},
		{"unknown transformer", "foo(a.b) exists", 3, "unexpected token after 'foo'"},
		{"empty field argument", "a.b[] = 1", 4, "expected a valid field argument"},
		{"macro compared", "macro > 12", 6, "unexpected token after 'macro'"},
		{"modifier on a list operator", "a.b in oneof (x)", 13, "unexpected token after 'oneof'"},
		{"modifier glued to its list", "a.b = oneof(x)", 11, "unexpected token after 'oneof'"},
		{"upper-case modifier", "a.b = ONEOF (x)", 12, "unexpected token after 'ONEOF'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %s, want error", tc.in, e)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *Error", err)
			}
			if int(pe.Pos) != tc.pos || !strings.Contains(pe.Msg, tc.msg) {
				t.Errorf("Parse(%q) error at %d %q, want at %d containing %q", tc.in, pe.Pos, pe.Msg, tc.pos, tc.msg)
			}
		})
	}
}

func TestErrorReportsColumnAndLine(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"(a.b = 1", "column 9: expected a ')' token"},
		{"a and\n  (b or c", "line 2, column 10: expected a ')' token"},
		{"a and\r\n b)", "line 3, column 3: unexpected token after 'b', expecting 'or', 'and'"},
	}
	for _, tc := range tests {
		_, err := Parse(tc.in)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q) error %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestParseRecordsPositions(t *testing.T) {
	in := `evt.type = open and not proc.name in (a, "b")`
	e := mustParse(t, in)
	and := e.(*And)
	cmp := and.Children[0].(*Compare)
	not := and.Children[1].(*Not)
	in2 := not.Child.(*Compare)
	list := in2.Right.(*List)
	checks := []struct {
		what string
		got  Pos
		want int
	}{
		{"and", and.Pos, 0},
		{"first compare", cmp.Pos, 0},
		{"operator", cmp.OpPos, 9},
		{"value", cmp.Right.Position(), 11},
		{"not", not.Pos, 20},
		{"second compare", in2.Pos, 24},
		{"list", list.Pos, 37},
		{"quoted item", list.Items[1].Pos, 41},
	}
	for _, c := range checks {
		if int(c.got) != c.want {
			t.Errorf("%s at %d, want %d", c.what, c.got, c.want)
		}
	}
	if f := in2.Left.(*Field); f.Raw != "proc.name" {
		t.Errorf("Raw = %q", f.Raw)
	}
	f := mustParse(t, `a.b['x y'] exists`).(*Compare).Left.(*Field)
	if f.Raw != `a.b['x y']` || f.Arg != "x y" || !f.HasArg {
		t.Errorf("field %+v", f)
	}
}

func TestStringPrintsFalcoCanonicalForm(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"evt.type=open and proc.name in (ash,bash, csh)", "(evt.type = open and proc.name in (ash, bash, csh))"},
		{"((proc.aname=sshd and proc.name != sshd) or proc.name=systemd-logind) or proc.name = ssh",
			"(((proc.aname = sshd and proc.name != sshd) or proc.name = systemd-logind) or proc.name = ssh)"},
		{"not proc.cmdline contains 'curl 127.0.0.1'", `not proc.cmdline contains "curl 127.0.0.1"`},
		{"proc.name startswith oneof (sshd, sudo)", "proc.name startswith oneof (sshd, sudo)"},
		{"tolower( proc.name )=test", "tolower(proc.name) = test"},
		{"evt.type in (open,openat)", "evt.type in (open, openat)"},
		{"a.a exists", "a.a exists"},
		{"not (a and b)", "not (a and b)"},
		{"not (not a)", "not (not a)"},
		{"not not a", "a"},
		{"proc.name == cat", "proc.name == cat"},
		{"proc.aname[2]=sshd and evt.arg.flags contains O_TRUNC", "(proc.aname[2] = sshd and evt.arg.flags contains O_TRUNC)"},
		{"a.b['x'] = 1 and a.b['x y'] = 1", `(a.b[x] = 1 and a.b["x y"] = 1)`},
		{"proc.name = \"proc.pname \"", `proc.name = "proc.pname "`},
		{"a.b = 'it''s'", ""}, // rejected: two strings
		{`a.b = 'say "hi"'`, `a.b = "say \"hi\""`},
		{`a.b = "it's"`, `a.b = "it's"`},
		{`a.b = "tab\there"`, `a.b = "tab\there"`},
		{`a.b = C:\dir`, `a.b = "C:\\dir"`},
		{`a.b in ("x,y", "(z)", "a=b", "")`, `a.b in ("x,y", "(z)", "a=b", "")`},
		{`a.b = "C:\\dir\\"`, ""}, // rejected: the final quote is escaped
		{`a.b = 'x\\'`, ""},
		{`a.b = "x\ "`, `a.b = "x\ "`},
		{`a.b = "toupper(c.d)"`, `a.b = "toupper(c.d)"`},
		{`a.b = val(c.d[1])`, `a.b = val(c.d[1])`},
		{`join(',', (a.b, 12)) = "1,2"`, `join(",", (a.b, 12)) = "1,2"`},
		{"proc.name = oneof my_list", "proc.name = oneof my_list"},
		{"not\band not", "((not) and (not))"},
		{"not not", "not (not)"},
	}
	for _, tc := range tests {
		e, err := Parse(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("Parse(%q) = %s, want error", tc.in, e)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		got := e.String()
		if got != tc.want {
			t.Errorf("Parse(%q).String()\n got %s\nwant %s", tc.in, got, tc.want)
			continue
		}
		e2, err := Parse(got)
		if err != nil {
			t.Errorf("printed %q does not parse: %v", got, err)
		} else if again := e2.String(); again != got {
			t.Errorf("printed %q reprints as %q", got, again)
		}
	}
}

// Values that libsinsp would print unparseably are quoted so that printing
// round-trips.
func TestStringQuotesValuesThatWouldNotParseBack(t *testing.T) {
	tests := []struct {
		text, want string
	}{
		{"", `""`},
		{"a,b", `"a,b"`},
		{"f(x)", `"f(x)"`},
		{"k=v", `"k=v"`},
		{"v\vt", "\"v\vt\""},
		{`ends\`, `"ends\ "`},
		{`two\\`, `"two\\\ "`},
		{"nul\x00ok", "nul\x00ok"},
		{"nul\x00\\", "nul\x00\\"},
		{"plain", "plain"},
		{"[0:PARENT]", "[0:PARENT]"},
	}
	for _, tc := range tests {
		c := &Compare{Left: &Field{Name: "a.b"}, Op: "=", Right: &Value{Text: tc.text}}
		got := c.String()
		if got != "a.b = "+tc.want {
			t.Errorf("value %q prints %q, want %q", tc.text, got, "a.b = "+tc.want)
			continue
		}
		e, err := Parse(got)
		if err != nil {
			t.Errorf("%q: %v", got, err)
			continue
		}
		if v := e.(*Compare).Right.(*Value).Text; v != tc.text {
			t.Errorf("%q parses back to %q, want %q", got, v, tc.text)
		}
	}
}

func TestParseDepthIsBounded(t *testing.T) {
	ok := strings.Repeat("(", 150) + "a" + strings.Repeat(")", 150)
	if _, err := Parse(ok); err != nil {
		t.Errorf("150 nested parentheses: %v", err)
	}
	deep := strings.Repeat("(", 300) + "a" + strings.Repeat(")", 300)
	_, err := Parse(deep)
	var pe *Error
	if !errors.As(err, &pe) || !strings.Contains(pe.Msg, "exceeded max depth limit of 1000") {
		t.Errorf("300 nested parentheses: %v, want depth error", err)
	}
	for _, in := range []string{
		strings.Repeat("not (", 1<<20),
		strings.Repeat("b64(", 1<<20) + "a.b) exists",
		"a.b = " + strings.Repeat("tolower(", 1<<20),
		strings.Repeat("join('-', (", 1<<20),
	} {
		if _, err := Parse(in); !errors.As(err, &pe) || !strings.Contains(pe.Msg, "depth") {
			t.Errorf("Parse(%.20q...) = %v, want depth error", in, err)
		}
	}
}

func TestParseHandlesHugeInputQuickly(t *testing.T) {
	const size = 10 << 20
	var b strings.Builder
	for b.Len() < size {
		fmt.Fprintf(&b, "(proc.name in (sh, bash, 'a b') and fd.name startswith /etc/ or not k.v%d exists) and ", b.Len())
	}
	b.WriteString("x")
	inputs := map[string]string{
		"long and chain":     b.String(),
		"long quoted string": `a.b = "` + strings.Repeat(`x\"`, size/2) + `"`,
		"unterminated quote": `a.b = "` + strings.Repeat(`x\"`, size/2),
		"long bare string":   "a.b = " + strings.Repeat("x", size),
		"long list":          "a.b in (" + strings.Repeat("x, ", size/3) + "y)",
		"many nots":          strings.Repeat("not ", size/4) + "a",
	}
	for name, in := range inputs {
		start := time.Now()
		_, err := Parse(in)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %v", name, d)
		}
		t.Logf("%s: %d bytes, err=%v", name, len(in), err)
	}
}
