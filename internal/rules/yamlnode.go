package rules

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// file is one rules file being loaded, with what is needed to turn node
// positions and byte offsets into lines and columns.
type file struct {
	name   string
	data   []byte
	starts []int // byte offset of each line start, built on first use
}

// lineStarts counts lines as go-yaml does: a line ends at \r\n, \r, \n,
// NEL (U+0085), LS (U+2028) or PS (U+2029).
func (f *file) lineStarts() []int {
	if f.starts != nil {
		return f.starts
	}
	starts := []int{0}
	d := f.data
	for i := 0; i < len(d); i++ {
		switch {
		case d[i] == '\n':
			starts = append(starts, i+1)
		case d[i] == '\r':
			if i+1 < len(d) && d[i+1] == '\n' {
				i++
			}
			starts = append(starts, i+1)
		case d[i] == 0xC2 && i+1 < len(d) && d[i+1] == 0x85:
			i++
			starts = append(starts, i+1)
		case d[i] == 0xE2 && i+2 < len(d) && d[i+1] == 0x80 && (d[i+2] == 0xA8 || d[i+2] == 0xA9):
			i += 2
			starts = append(starts, i+1)
		}
	}
	f.starts = starts
	return starts
}

// utf8Text returns the file's content as UTF-8 without a byte order mark,
// so that go-yaml's lines and columns match ours: UTF-16 (which go-yaml
// would decode by itself) is converted.
func utf8Text(data []byte) []byte {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return data[3:]
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		return utf16Text(data[2:], binary.LittleEndian)
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return utf16Text(data[2:], binary.BigEndian)
	}
	return data
}

func utf16Text(data []byte, order binary.ByteOrder) []byte {
	units := make([]uint16, len(data)/2)
	for i := range units {
		units[i] = order.Uint16(data[2*i:])
	}
	return []byte(string(utf16.Decode(units)))
}

// offset converts a 1-based line and character column to a byte offset,
// clamped to the line.
func (f *file) offset(line, col int) int {
	starts := f.lineStarts()
	if line < 1 {
		return 0
	}
	if line > len(starts) {
		return len(f.data)
	}
	off := starts[line-1]
	end := len(f.data)
	if line < len(starts) {
		end = starts[line]
	}
	for c := 1; c < col && off < end; c++ {
		_, w := utf8.DecodeRune(f.data[off:end])
		off += w
	}
	return off
}

// position converts a byte offset to a 1-based line and character column.
func (f *file) position(off int) (line, col int) {
	starts := f.lineStarts()
	if off < 0 {
		off = 0
	}
	if off > len(f.data) {
		off = len(f.data)
	}
	lo, hi := 0, len(starts)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if starts[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo + 1, utf8.RuneCount(f.data[starts[lo]:off]) + 1
}

// scalarOffset finds the byte offset in the file of byte off of scalar n's
// value. Folding and indentation only change whitespace, so the value and
// the source are walked together, whitespace runs matching whitespace runs.
// When they disagree (escapes in quoted scalars) the scalar's start is
// returned.
func (f *file) scalarOffset(n *yaml.Node, off int) int {
	start := f.offset(n.Line, n.Column)
	d := f.data
	j := start
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		for j < len(d) && d[j] != '\n' && d[j] != '\r' {
			j++
		}
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		j++
	}
	v := n.Value
	// Past the last token (an error at the end of the text) is right
	// after it, not after the trailing line break of a block scalar.
	if end := len(strings.TrimRight(v, " \t\r\n")); off > end {
		off = end
	}
	i := 0
	for j < len(d) && isYAMLSpace(d[j]) && (i >= len(v) || !isYAMLSpace(v[i])) {
		j++
	}
	for i < off {
		if j >= len(d) {
			return start
		}
		if isYAMLSpace(v[i]) {
			if !isYAMLSpace(d[j]) {
				return start
			}
			for i < len(v) && isYAMLSpace(v[i]) {
				if i == off {
					return j
				}
				i++
			}
			for j < len(d) && isYAMLSpace(d[j]) {
				j++
			}
			continue
		}
		if v[i] != d[j] {
			return start
		}
		i++
		j++
	}
	return j
}

func isYAMLSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// deref follows aliases. A cycle of aliases yields nil.
func deref(n *yaml.Node) *yaml.Node {
	for hops := 0; n != nil && n.Kind == yaml.AliasNode; hops++ {
		if hops > 64 {
			return nil
		}
		n = n.Alias
	}
	return n
}

// isNull reports whether n is absent or a YAML null (empty, ~, null).
func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func isScalar(n *yaml.Node) bool {
	n = deref(n)
	return n != nil && n.Kind == yaml.ScalarNode && n.Tag != "!!null"
}

// keyValue is one entry of a mapping.
type keyValue struct {
	key   string
	keyN  *yaml.Node
	value *yaml.Node
}

// entries lists a mapping's entries with scalar keys, in order. Non-scalar
// keys are skipped.
func entries(m *yaml.Node) []keyValue {
	m = deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	out := make([]keyValue, 0, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := deref(m.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			continue
		}
		out = append(out, keyValue{key: k.Value, keyN: k, value: m.Content[i+1]})
	}
	return out
}

// get returns the value of the first entry with that key, or nil.
func get(m *yaml.Node, key string) *yaml.Node {
	m = deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := deref(m.Content[i])
		if k != nil && k.Kind == yaml.ScalarNode && k.Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// has reports whether the mapping has the key (even with a null value).
func has(m *yaml.Node, key string) bool { return get(m, key) != nil }

func kindName(n *yaml.Node) string {
	n = deref(n)
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.SequenceNode:
		return "a sequence"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Tag == "!!null":
		return "null"
	default:
		return "a scalar"
	}
}

// parseBool reads a boolean the way yaml-cpp (and so Falco) does: y, yes,
// true, on and their negations, all-lower, all-upper or capitalised.
func parseBool(s string) (bool, bool) {
	if !flexibleCase(s) {
		return false, false
	}
	switch strings.ToLower(s) {
	case "y", "yes", "true", "on":
		return true, true
	case "n", "no", "false", "off":
		return false, true
	}
	return false, false
}

func flexibleCase(s string) bool {
	if s == "" {
		return true
	}
	lower, upper := strings.ToLower(s), strings.ToUpper(s)
	if s == lower || s == upper {
		return true
	}
	return s[:1] == upper[:1] && s[1:] == lower[1:]
}

// parseUint reads a non-negative decimal integer as yaml-cpp does.
func parseUint(s string, bits int) (uint64, bool) {
	if s == "" || s[0] == '-' || s[0] == '+' {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, bits)
	return v, err == nil
}

// yamlErrorLine extracts the line number from a go-yaml error message.
func yamlErrorLine(msg string) int {
	i := strings.Index(msg, "line ")
	if i < 0 {
		return 0
	}
	rest := msg[i+len("line "):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(rest[:j])
	if err != nil {
		return 0
	}
	return n
}

// decodeDocuments parses every document of a YAML stream. go-yaml can panic
// on some malformed input; that is turned into an error.
func decodeDocuments(data []byte) (docs []*yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if e := dec.Decode(&doc); e != nil {
			if errors.Is(e, io.EOF) {
				return docs, nil
			}
			return docs, e
		}
		docs = append(docs, &doc)
	}
}
