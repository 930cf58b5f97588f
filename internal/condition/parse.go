package condition

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxDepth bounds the parser's recursion. It is counted the way libsinsp's
// filter parser counts it (one level per grammar production entered) with the
// limit Falco's rule loader sets, so a condition nests too deeply here exactly
// when it does in Falco: roughly 200 levels of parentheses.
const MaxDepth = 1000

// Error is a syntax error in a condition.
type Error struct {
	Pos Pos    // byte offset of the error in the condition text
	Msg string // what was expected or found
	// Line and Column locate Pos, both 1-based; Column counts bytes from the
	// start of the line, as libsinsp does.
	Line, Column int
}

// Error formats the error as "column N: msg", or "line L, column N: msg"
// when the condition spans several lines and the error is past the first.
func (e *Error) Error() string {
	if e.Line > 1 {
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("column %d: %s", e.Column, e.Msg)
}

func newError(text string, pos int, msg string) *Error {
	if pos > len(text) {
		pos = len(text)
	}
	line, start := 1, 0
	for i := 0; i < pos; i++ {
		// libsinsp starts a new line after either '\r' or '\n'.
		if c := text[i]; c == '\n' || c == '\r' {
			line++
			start = i + 1
		}
	}
	return &Error{Pos: Pos(pos), Msg: msg, Line: line, Column: pos - start + 1}
}

// Parse parses a Falco condition into its syntax tree. The grammar, including
// its quirks, is libsinsp's (userspace/libsinsp/filter/parser.cpp): `not` binds
// tighter than `and`, which binds tighter than `or`; a chain "a and b and c" is
// one *And with three children; parentheses only group. Macro and list names
// are not resolved: a bare name standing as a condition is an *Identifier, and
// one after in/intersects/pmatch or a modifier is a *Value.
//
// Parse does not panic, and it runs in time linear in the input; nesting
// deeper than MaxDepth is an error. Errors are *Error.
func Parse(text string) (expr Expr, err error) {
	if len(text) == 0 {
		return nil, newError(text, 0, "filter input string is empty")
	}
	p := &parser{text: text}
	defer func() {
		if r := recover(); r != nil {
			pe, ok := r.(parseError)
			if !ok {
				panic(r)
			}
			expr, err = nil, newError(text, pe.pos, pe.msg)
		}
	}()
	expr = p.parseOr()
	if p.pos != len(p.text) {
		p.failf("unexpected token after '%s', expecting 'or', 'and'", clip(p.last))
	}
	return expr, nil
}

// clip shortens a token quoted in an error message.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

// parseError carries a syntax error up through the recursive descent; Parse
// recovers it.
type parseError struct {
	pos int
	msg string
}

type parser struct {
	text  string
	pos   int
	depth int
	last  string // the last token lexed, for error messages
}

func (p *parser) failf(format string, args ...any) {
	p.failAt(p.pos, fmt.Sprintf(format, args...))
}

func (p *parser) failAt(pos int, msg string) {
	panic(parseError{pos: pos, msg: msg})
}

// enter and leave bracket every grammar production, as libsinsp's depth guard
// does, so that the depth limit trips on the same inputs.
func (p *parser) enter() {
	p.depth++
	if p.depth >= MaxDepth {
		p.failf("exceeded max depth limit of %d", MaxDepth)
	}
}

func (p *parser) leave() { p.depth-- }

// Productions.

func (p *parser) parseOr() Expr {
	p.enter()
	p.skipBlank()
	start := p.pos
	first := p.parseAnd()
	p.skipBlank()
	var children []Expr
	for p.lexString("or") {
		var child Expr
		if !p.skipBlank() {
			if !p.lexString("(") {
				p.failf("expected blank or '(' after 'or'")
			}
			child = p.parseEmbedded()
		} else {
			child = p.parseAnd()
		}
		if children == nil {
			children = []Expr{first}
		}
		children = append(children, child)
		p.skipBlank()
	}
	p.leave()
	if children == nil {
		return first
	}
	return &Or{Pos: Pos(start), Children: children}
}

func (p *parser) parseAnd() Expr {
	p.enter()
	p.skipBlank()
	start := p.pos
	first := p.parseNot()
	p.skipBlank()
	var children []Expr
	for p.lexString("and") {
		var child Expr
		if !p.skipBlank() {
			if !p.lexString("(") {
				p.failf("expected blank or '(' after 'and'")
			}
			child = p.parseEmbedded()
		} else {
			child = p.parseNot()
		}
		if children == nil {
			children = []Expr{first}
		}
		children = append(children, child)
		p.skipBlank()
	}
	p.leave()
	if children == nil {
		return first
	}
	return &And{Pos: Pos(start), Children: children}
}

// parseNot parses any number of leading "not"s. As in libsinsp, they cancel
// in pairs: "not not x" is x, while "not (not x)" is two *Not nodes.
func (p *parser) parseNot() Expr {
	p.enter()
	p.skipBlank()
	start := p.pos
	neg := false
	for {
		n := p.lexNotBlank()
		if n == 0 {
			break
		}
		p.pos += n
		p.last = "not"
		neg = !neg
	}
	var child Expr
	if p.lexString("not(") {
		neg = !neg
		child = p.parseEmbedded()
	} else {
		child = p.parseCheck()
	}
	p.leave()
	if neg {
		return &Not{Pos: Pos(start), Child: child}
	}
	return child
}

// parseEmbedded parses the rest of a parenthesised expression after its "(".
func (p *parser) parseEmbedded() Expr {
	p.enter()
	p.skipBlank()
	child := p.parseOr()
	p.skipBlank()
	if !p.lexString(")") {
		p.failf("expected a ')' token")
	}
	p.leave()
	return child
}

func (p *parser) parseCheck() Expr {
	p.enter()
	p.skipBlank()
	start := p.pos
	if p.lexString("(") {
		e := p.parseEmbedded()
		p.leave()
		return e
	}
	if name, ok := p.lexFieldName(); ok {
		left := p.parseFieldRemainder(name, start)
		e := p.parseCondition(left, start)
		p.leave()
		return e
	}
	if name, ok := p.lexTransformer(); ok {
		p.skipBlank()
		left := p.parseTransformerRemainder(name, start)
		e := p.parseCondition(left, start)
		p.leave()
		return e
	}
	if name, ok := p.lexIdentifier(); ok {
		p.leave()
		return &Identifier{Pos: Pos(start), Name: name}
	}
	p.failf("expected a '(' token, a field check, or an identifier")
	return nil
}

// parseFieldRemainder parses the optional [argument] of a field whose name
// has been lexed.
func (p *parser) parseFieldRemainder(name string, start int) *Field {
	p.enter()
	f := &Field{Pos: Pos(start), Name: name}
	if p.lexString("[") {
		if arg, ok := p.lexQuoted(); ok {
			f.Arg = arg
		} else if arg, ok := p.lexFieldArgBare(); ok {
			f.Arg = arg
		} else {
			p.failf("expected a valid field argument: a quoted string or a bare string")
		}
		f.HasArg = true
		if !p.lexString("]") {
			p.failf("expected a ']' token")
		}
	}
	f.Raw = p.text[start:p.pos]
	p.leave()
	return f
}

// parseTransformerRemainder parses the arguments and ")" of a transformer
// whose "name(" has been lexed.
func (p *parser) parseTransformerRemainder(name string, start int) *Transform {
	p.enter()
	p.skipBlank()
	t := &Transform{Pos: Pos(start), Name: name}
	for {
		t.Args = append(t.Args, p.parseTransformerArg())
		p.skipBlank()
		if !p.lexString(",") {
			break
		}
	}
	t.Arg = t.Args[0]
	p.skipBlank()
	if !p.lexString(")") {
		p.failf("expected a ')' token closing the transformer")
	}
	p.leave()
	return t
}

// parseTransformerArg parses one transformer argument: a number, a quoted
// string, an argument list, a transform or a field.
func (p *parser) parseTransformerArg() Operand {
	p.enter()
	p.skipBlank()
	start := p.pos
	var arg Operand
	if tok, ok := p.lexNumber(); ok {
		arg = &Value{Pos: Pos(start), Text: tok}
	} else if s, ok := p.lexQuoted(); ok {
		arg = &Value{Pos: Pos(start), Text: s, Quoted: true}
	} else if p.lexString("(") {
		arg = p.parseArgList(start)
	} else if name, ok := p.lexTransformer(); ok {
		arg = p.parseTransformerRemainder(name, start)
	} else if name, ok := p.lexFieldName(); ok {
		arg = p.parseFieldRemainder(name, start)
	} else {
		p.failf("expected field transformer argument: field, transformer, quoted string, number, or transformer list")
	}
	p.leave()
	return arg
}

// parseArgList parses the rest of a transformer argument list after its "(".
func (p *parser) parseArgList(start int) *ArgList {
	l := &ArgList{Pos: Pos(start)}
	p.skipBlank()
	if p.lexString(")") {
		return l
	}
	l.Items = append(l.Items, p.parseArgListItem())
	p.skipBlank()
	for p.lexString(",") {
		p.skipBlank()
		l.Items = append(l.Items, p.parseArgListItem())
		p.skipBlank()
	}
	if !p.lexString(")") {
		p.failf("expected ')'")
	}
	return l
}

func (p *parser) parseArgListItem() Operand {
	start := p.pos
	if name, ok := p.lexFieldName(); ok {
		return p.parseFieldRemainder(name, start)
	}
	if name, ok := p.lexTransformer(); ok {
		p.skipBlank()
		return p.parseTransformerRemainder(name, start)
	}
	if s, ok := p.lexQuoted(); ok {
		return &Value{Pos: Pos(start), Text: s, Quoted: true}
	}
	if tok, ok := p.lexNumber(); ok {
		return &Value{Pos: Pos(start), Text: tok}
	}
	p.failf("expected transformer list argument: field, transformer, quoted string, or number")
	return nil
}

// Operators, in the order libsinsp tries them. Word operators must be
// followed by a blank; the symbolic ones and the list operators need not be.
var (
	numOps     = []string{"<=", "<", ">=", ">"}
	strSymOps  = []string{"==", "=", "!="}
	strWordOps = []string{"glob", "iglob", "contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith", "regex"}
	listOps    = []string{"intersects", "in", "pmatch"}
	modifiers  = []string{"oneof", "anyof", "allof"}
)

const supportedOps = "'exists', '<=', '<', '>=', '>', '==', '=', '!=', 'glob', 'iglob', 'contains', 'icontains', 'bcontains', 'startswith', 'bstartswith', 'endswith', 'regex', 'intersects', 'in', 'pmatch'"

const supportedTransformers = "'val', 'tolower', 'toupper', 'b64', 'basename', 'len', 'join'"

// parseCondition parses the operator and right operand of a check whose left
// operand has been parsed.
func (p *parser) parseCondition(left Operand, start int) Expr {
	p.enter()
	p.skipBlank()
	c := &Compare{Pos: Pos(start), Left: left, OpPos: Pos(p.pos)}
	if p.lexString("exists") {
		c.Op = "exists"
		p.leave()
		return c
	}
	p.skipBlank()
	c.OpPos = Pos(p.pos)
	switch {
	case p.lexOneOf(numOps):
		c.Op = p.last
		c.Right = p.parseNumValue()
	case p.lexOneOf(strSymOps):
		c.Op = p.last
		blank := p.skipBlank()
		c.Right = p.parseStrValue(c, blank)
	case p.lexWordOp(strWordOps):
		c.Op = p.last
		c.Right = p.parseStrValue(c, true)
	case p.lexOneOf(listOps):
		c.Op = p.last
		c.Right = p.parseListValue()
	default:
		p.failf("expected a valid check operator: one of %s", supportedOps)
	}
	if c.Op == "==" {
		c.Op, c.OpText = "=", "=="
	}
	p.leave()
	return c
}

func (p *parser) parseNumValue() Operand {
	p.enter()
	p.skipBlank()
	start := p.pos
	if t := p.tryTransformer(); t != nil {
		p.leave()
		return t
	}
	if tok, ok := p.lexNumber(); ok {
		p.leave()
		return &Value{Pos: Pos(start), Text: tok}
	}
	p.failf("expected a number value or a field with a valid transformer: %s", supportedTransformers)
	return nil
}

// parseStrValue parses the right operand of a string operator: a transform,
// a quoted or bare string, or a modifier with its list. blank reports whether
// a blank separates the operator from what follows, which a modifier needs.
func (p *parser) parseStrValue(c *Compare, blank bool) Operand {
	p.enter()
	if blank {
		if mod, ok := p.lexModifier(); ok {
			c.Modifier = mod
			v := p.parseModifierList()
			p.leave()
			return v
		}
	}
	v := p.parseStrValueOrTransformer(false)
	p.leave()
	return v
}

// lexModifier recognises "oneof", "anyof" or "allof" followed by blanks and
// then a list or a list name. Otherwise the word is an ordinary bare string
// value ("proc.name = oneof and ..."), and lexModifier consumes nothing.
func (p *parser) lexModifier() (string, bool) {
	save := p.pos
	for _, m := range modifiers {
		if !strings.HasPrefix(p.text[p.pos:], m) {
			continue
		}
		p.pos += len(m)
		if !p.skipBlank() {
			break
		}
		if p.peek() == '(' {
			p.last = m
			return m, true
		}
		end := p.scanIdentifier(p.pos)
		if end > p.pos {
			if w := p.text[p.pos:end]; w != "and" && w != "or" {
				p.last = m
				return m, true
			}
		}
		break
	}
	p.pos = save
	return "", false
}

// parseModifierList parses what follows a modifier: a list, or the name of a
// list (kept as a *Value).
func (p *parser) parseModifierList() Operand {
	p.skipBlank()
	start := p.pos
	if p.lexString("(") {
		return p.parseListBody(start)
	}
	if name, ok := p.lexIdentifier(); ok {
		return &Value{Pos: Pos(start), Text: name}
	}
	p.failf("expected a list or an identifier")
	return nil
}

func (p *parser) parseStrValueOrTransformer(noTransformer bool) Operand {
	p.enter()
	p.skipBlank()
	start := p.pos
	if !noTransformer {
		if t := p.tryTransformer(); t != nil {
			p.leave()
			return t
		}
	}
	if s, ok := p.lexQuoted(); ok {
		p.leave()
		return &Value{Pos: Pos(start), Text: s, Quoted: true}
	}
	if s, ok := p.lexBare(); ok {
		p.leave()
		return &Value{Pos: Pos(start), Text: s}
	}
	if noTransformer {
		p.failf("expected a string value")
	}
	p.failf("expected a string value or a field with a valid transformer: %s", supportedTransformers)
	return nil
}

func (p *parser) parseListValue() Operand {
	p.enter()
	p.skipBlank()
	start := p.pos
	if p.lexString("(") {
		l := p.parseListBody(start)
		p.leave()
		return l
	}
	if t := p.tryTransformer(); t != nil {
		p.leave()
		return t
	}
	if name, ok := p.lexIdentifier(); ok {
		p.leave()
		return &Value{Pos: Pos(start), Text: name}
	}
	p.failf("expected a list, an identifier, or a field with a valid transformer: %s", supportedTransformers)
	return nil
}

// parseListBody parses the values and ")" of a list after its "(". A list
// may be empty.
func (p *parser) parseListBody(start int) *List {
	l := &List{Pos: Pos(start)}
	p.skipBlank()
	if c := p.peek(); c == '"' || c == '\'' || isBareByte(c) {
		l.Items = append(l.Items, p.parseStrValueOrTransformer(true).(*Value))
		p.skipBlank()
		for p.lexString(",") {
			l.Items = append(l.Items, p.parseStrValueOrTransformer(true).(*Value))
			p.skipBlank()
		}
	}
	if !p.lexString(")") {
		p.failf("expected a ')' token")
	}
	return l
}

// tryTransformer parses val(field) or a transformer if one starts here, and
// returns nil otherwise.
func (p *parser) tryTransformer() Operand {
	p.enter()
	p.skipBlank()
	start := p.pos
	if p.lexString("val(") {
		p.skipBlank()
		fstart := p.pos
		name, ok := p.lexFieldName()
		if !ok {
			p.failf("expected a field within 'val' transformer")
		}
		f := p.parseFieldRemainder(name, fstart)
		p.skipBlank()
		if !p.lexString(")") {
			p.failf("expected a ')' token closing the transformer")
		}
		p.leave()
		return &Transform{Pos: Pos(start), Name: "val", Arg: f, Args: []Operand{f}}
	}
	if name, ok := p.lexTransformer(); ok {
		p.skipBlank()
		t := p.parseTransformerRemainder(name, start)
		p.leave()
		return t
	}
	p.leave()
	return nil
}

// Lexing. Every lex function either consumes a token, records it in p.last
// and reports true, or consumes nothing.

func (p *parser) peek() byte {
	if p.pos < len(p.text) {
		return p.text[p.pos]
	}
	return 0
}

// isBlank reports the bytes libsinsp skips between tokens.
func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\b' || c == '\r' || c == '\n'
}

// isSpace reports POSIX [[:space:]], which some of libsinsp's token regular
// expressions use instead of its blank set.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isIdentByte(c byte) bool {
	return isLetter(c) || isDigit(c) || c == '_'
}
func isHexDigit(c byte) bool {
	return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f')
}

// isBareByte reports whether c may appear in a bare string: [^()"'[:space:]=,].
func isBareByte(c byte) bool {
	switch c {
	case '(', ')', '"', '\'', '=', ',':
		return false
	}
	return !isSpace(c)
}

// isFieldArgByte reports whether c may appear in a bare field argument:
// [^][\"'[:space:]].
func isFieldArgByte(c byte) bool {
	switch c {
	case '[', ']', '"', '\'':
		return false
	}
	return !isSpace(c)
}

// skipBlank skips blanks and reports whether there were any.
func (p *parser) skipBlank() bool {
	start := p.pos
	for p.pos < len(p.text) && isBlank(p.text[p.pos]) {
		p.pos++
	}
	return p.pos > start
}

func (p *parser) lexString(s string) bool {
	if strings.HasPrefix(p.text[p.pos:], s) {
		p.pos += len(s)
		p.last = s
		return true
	}
	return false
}

func (p *parser) lexOneOf(list []string) bool {
	for _, s := range list {
		if p.lexString(s) {
			return true
		}
	}
	return false
}

// lexWordOp lexes a word operator, which must be followed by at least one
// blank; the blanks are consumed too.
func (p *parser) lexWordOp(list []string) bool {
	rest := p.text[p.pos:]
	for _, s := range list {
		if strings.HasPrefix(rest, s) && len(rest) > len(s) && isBlank(rest[len(s)]) {
			p.pos += len(s)
			p.last = s
			p.skipBlank()
			return true
		}
	}
	return false
}

// lexNotBlank matches "not[[:space:]]+" and returns its length, or 0.
func (p *parser) lexNotBlank() int {
	rest := p.text[p.pos:]
	if !strings.HasPrefix(rest, "not") {
		return 0
	}
	n := 3
	for n < len(rest) && isSpace(rest[n]) {
		n++
	}
	if n == 3 {
		return 0
	}
	return n
}

// scanIdentifier returns the end of the identifier [a-zA-Z][a-zA-Z0-9_]*
// starting at i, or i if there is none.
func (p *parser) scanIdentifier(i int) int {
	if i >= len(p.text) || !isLetter(p.text[i]) {
		return i
	}
	i++
	for i < len(p.text) && isIdentByte(p.text[i]) {
		i++
	}
	return i
}

func (p *parser) lexIdentifier() (string, bool) {
	end := p.scanIdentifier(p.pos)
	if end == p.pos {
		return "", false
	}
	s := p.text[p.pos:end]
	p.pos = end
	p.last = s
	return s, true
}

// lexFieldName lexes a dotted name of two or more identifier segments.
func (p *parser) lexFieldName() (string, bool) {
	end := p.scanIdentifier(p.pos)
	if end == p.pos {
		return "", false
	}
	segments := 0
	for end+1 < len(p.text) && p.text[end] == '.' && isLetter(p.text[end+1]) {
		end = p.scanIdentifier(end + 1)
		segments++
	}
	if segments == 0 {
		return "", false
	}
	s := p.text[p.pos:end]
	p.pos = end
	p.last = s
	return s, true
}

var transformerNames = []string{"tolower", "toupper", "b64", "basename", "len", "join"}

// lexTransformer lexes "name(" for a transformer usable on a field (every
// transformer but val) and returns the name.
func (p *parser) lexTransformer() (string, bool) {
	rest := p.text[p.pos:]
	for _, name := range transformerNames {
		if len(rest) > len(name) && rest[len(name)] == '(' && strings.HasPrefix(rest, name) {
			p.pos += len(name) + 1
			p.last = name + "("
			return name, true
		}
	}
	return "", false
}

// lexNumber lexes a hexadecimal number 0[xX][0-9a-fA-F]+ or a decimal one
// [+-]?[0-9]+\.?[0-9]*([eE][+-][0-9]+)?, longest match.
func (p *parser) lexNumber() (string, bool) {
	rest := p.text[p.pos:]
	n := 0
	if len(rest) > 2 && rest[0] == '0' && rest[1]|0x20 == 'x' && isHexDigit(rest[2]) {
		n = 3
		for n < len(rest) && isHexDigit(rest[n]) {
			n++
		}
	} else {
		if n < len(rest) && (rest[n] == '+' || rest[n] == '-') {
			n++
		}
		digits := n
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		if n == digits {
			return "", false
		}
		if n < len(rest) && rest[n] == '.' {
			n++
			for n < len(rest) && isDigit(rest[n]) {
				n++
			}
		}
		if n+2 < len(rest) && rest[n]|0x20 == 'e' && (rest[n+1] == '+' || rest[n+1] == '-') && isDigit(rest[n+2]) {
			n += 3
			for n < len(rest) && isDigit(rest[n]) {
				n++
			}
		}
	}
	s := rest[:n]
	p.pos += n
	p.last = s
	return s, true
}

func (p *parser) lexBare() (string, bool) {
	i := p.pos
	for i < len(p.text) && isBareByte(p.text[i]) {
		i++
	}
	if i == p.pos {
		return "", false
	}
	s := p.text[p.pos:i]
	p.pos = i
	p.last = s
	return s, true
}

func (p *parser) lexFieldArgBare() (string, bool) {
	i := p.pos
	for i < len(p.text) && isFieldArgByte(p.text[i]) {
		i++
	}
	if i == p.pos {
		return "", false
	}
	s := p.text[p.pos:i]
	p.pos = i
	p.last = s
	return s, true
}

// lexQuoted lexes a '...' or "..." string and returns its unescaped content.
// Like libsinsp, it ends the string at the first delimiter not preceded by a
// backslash (so "a\\" does not end at its last quote); an unterminated string
// is no string at all, and a bad escape is an error.
func (p *parser) lexQuoted() (string, bool) {
	if p.pos >= len(p.text) {
		return "", false
	}
	delim := p.text[p.pos]
	if delim != '"' && delim != '\'' {
		return "", false
	}
	start := p.pos
	prev := delim
	for i := start + 1; i < len(p.text); i++ {
		c := p.text[i]
		if c == 0 {
			break // libsinsp scans a C string: NUL ends it
		}
		if c == delim && prev != '\\' {
			p.pos = i + 1
			p.last = p.text[start:p.pos]
			s, err := unescape(p.text[start+1:i], delim)
			if err != "" {
				p.failf("%s", err)
			}
			return s, true
		}
		prev = c
	}
	return "", false
}

// unescape resolves the escapes of a quoted string's content. It accepts
// \b \f \n \r \t \\ \/ and the escaped delimiter, and, as libsinsp does for
// compatibility with old rules, "\ " meaning a backslash. Anything else,
// including \x, is an error (libsinsp does not implement \xHH).
func unescape(s string, delim byte) (string, string) {
	if strings.IndexByte(s, '\\') < 0 {
		return s, ""
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			// Cannot happen: the closing delimiter is never escaped.
			b.WriteByte('\\')
			break
		}
		switch e := s[i]; e {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case ' ', '\\':
			b.WriteByte('\\')
		case '/':
			b.WriteByte('/')
		case '"':
			if delim != '"' {
				return "", `invalid \" escape in '-quoted string`
			}
			b.WriteByte('"')
		case '\'':
			if delim != '\'' {
				return "", `invalid \' escape in "-quoted string`
			}
			b.WriteByte('\'')
		default:
			if e > ' ' && e < 0x7f {
				return "", "unsupported string escape sequence: \\" + string(rune(e))
			}
			return "", fmt.Sprintf("unsupported string escape sequence: \\ followed by byte 0x%02x", e)
		}
	}
	return b.String(), ""
}
