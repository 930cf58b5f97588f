package fields

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/state"
)

// Type is the type of a field's value, named as Falco names it.
type Type uint8

// Field types.
const (
	String  Type = iota // PT_CHARBUF / FTYPE_STRING
	Int64               // PT_INT64, PT_INT32
	Uint64              // PT_UINT64, PT_UINT32
	Bool                // PT_BOOL
	IPAddr              // PT_IPADDR
	IPNet               // PT_IPNET
	Port                // PT_PORT
	RelTime             // PT_RELTIME, nanoseconds
	AbsTime             // PT_ABSTIME, nanoseconds since the epoch
	Bytes               // PT_BYTEBUF
)

var typeNames = [...]string{"string", "int64", "uint64", "bool", "ipaddr", "ipnet", "port", "reltime", "abstime", "bytebuf"}

// String names the type as `truesight fields` prints it.
func (t Type) String() string { return typeNames[t] }

// Numeric reports whether values of the type compare as numbers.
func (t Type) Numeric() bool {
	switch t {
	case Int64, Uint64, Port, RelTime, AbsTime:
		return true
	}
	return false
}

// Value is one extracted value. Which member is meaningful depends on the
// field's Type: S for strings, N for numbers, times and bools (0 or 1), IP
// for addresses and networks (Bits is the prefix length of a network).
type Value struct {
	S    string
	N    int64
	IP   netip.Addr
	Bits int
}

// Ctx is what an extractor reads: the event and the state of the thread
// that caused it (Proc may be nil when the process is unknown).
type Ctx struct {
	Evt      *event.Event
	Proc     *state.Process
	Hostname string
	// Containers looks up a container by full id; nil when no runtime
	// metadata is available.
	Containers func(fullID string) *container.Info
}

// Extractor returns a field's value for one event, and false when the value
// cannot be extracted (which makes every comparison on it false).
type Extractor func(c *Ctx) (Value, bool)

// ValueTest tests one value of a multi-valued field.
type ValueTest interface {
	Test(v Value) bool
}

// Multi tests each value of a multi-valued field (proc.aname without an
// index in a condition: every ancestor) and reports whether any passed,
// stopping at the first. An interface rather than a callback keeps
// evaluation free of allocations.
type Multi func(c *Ctx, t ValueTest) bool

// ArgKind says what argument a field takes.
type ArgKind uint8

// Argument kinds.
const (
	NoArg       ArgKind = iota
	IndexArg            // proc.aname[2]: optional non-negative integer
	KeyArg              // k8s.pod.label[app] or k8s.pod.label.app: required key
	NameOrIndex         // evt.arg[flags], evt.arg.flags or evt.arg[0]
)

// Field describes one field.
type Field struct {
	Name string
	Type Type
	Desc string
	Arg  ArgKind
	// ArgRequired is set when the field is meaningless without its argument.
	ArgRequired bool
	// Deprecated fields still work but loading warns.
	Deprecated bool

	bind func(arg string, hasArg bool) (Extractor, Multi, error)
}

// Bound is a field bound to its argument, ready to extract.
type Bound struct {
	Field   *Field
	Arg     string
	HasArg  bool
	Extract Extractor
	// Multi is non-nil for a field that, in a condition, matches when any
	// of its values does.
	Multi Multi
}

var registry = map[string]*Field{}
var ordered []*Field

func register(f *Field) {
	if _, dup := registry[f.Name]; dup {
		panic("fields: duplicate field " + f.Name)
	}
	registry[f.Name] = f
	ordered = append(ordered, f)
}

// simple registers a field without arguments.
func simple(name string, t Type, desc string, ex Extractor) {
	register(&Field{Name: name, Type: t, Desc: desc, bind: func(string, bool) (Extractor, Multi, error) { return ex, nil, nil }})
}

// All returns every registered field sorted by name.
func All() []*Field {
	out := append([]*Field(nil), ordered...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the field registered under exactly this name.
func Lookup(name string) (*Field, bool) {
	f, ok := registry[name]
	return f, ok
}

// Split separates a field reference as written ("proc.aname[2]",
// "evt.arg.flags", "k8s.pod.label.app") into the registered field and its
// argument. The longest registered prefix wins.
func Split(raw string) (f *Field, arg string, hasArg bool, err error) {
	name := raw
	if i := strings.IndexByte(raw, '['); i >= 0 && strings.HasSuffix(raw, "]") {
		name, arg, hasArg = raw[:i], raw[i+1:len(raw)-1], true
	}
	if f, ok := registry[name]; ok {
		return f, arg, hasArg, nil
	}
	if !hasArg {
		// Dotted argument: the longest registered prefix that takes one.
		for i := len(name) - 1; i > 0; i-- {
			if name[i] != '.' {
				continue
			}
			if f, ok := registry[name[:i]]; ok && f.Arg != NoArg {
				return f, name[i+1:], true, nil
			}
		}
	}
	return nil, "", false, fmt.Errorf("unknown field %q", raw)
}

// Known reports whether raw names a field truesight can extract.
func Known(raw string) bool {
	_, err := Resolve(raw)
	return err == nil
}

// Resolve binds a field reference as written to its extractor.
func Resolve(raw string) (*Bound, error) {
	f, arg, hasArg, err := Split(raw)
	if err != nil {
		return nil, err
	}
	return Bind(f, arg, hasArg)
}

// Bind binds a field to an argument.
func Bind(f *Field, arg string, hasArg bool) (*Bound, error) {
	switch {
	case hasArg && f.Arg == NoArg:
		return nil, fmt.Errorf("field %s takes no argument", f.Name)
	case !hasArg && f.ArgRequired:
		return nil, fmt.Errorf("field %s needs an argument, e.g. %s[...]", f.Name, f.Name)
	case hasArg && f.Arg == IndexArg:
		if n, err := strconv.Atoi(arg); err != nil || n < 0 {
			return nil, fmt.Errorf("field %s: argument %q is not a non-negative index", f.Name, arg)
		}
	}
	ex, multi, err := f.bind(arg, hasArg)
	if err != nil {
		return nil, fmt.Errorf("field %s: %w", f.Name, err)
	}
	return &Bound{Field: f, Arg: arg, HasArg: hasArg, Extract: ex, Multi: multi}, nil
}

// Text renders a value as Falco prints it in a text alert.
func Text(t Type, v Value) string {
	switch t {
	case String, Bytes:
		if v.S == "" && v.IP.IsValid() {
			return v.IP.String() // fd.sip.name and friends
		}
		return v.S
	case Bool:
		if v.N != 0 {
			return "true"
		}
		return "false"
	case Uint64, Port:
		return strconv.FormatUint(uint64(v.N), 10)
	case IPAddr:
		if !v.IP.IsValid() {
			return "<NA>"
		}
		return v.IP.String()
	case IPNet:
		if !v.IP.IsValid() {
			return "<NA>"
		}
		return netip.PrefixFrom(v.IP, v.Bits).String()
	}
	return strconv.FormatInt(v.N, 10)
}

// JSON returns a value as the typed Go value Falco's JSON output_fields
// carries (string, number or bool).
func JSON(t Type, v Value) any {
	switch t {
	case String, Bytes, IPAddr, IPNet:
		return Text(t, v)
	case Bool:
		return v.N != 0
	case Uint64, Port:
		return uint64(v.N)
	}
	return v.N
}

func str(s string) (Value, bool) { return Value{S: s}, true }
func num(n int64) (Value, bool)  { return Value{N: n}, true }
func boolean(b bool) (Value, bool) {
	if b {
		return Value{N: 1}, true
	}
	return Value{}, true
}
