package condition

// Pos is a byte offset into the condition text.
type Pos int

// Expr is a boolean expression node.
type Expr interface {
	Position() Pos
	// String prints the node in Falco's canonical form, e.g.
	// "(evt.type = open and proc.name in (sh, bash))".
	String() string
	exprNode()
}

// Operand is what a comparison compares: a field, a transformed field, a
// literal value or a list of values.
type Operand interface {
	Position() Pos
	String() string
	operandNode()
}

// And is a conjunction of two or more expressions. A chain "a and b and c"
// is one And with three children; parentheses start a new node.
type And struct {
	Pos      Pos
	Children []Expr
}

// Or is a disjunction of two or more expressions.
type Or struct {
	Pos      Pos
	Children []Expr
}

// Not negates its child.
type Not struct {
	Pos   Pos
	Child Expr
}

// Identifier is a bare name standing alone as a boolean: a macro reference
// until the loader resolves it.
type Identifier struct {
	Pos  Pos
	Name string
}

// Compare is a binary or unary check: Left Op [Modifier] Right. For the unary
// operator "exists" Right is nil.
type Compare struct {
	Pos      Pos
	Left     Operand // *Field or *Transform
	Op       string  // "=", "!=", "<", "<=", ">", ">=", "contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith", "glob", "iglob", "regex", "in", "intersects", "pmatch", "exists"
	Modifier string  // "", "oneof", "anyof" or "allof"
	Right    Operand // *Value, *List, *Field (rhs field) or *Transform; nil for exists
	OpPos    Pos
	// OpText is the operator as written when that differs from Op: "=="
	// for Op "=". Printing reproduces it, as Falco does.
	OpText string
}

// Field names a field, with its optional bracketed argument: proc.aname[2],
// evt.arg[flags]. The parser knows no field names, so a dotted argument as in
// evt.arg.flags or k8s.pod.label.app stays part of Name; the field registry
// splits it by the longest registered prefix.
type Field struct {
	Pos    Pos
	Name   string // e.g. "proc.aname", "evt.arg", "evt.arg.flags"
	Arg    string // unescaped bracket argument
	HasArg bool   // Arg was given in brackets (possibly empty: test.str[""])
	// Raw is the field exactly as written ("evt.arg.flags", "proc.aname[2]",
	// "test.str['a b']"). Printing uses the canonical form instead, which is
	// the same text except for how a quoted argument is quoted.
	Raw string
}

// Transform applies a transformer (tolower, toupper, b64, basename, len,
// join, val) to a field or to another transform.
type Transform struct {
	Pos  Pos
	Name string
	// Arg is the first argument: a *Field or *Transform in every valid
	// condition except join, whose first argument is the separator *Value.
	Arg Operand
	// Args holds every argument in order (Args[0] == Arg). Only join takes
	// more than one: join("-", (fd.name, fd.directory)) has a *Value and an
	// *ArgList. The parser accepts any count; checking arity and argument
	// kinds is the compiler's job.
	Args []Operand
}

// ArgList is a parenthesised list of transformer arguments (fields,
// transforms, quoted strings, numbers), as in join("-", (fd.name, "x")).
type ArgList struct {
	Pos   Pos
	Items []Operand
}

// Value is a literal. Quoted records whether it was written in quotes; Text
// is the unescaped content.
type Value struct {
	Pos    Pos
	Text   string
	Quoted bool
}

// List is a parenthesised list of values: (a, b, "c d").
type List struct {
	Pos   Pos
	Items []*Value
}

func (n *And) Position() Pos        { return n.Pos }
func (n *Or) Position() Pos         { return n.Pos }
func (n *Not) Position() Pos        { return n.Pos }
func (n *Identifier) Position() Pos { return n.Pos }
func (n *Compare) Position() Pos    { return n.Pos }
func (n *Field) Position() Pos      { return n.Pos }
func (n *Transform) Position() Pos  { return n.Pos }
func (n *Value) Position() Pos      { return n.Pos }
func (n *List) Position() Pos       { return n.Pos }
func (n *ArgList) Position() Pos    { return n.Pos }

func (*And) exprNode()        {}
func (*Or) exprNode()         {}
func (*Not) exprNode()        {}
func (*Identifier) exprNode() {}
func (*Compare) exprNode()    {}

func (*Field) operandNode()     {}
func (*Transform) operandNode() {}
func (*Value) operandNode()     {}
func (*List) operandNode()      {}
func (*ArgList) operandNode()   {}
