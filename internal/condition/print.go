package condition

import "strings"

// Canonical printing follows libsinsp's ast::as_string, which is what Falco
// shows as a rule's compiled condition:
//
//	(a and b and c)   (a or b)   not a   proc.name in (sh, "a b")
//	proc.aname[2] = sshd   tolower(proc.name) = test   a.a exists
//	proc.name startswith oneof (sshd, sudo)
//
// Values are quoted exactly when libsinsp quotes them (they contain a blank,
// a quote, a backslash or a control escape), with one difference: where
// libsinsp's text would not parse back to the same tree, we quote too. That
// covers the empty string, values with ( ) , = or \v, a value ending in a
// backslash, an empty field argument, and transformer string arguments.
// Likewise a negated negation prints as "not (not x)", since "not not x"
// parses as x, and a macro named "not" inside a larger condition prints as
// "(not)". The guarantee is that String's output parses to a tree that
// prints the same.

func (n *And) String() string        { return printExpr(n) }
func (n *Or) String() string         { return printExpr(n) }
func (n *Not) String() string        { return printExpr(n) }
func (n *Identifier) String() string { return n.Name }
func (n *Compare) String() string    { return printExpr(n) }
func (n *Field) String() string      { return printOperand(n) }
func (n *Transform) String() string  { return printOperand(n) }
func (n *Value) String() string      { return printOperand(n) }
func (n *List) String() string       { return printOperand(n) }
func (n *ArgList) String() string    { return printOperand(n) }

func printExpr(e Expr) string {
	var b strings.Builder
	writeExpr(&b, e)
	return b.String()
}

func printOperand(o Operand) string {
	var b strings.Builder
	writeOperand(&b, o)
	return b.String()
}

func writeExpr(b *strings.Builder, e Expr) {
	switch n := e.(type) {
	case *And:
		writeChain(b, n.Children, " and ")
	case *Or:
		writeChain(b, n.Children, " or ")
	case *Not:
		b.WriteString("not ")
		if _, ok := n.Child.(*Not); ok {
			// "not not x" would parse as x.
			b.WriteByte('(')
			writeExpr(b, n.Child)
			b.WriteByte(')')
		} else {
			writeExpr(b, n.Child)
		}
	case *Identifier:
		if n.Name == "not" {
			// Bare, "not" followed by a blank would read as negation.
			b.WriteString("(not)")
		} else {
			b.WriteString(n.Name)
		}
	case *Compare:
		writeOperand(b, n.Left)
		b.WriteByte(' ')
		if n.OpText != "" {
			b.WriteString(n.OpText)
		} else {
			b.WriteString(n.Op)
		}
		if n.Modifier != "" {
			b.WriteByte(' ')
			b.WriteString(n.Modifier)
		}
		if n.Right != nil {
			b.WriteByte(' ')
			writeOperand(b, n.Right)
		}
	case nil:
		b.WriteString("<nil>")
	}
}

func writeChain(b *strings.Builder, children []Expr, sep string) {
	b.WriteByte('(')
	for i, c := range children {
		if i > 0 {
			b.WriteString(sep)
		}
		writeExpr(b, c)
	}
	b.WriteByte(')')
}

func writeOperand(b *strings.Builder, o Operand) {
	switch n := o.(type) {
	case *Field:
		b.WriteString(n.Name)
		if n.HasArg {
			b.WriteByte('[')
			writeQuoted(b, n.Arg, needsQuotingArg(n.Arg))
			b.WriteByte(']')
		}
	case *Transform:
		b.WriteString(n.Name)
		b.WriteByte('(')
		args := n.Args
		if len(args) == 0 && n.Arg != nil {
			args = []Operand{n.Arg}
		}
		writeArgs(b, args)
		b.WriteByte(')')
	case *ArgList:
		b.WriteByte('(')
		writeArgs(b, n.Items)
		b.WriteByte(')')
	case *Value:
		writeQuoted(b, n.Text, needsQuoting(n.Text))
	case *List:
		b.WriteByte('(')
		for i, v := range n.Items {
			if i > 0 {
				b.WriteString(", ")
			}
			writeQuoted(b, v.Text, needsQuoting(v.Text))
		}
		b.WriteByte(')')
	case nil:
		b.WriteString("<nil>")
	}
}

// writeArgs prints transformer arguments. A string argument must be quoted
// to parse as one, so quoted values stay quoted; numbers print bare.
func writeArgs(b *strings.Builder, args []Operand) {
	for i, a := range args {
		if i > 0 {
			b.WriteString(", ")
		}
		if v, ok := a.(*Value); ok {
			writeQuoted(b, v.Text, v.Quoted || needsQuoting(v.Text))
			continue
		}
		writeOperand(b, a)
	}
}

// needsQuoting reports whether a value must be printed in quotes: libsinsp's
// rule (blanks, quotes, backslashes, control escapes) plus whatever a bare
// string cannot hold.
func needsQuoting(s string) bool { return mustQuote(s, "()=,") }

// needsQuotingArg is needsQuoting for a field argument, whose bare form may
// hold ( ) , = but not [ ].
func needsQuotingArg(s string) bool { return mustQuote(s, "[]") }

func mustQuote(s, notBare string) bool {
	if s == "" {
		return true
	}
	soft, nul := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\v', '\f', '\r', '"', '\'':
			return true
		case '\b', '\\':
			// libsinsp quotes these, though a bare string may hold them.
			soft = true
		case 0:
			nul = true
		default:
			if strings.IndexByte(notBare, c) >= 0 {
				return true
			}
		}
	}
	// A quoted string cannot hold NUL (libsinsp scans C strings), so a
	// value with NUL stays bare when it can.
	return soft && !nul
}

// writeQuoted writes s, in double quotes with libsinsp's escapes if quote is
// set.
func writeQuoted(b *strings.Builder, s string, quote bool) {
	if !quote {
		b.WriteString(s)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '"':
			b.WriteString(`\"`)
		case '\\':
			if i == len(s)-1 {
				// `\\"` would not close the string (the quote follows a
				// backslash), so end with the legacy escape "\ ", which
				// also means a backslash.
				b.WriteString(`\ `)
			} else {
				b.WriteString(`\\`)
			}
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
