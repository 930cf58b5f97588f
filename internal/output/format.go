package output

import (
	"fmt"
	"strings"

	"github.com/truesightsec/truesight/internal/fields"
)

// Format is a compiled output format such as
// "file=%fd.name user=%user.name parent=%proc.aname[2]".
type Format struct {
	parts  []part
	fields []*fields.Bound // distinct fields in order of first use
	names  []string        // field references as written, parallel to fields
	extra  []extraField    // JSON-only fields (append_output extra_fields)
}

type part struct {
	lit   string
	field int // index into fields, -1 for a literal
	width int // minimum width (%20proc.name), 0 for none
}

// fieldByte reports whether b can continue a field reference.
func fieldByte(b byte) bool {
	return b == '.' || b == '_' || b == '-' || b == '/' ||
		('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z') || ('0' <= b && b <= '9')
}

// FormatError locates a problem in an output format.
type FormatError struct {
	Offset int
	Msg    string
}

func (e *FormatError) Error() string { return fmt.Sprintf("output column %d: %s", e.Offset+1, e.Msg) }

// Compile parses an output format. Every %field must be known; "%%" is a
// literal percent sign, and a '%' not followed by a field is kept as is.
func Compile(format string) (*Format, error) {
	f := &Format{}
	index := map[string]int{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f.parts = append(f.parts, part{lit: lit.String(), field: -1})
			lit.Reset()
		}
	}
	for i := 0; i < len(format); {
		c := format[i]
		if c != '%' {
			lit.WriteByte(c)
			i++
			continue
		}
		if i+1 < len(format) && format[i+1] == '%' {
			lit.WriteByte('%')
			i += 2
			continue
		}
		j := i + 1
		width := 0
		for j < len(format) && format[j] >= '0' && format[j] <= '9' {
			width = width*10 + int(format[j]-'0')
			j++
		}
		paren := j < len(format) && format[j] == '('
		if paren {
			j++
		}
		start := j
		for j < len(format) && fieldByte(format[j]) {
			j++
		}
		if j < len(format) && format[j] == '[' {
			end := strings.IndexByte(format[j:], ']')
			if end < 0 {
				return nil, &FormatError{Offset: j, Msg: "unclosed '[' in field argument"}
			}
			j += end + 1
		}
		name := strings.TrimRight(format[start:j], ".")
		j = start + len(name)
		if paren {
			if j >= len(format) || format[j] != ')' {
				return nil, &FormatError{Offset: j, Msg: "expected ')' after %(field"}
			}
		}
		if name == "" || !strings.Contains(name, ".") {
			// Not a field reference: keep the text.
			lit.WriteString(format[i:j])
			i = j
			continue
		}
		b, err := fields.Resolve(name)
		if err != nil {
			return nil, &FormatError{Offset: start, Msg: err.Error()}
		}
		flush()
		k, seen := index[name]
		if !seen {
			k = len(f.fields)
			index[name] = k
			f.fields = append(f.fields, b)
			f.names = append(f.names, name)
		}
		f.parts = append(f.parts, part{field: k, width: width})
		if paren {
			j++
		}
		i = j
	}
	flush()
	return f, nil
}

// Fields returns the field references the format uses, as written.
func (f *Format) Fields() []string { return f.names }

// Render writes the formatted output for one event to b; a field that
// cannot be extracted prints <NA>.
func (f *Format) Render(b *strings.Builder, c *fields.Ctx) {
	for _, p := range f.parts {
		if p.field < 0 {
			b.WriteString(p.lit)
			continue
		}
		fb := f.fields[p.field]
		s := "<NA>"
		if v, ok := fb.Extract(c); ok {
			s = fields.Text(fb.Field.Type, v)
		}
		b.WriteString(s)
		for n := len(s); n < p.width; n++ {
			b.WriteByte(' ')
		}
	}
}

// String renders the format for one event.
func (f *Format) String(c *fields.Ctx) string {
	var b strings.Builder
	f.Render(&b, c)
	return b.String()
}

// Values extracts every field of the format as typed JSON values (nil for
// missing), keyed by the field reference as written.
func (f *Format) Values(c *fields.Ctx) map[string]any {
	m := make(map[string]any, len(f.fields)+len(f.extra))
	for i, fb := range f.fields {
		if v, ok := fb.Extract(c); ok {
			m[f.names[i]] = fields.JSON(fb.Field.Type, v)
		} else {
			m[f.names[i]] = nil
		}
	}
	for _, e := range f.extra {
		if e.bound == nil {
			m[e.name] = e.constant
			continue
		}
		if v, ok := e.bound.Extract(c); ok {
			m[e.name] = fields.JSON(e.bound.Field.Type, v)
		} else {
			m[e.name] = nil
		}
	}
	return m
}

// ExtraField is a field added to an alert's output_fields only (Falco's
// append_output extra_fields): a field reference when Value is empty,
// otherwise a constant under Name.
type ExtraField struct {
	Name  string
	Value string
}

// WithExtraFields returns a copy of the format whose JSON output_fields
// also carry the extra fields; the text is unchanged.
func (f *Format) WithExtraFields(extra []ExtraField) (*Format, error) {
	out := *f
	out.extra = append([]extraField(nil), f.extra...)
	for _, e := range extra {
		if e.Value != "" {
			out.extra = append(out.extra, extraField{name: e.Name, constant: e.Value})
			continue
		}
		b, err := fields.Resolve(e.Name)
		if err != nil {
			return nil, &FormatError{Msg: "extra field: " + err.Error()}
		}
		out.extra = append(out.extra, extraField{name: e.Name, bound: b})
	}
	return &out, nil
}

type extraField struct {
	name     string
	constant string
	bound    *fields.Bound
}
