package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// decoder fills a Config from YAML nodes, the embedded default first and
// the user's file after, keeping where each key was set.
type decoder struct {
	env       func(string) (string, bool)
	src       string                // name of the document being decoded
	overrides map[*yaml.Node]string // nodes set by -o, with the override's text
	pos       map[string]Position   // where each key path was last set
	fromEnv   map[string]string     // key path -> value before ${VAR} expansion
	warnings  []Warning
	errs      Errors
}

func newDecoder(env func(string) (string, bool)) *decoder {
	return &decoder{
		env:       env,
		overrides: map[*yaml.Node]string{},
		pos:       map[string]Position{},
		fromEnv:   map[string]string{},
	}
}

// at is the position of a node: its line in the document, or the -o
// override that made it.
func (d *decoder) at(n *yaml.Node) Position {
	if o, ok := d.overrides[n]; ok {
		return Position{File: "-o " + o}
	}
	return Position{File: d.src, Line: n.Line, Column: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, key, format string, args ...any) {
	d.errs = append(d.errs, &Error{Position: d.at(n), Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) warnf(n *yaml.Node, key, format string, args ...any) {
	d.warnings = append(d.warnings, Warning{Position: d.at(n), Key: key, Msg: fmt.Sprintf(format, args...)})
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses a configuration document and returns its top mapping
// (an empty one for an empty file).
func parseYAML(name string, data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := err.Error()
		line := 0
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		msg = strings.TrimPrefix(msg, "yaml: ")
		if line == 0 {
			return nil, Errors{{Position: Position{File: name}, Msg: "not valid YAML: " + msg}}
		}
		return nil, Errors{{Position: Position{File: name, Line: line}, Msg: "not valid YAML: " + msg}}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.MappingNode}, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return &yaml.Node{Kind: yaml.MappingNode}, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, Errors{{Position: Position{File: name, Line: root.Line, Column: root.Column},
			Msg: "a configuration file is a mapping of keys to values, such as json_output: true"}}
	}
	return root, nil
}

// decodeDocument decodes a document's top mapping onto c.
func (d *decoder) decodeDocument(name string, root *yaml.Node, c *Config) {
	d.src = name
	d.decode(root, reflect.ValueOf(c).Elem(), "")
}

// aliases are old key names Falco still reads, with their current name.
var aliases = map[string]string{
	"rules_file": "rules_files",
}

// ignoredKeys are Falco keys that have no meaning for truesight: they are
// accepted with a warning, so that a falco.yaml loads unchanged.
var ignoredKeys = map[string]string{
	"load_plugins":                         "truesight has no plugins",
	"plugins":                              "truesight has no plugins",
	"plugins_hostinfo":                     "truesight has no plugins",
	"config_files":                         "truesight reads one configuration file",
	"rules":                                "rule selection is not supported; disable rules in a rules file with enabled: false",
	"engine.kmod":                          "truesight always uses its own eBPF sensor; engine.modern_ebpf sizes its ring buffer",
	"engine.ebpf":                          "truesight always uses its own eBPF sensor; engine.modern_ebpf sizes its ring buffer",
	"engine.gvisor":                        "truesight always uses its own eBPF sensor",
	"engine.replay":                        "use truesight replay instead",
	"engine.nodriver":                      "truesight always uses its own eBPF sensor",
	"engine.modern_ebpf.drop_failed_exit":  "truesight's sensor keeps failed syscalls",
	"engine.modern_ebpf.disable_iterators": "truesight needs its task iterator to seed the process table",
	"syscall_event_drops.simulate_drops":   "drops cannot be simulated; a tiny ring buffer (engine.modern_ebpf.buf_size_preset: 1) makes real ones",
	"static_fields":                        "static fields are not supported",
	"outputs":                              "Falco's deprecated throttling is replaced by truesight.rate_limit",
	"libs_logger":                          "truesight has no libs logger",
	"grpc":                                 "truesight has no gRPC server",
	"syscall_event_timeouts":               "truesight's sensor has no event timeouts",
	"metrics":                              "metrics are served at /metrics by the webserver",
	"base_syscalls":                        "truesight captures the syscalls its rules need",
	"syscall_buf_size_preset":              "Falco's old name; use engine.modern_ebpf.buf_size_preset",
	"syscall_drop_failed_exit":             "truesight's sensor keeps failed syscalls",
	"modern_bpf":                           "truesight always uses its own eBPF sensor",
	"container_engines":                    "containers are found from cgroups",
	"container":                            "containers are found from cgroups",
	"metadata_download":                    "no metadata is downloaded",
	"falco_libs":                           "truesight does not use Falco's libs",
	"buffer_format_base64":                 "truesight does not print event buffers",
	"capture":                              "use truesight's capture command instead",
}

// canonical returns the current name of a top-level key.
func canonical(key string) string {
	if c, ok := aliases[key]; ok {
		return c
	}
	return key
}

var (
	durationType   = reflect.TypeFor[Duration]()
	extraFieldType = reflect.TypeFor[ExtraField]()
)

// decode sets v from n; key is v's key path, for messages.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	d.pos[key] = d.at(n)
	null := n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
	switch v.Type() {
	case durationType:
		if s, ok := d.scalar(n, key, "a duration such as 10s or 500ms"); ok {
			if null {
				v.SetInt(0)
				return
			}
			dur, err := time.ParseDuration(s)
			if err != nil {
				d.errorf(n, key, "want a duration such as 10s or 500ms, got %q", s)
				return
			}
			if dur < 0 {
				d.errorf(n, key, "want a duration of 0s or more, got %q", s)
				return
			}
			v.SetInt(int64(dur))
		}
		return
	case extraFieldType:
		d.decodeExtraField(n, v, key)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if null {
			return // keep the defaults
		}
		d.decodeStruct(n, v, key)
	case reflect.Slice:
		d.decodeSlice(n, v, key, null)
	case reflect.Map:
		d.decodeMap(n, v, key, null)
	case reflect.String:
		if s, ok := d.scalar(n, key, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		s, ok := d.scalar(n, key, "a boolean (true or false)")
		if !ok {
			return
		}
		switch strings.ToLower(s) {
		case "true", "yes", "on", "y":
			v.SetBool(true)
		case "false", "no", "off", "n", "":
			v.SetBool(false)
		default:
			d.errorf(n, key, "want a boolean (true or false), got %q", s)
		}
	case reflect.Int:
		s, ok := d.scalar(n, key, "an integer")
		if !ok {
			return
		}
		if s == "" {
			v.SetInt(0)
			return
		}
		i, err := strconv.ParseInt(s, 0, 64)
		if err != nil || i > math.MaxInt32 || i < math.MinInt32 {
			d.errorf(n, key, "want an integer, got %q", s)
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		s, ok := d.scalar(n, key, "a number")
		if !ok {
			return
		}
		if s == "" {
			v.SetFloat(0)
			return
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.errorf(n, key, "want a number such as 0.5, got %q", s)
			return
		}
		v.SetFloat(f)
	default:
		panic("config: no decoder for " + v.Type().String())
	}
}

// kindName names a node's kind for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// scalar returns a scalar's text with ${VAR} expanded; null is "".
func (d *decoder) scalar(n *yaml.Node, key, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, key, "want %s, got %s", want, kindName(n))
		return "", false
	}
	if n.ShortTag() == "!!null" {
		return "", true
	}
	s, err := expandEnv(n.Value, d.env)
	if err != nil {
		d.errorf(n, key, "%v", err)
		return "", false
	}
	if s != n.Value {
		d.fromEnv[key] = n.Value
	} else {
		delete(d.fromEnv, key)
	}
	return s, true
}

// expandEnv replaces ${NAME} with the environment variable NAME; $${
// stands for a literal ${. An unset variable is an error: an empty secret
// would fail later in a less obvious way.
func expandEnv(s string, env func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if !strings.HasPrefix(s[i:], "${") {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unclosed ${ in %q (write $${ for a literal ${)", s)
		}
		name := s[i+2 : i+end]
		if !validEnvName(name) {
			return "", fmt.Errorf("${%s}: not an environment variable name", name)
		}
		val, ok := env(name)
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", name)
		}
		b.WriteString(val)
		i += end + 1
	}
	return b.String(), nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		letter := c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
		digit := c >= '0' && c <= '9'
		if !letter && (i == 0 || !digit) {
			return false
		}
	}
	return true
}

// fieldsOf maps the YAML names of a struct type's fields to their index.
func fieldsOf(t reflect.Type) (map[string]int, []string) {
	m := map[string]int{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		m[name] = i
		names = append(names, name)
	}
	return m, names
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, key, "want a mapping of keys to values, got %s", kindName(n))
		return
	}
	fields, names := fieldsOf(v.Type())
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		name := k.Value
		path := join(key, name)
		if key == "" {
			if current, ok := aliases[name]; ok {
				d.warnf(k, path, "old name of %s; use %s", current, current)
				name, path = current, current
			}
		}
		if prev := seen[name]; prev != nil {
			d.warnf(k, path, "set again (first set at line %d); the last value wins", prev.Line)
		}
		seen[name] = k
		f, ok := fields[name]
		if !ok {
			if why, ignored := ignoredKeys[path]; ignored {
				d.warnf(k, path, "Falco key with no effect in truesight: %s", why)
				continue
			}
			msg := "unknown key, ignored"
			if s := suggest(name, names); s != "" {
				msg += "; did you mean " + join(key, s) + "?"
			}
			d.warnf(k, path, "%s", msg)
			continue
		}
		d.decode(val, v.Field(f), path)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, key string, null bool) {
	t := v.Type()
	switch {
	case null:
		v.Set(reflect.MakeSlice(t, 0, 0))
		return
	case n.Kind == yaml.ScalarNode && t.Elem().Kind() == reflect.String:
		// A single value where a list is expected is a list of one.
		s := reflect.MakeSlice(t, 1, 1)
		d.decode(n, s.Index(0), key+"[0]")
		v.Set(s)
		return
	case n.Kind != yaml.SequenceNode:
		d.errorf(n, key, "want a list, got %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
	for i, e := range n.Content {
		d.decode(e, s.Index(i), fmt.Sprintf("%s[%d]", key, i))
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, key string, null bool) {
	if null {
		v.Set(reflect.Zero(v.Type()))
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, key, "want a mapping of names to values, got %s", kindName(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(n.Content[i+1], e, join(key, k.Value))
		m.SetMapIndex(reflect.ValueOf(k.Value), e)
	}
	v.Set(m)
}

// decodeExtraField reads "evt.hostname" or "name: value".
func (d *decoder) decodeExtraField(n *yaml.Node, v reflect.Value, key string) {
	f := v.Addr().Interface().(*ExtraField)
	switch {
	case n.Kind == yaml.ScalarNode:
		if s, ok := d.scalar(n, key, "a field name"); ok {
			*f = ExtraField{Name: s}
		}
	case n.Kind == yaml.MappingNode && len(n.Content) == 2:
		s, ok := d.scalar(n.Content[1], join(key, n.Content[0].Value), "a value or an output format")
		if ok {
			*f = ExtraField{Name: n.Content[0].Value, Value: s}
		}
	default:
		d.errorf(n, key, "want a field name or a single name: value pair, got %s", kindName(n))
	}
}

// suggest returns the candidate closest to name if it is a plausible typo.
func suggest(name string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if dist := editDistance(name, c); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// segment is one step of a key path: a mapping key, or a list index.
type segment struct {
	key   string
	index int // -1 for a key
}

// parsePath splits a key path such as append_output[0].match.source.
func parsePath(p string) ([]segment, error) {
	var segs []segment
	for _, part := range strings.Split(p, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if name == "" {
			return nil, errors.New("empty key name")
		}
		segs = append(segs, segment{key: name, index: -1})
		if rest == "" && !strings.Contains(part, "[") {
			continue
		}
		rest = "[" + rest
		for rest != "" {
			end := strings.IndexByte(rest, ']')
			if rest[0] != '[' || end < 0 {
				return nil, fmt.Errorf("bad list index in %q", part)
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || i < 0 {
				return nil, fmt.Errorf("bad list index %q in %q", rest[1:end], part)
			}
			segs = append(segs, segment{index: i})
			rest = rest[end+1:]
		}
	}
	return segs, nil
}

// override applies one -o key=value to the user's document before it is
// decoded, so that the value gets the same checks as one from the file.
func (d *decoder) override(root *yaml.Node, o string) *Error {
	fail := func(format string, args ...any) *Error {
		return &Error{Position: Position{File: "-o " + o}, Msg: fmt.Sprintf(format, args...)}
	}
	key, val, ok := strings.Cut(o, "=")
	if !ok || key == "" {
		return fail("want key=value, such as -o json_output=true")
	}
	segs, err := parsePath(key)
	if err != nil {
		return fail("key %q: %v", key, err)
	}
	value := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val}
	if t := strings.TrimSpace(val); strings.HasPrefix(t, "[") || strings.HasPrefix(t, "{") {
		// A flow list or mapping: -o rules_files=[a.yaml,b.yaml]
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(val), &doc); err != nil || len(doc.Content) != 1 {
			return fail("value %q is not a valid YAML list or mapping", val)
		}
		value = doc.Content[0]
	}
	d.mark(value, o)

	n := root
	for i, s := range segs {
		last := i == len(segs)-1
		// A placeholder for what the next step needs.
		fresh := func() *yaml.Node {
			if last {
				return value
			}
			p := &yaml.Node{Kind: yaml.MappingNode}
			if segs[i+1].index >= 0 {
				p.Kind = yaml.SequenceNode
			}
			d.overrides[p] = o
			return p
		}
		if s.index < 0 {
			if n.Kind != yaml.MappingNode {
				*n = yaml.Node{Kind: yaml.MappingNode}
			}
			j := -1
			for k := 0; k+1 < len(n.Content); k += 2 {
				if name := n.Content[k].Value; name == s.key || (i == 0 && canonical(name) == canonical(s.key)) {
					j = k + 1 // the last one wins, as when decoding
				}
			}
			if j < 0 {
				k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s.key}
				d.overrides[k] = o
				n.Content = append(n.Content, k, fresh())
				j = len(n.Content) - 1
			} else if last {
				n.Content[j] = value
			}
			n = n.Content[j]
			continue
		}
		if n.Kind != yaml.SequenceNode {
			old := *n
			*n = yaml.Node{Kind: yaml.SequenceNode, Line: old.Line, Column: old.Column}
			if old.Kind == yaml.ScalarNode && old.ShortTag() != "!!null" {
				// A single value stands for a list of one, as when decoding.
				n.Content = []*yaml.Node{&old}
			}
		}
		switch {
		case s.index > len(n.Content):
			return fail("index %d is past the end of the list (%d items)", s.index, len(n.Content))
		case s.index == len(n.Content):
			n.Content = append(n.Content, fresh())
		case last:
			n.Content[s.index] = value
		}
		n = n.Content[s.index]
	}
	return nil
}

// mark records that n and everything below it come from override o.
func (d *decoder) mark(n *yaml.Node, o string) {
	d.overrides[n] = o
	for _, c := range n.Content {
		d.mark(c, o)
	}
}
