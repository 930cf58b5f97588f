package posture

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Pod is one pod spec found in a manifest: a Pod's, or the template of
// a workload.
type Pod struct {
	File      string
	Kind      string // Pod, Deployment, ...
	Namespace string
	Name      string
	Meta      metav1.ObjectMeta // the pod's (template's) metadata
	Spec      corev1.PodSpec
	// Line is the line of the object (its first key).
	Line int

	spec *yaml.Node // the pod spec's mapping, nil when absent
	meta *yaml.Node // the pod (template) metadata's mapping
	obj  *yaml.Node // the object's mapping
}

// Workload names the pod's object: "Deployment shop/web".
func (p *Pod) Workload() string {
	name := p.Name
	if name == "" {
		name = "<unnamed>"
	}
	if p.Namespace != "" {
		name = p.Namespace + "/" + name
	}
	return p.Kind + " " + name
}

// SpecLine is the line of a field of the pod spec, given as keys and
// sequence indexes (e.g. "containers", 0, "securityContext"); for a field
// that is absent, the line of the nearest field above it that exists.
func (p *Pod) SpecLine(path ...any) int {
	if p.spec == nil {
		return p.Line
	}
	return lineOf(p.spec, path)
}

// MetaLine is SpecLine for the pod's metadata.
func (p *Pod) MetaLine(path ...any) int {
	if p.meta == nil {
		return p.Line
	}
	return lineOf(p.meta, path)
}

// Note is something about the input that is not a finding: a document
// skipped because its kind has no pod spec.
type Note struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

func (n Note) String() string { return n.File + ":" + itoa(n.Line) + ": " + n.Message }

// Error is a manifest that cannot be read: malformed YAML, or a field of
// the wrong type. It gives the file and line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Msg
	}
	return e.File + ":" + itoa(e.Line) + ": " + e.Msg
}

// maxDocumentBytes bounds one input; bigger inputs are refused.
const maxDocumentBytes = 256 << 20

// workloads maps kinds to the path of their pod template (its metadata
// and spec are under it); "" for Pod itself.
var workloads = map[string][]string{
	"Pod":                   nil,
	"PodTemplate":           {"template"},
	"Deployment":            {"spec", "template"},
	"StatefulSet":           {"spec", "template"},
	"DaemonSet":             {"spec", "template"},
	"ReplicaSet":            {"spec", "template"},
	"ReplicationController": {"spec", "template"},
	"Job":                   {"spec", "template"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template"},
}

// ReadManifests reads the Kubernetes documents of r (YAML, multi-document,
// JSON, List kinds) named name in messages, and returns the pod specs
// found, notes about documents skipped, and errors for documents that
// cannot be read. A YAML syntax error ends the reading of r (the
// documents after it cannot be found); a document with a field of the
// wrong type is reported and the next one read.
func ReadManifests(name string, r io.Reader) (pods []Pod, notes []Note, errs []error) {
	notes, errs = EachManifest(name, r, func(p *Pod) { pods = append(pods, *p) })
	return pods, notes, errs
}

// EachManifest is ReadManifests calling fn with each pod spec as soon as
// its document is read, so that a long stream is never held in memory.
// fn must not keep p.
func EachManifest(name string, r io.Reader, fn func(p *Pod)) (notes []Note, errs []error) {
	lr := &lineCounter{r: io.LimitReader(r, maxDocumentBytes)}
	dec := yaml.NewDecoder(lr)
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return notes, errs
		}
		if err != nil {
			e := yamlError(name, err)
			// At the end of the input the library counts one line more
			// than there is.
			e.Line = min(e.Line, lr.lines+1)
			errs = append(errs, e)
			return notes, errs
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := resolve(doc.Content[0])
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue // an empty document
		}
		p, n, e := readObject(name, root, 0)
		for i := range p {
			fn(&p[i])
		}
		notes = append(notes, n...)
		errs = append(errs, e...)
	}
}

// readObject reads one object (or List) of a document.
func readObject(file string, n *yaml.Node, depth int) ([]Pod, []Note, []error) {
	if n.Kind != yaml.MappingNode {
		return nil, nil, []error{&Error{file, n.Line, fmt.Sprintf("a Kubernetes object is a mapping with apiVersion and kind, not %s", nodeKind(n))}}
	}
	kind := scalarAt(n, "kind")
	apiVersion := scalarAt(n, "apiVersion")
	if kind == "" || apiVersion == "" {
		return nil, nil, []error{&Error{file, n.Line, "not a Kubernetes object: apiVersion and kind must both be set"}}
	}
	if kind == "List" || (strings.HasSuffix(kind, "List") && child(n, "items") != nil) {
		if depth > 4 {
			return nil, nil, []error{&Error{file, n.Line, "Lists nested too deeply"}}
		}
		items := resolve(child(n, "items"))
		if items == nil || items.Tag == "!!null" {
			return nil, nil, nil
		}
		if items.Kind != yaml.SequenceNode {
			return nil, nil, []error{&Error{file, items.Line, kind + ".items must be a sequence of objects"}}
		}
		var pods []Pod
		var notes []Note
		var errs []error
		for _, it := range items.Content {
			p, nn, e := readObject(file, resolve(it), depth+1)
			pods = append(pods, p...)
			notes = append(notes, nn...)
			errs = append(errs, e...)
		}
		return pods, notes, errs
	}
	tmpl, ok := workloads[kind]
	if !ok {
		return nil, []Note{{file, n.Line, fmt.Sprintf("%s %s has no pod spec: not checked", apiVersion, kind)}}, nil
	}
	data, err := toJSON(n)
	if err != nil {
		return nil, nil, []error{valueError(file, n.Line, err)}
	}
	p := Pod{File: file, Kind: kind, Line: n.Line, obj: n}
	var tm metav1.ObjectMeta
	switch kind {
	case "Pod":
		var o corev1.Pod
		err = json.Unmarshal(data, &o)
		tm, p.Meta, p.Spec = o.ObjectMeta, o.ObjectMeta, o.Spec
	case "PodTemplate":
		var o corev1.PodTemplate
		err = json.Unmarshal(data, &o)
		tm, p.Meta, p.Spec = o.ObjectMeta, o.Template.ObjectMeta, o.Template.Spec
	case "Deployment":
		var o appsv1.Deployment
		err = json.Unmarshal(data, &o)
		tm, p.Meta, p.Spec = o.ObjectMeta, o.Spec.Template.ObjectMeta, o.Spec.Template.Spec
	case "StatefulSet":
		var o appsv1.StatefulSet
		err = json.Unmarshal(data, &o)
		tm, p.Meta, p.Spec = o.ObjectMeta, o.Spec.Template.ObjectMeta, o.Spec.Template.Spec
	case "DaemonSet":
		var o appsv1.DaemonSet
		err = json.Unmarshal(data, &o)
		tm, p.Meta, p.Spec = o.ObjectMeta, o.Spec.Template.ObjectMeta, o.Spec.Template.Spec
	case "ReplicaSet":
		var o appsv1.ReplicaSet
		err = json.Unmarshal(data, &o)
		tm, p.Meta, p.Spec = o.ObjectMeta, o.Spec.Template.ObjectMeta, o.Spec.Template.Spec
	case "ReplicationController":
		var o corev1.ReplicationController
		err = json.Unmarshal(data, &o)
		tm = o.ObjectMeta
		if o.Spec.Template != nil {
			p.Meta, p.Spec = o.Spec.Template.ObjectMeta, o.Spec.Template.Spec
		}
	case "Job":
		var o batchv1.Job
		err = json.Unmarshal(data, &o)
		tm, p.Meta, p.Spec = o.ObjectMeta, o.Spec.Template.ObjectMeta, o.Spec.Template.Spec
	case "CronJob":
		var o batchv1.CronJob
		err = json.Unmarshal(data, &o)
		tm, p.Meta, p.Spec = o.ObjectMeta, o.Spec.JobTemplate.Spec.Template.ObjectMeta, o.Spec.JobTemplate.Spec.Template.Spec
	}
	if err != nil {
		return nil, nil, []error{decodeError(file, n, kind, err)}
	}
	p.Namespace, p.Name = tm.Namespace, tm.Name
	if p.Name == "" {
		p.Name = tm.GenerateName
	}
	t := n
	for _, k := range tmpl {
		t = child(t, k)
	}
	if t == nil {
		return nil, []Note{{file, n.Line, fmt.Sprintf("%s %s has no pod template: not checked", kind, p.Name)}}, nil
	}
	if kind == "Pod" {
		p.meta, p.spec = child(n, "metadata"), child(n, "spec")
	} else {
		p.meta, p.spec = child(t, "metadata"), child(t, "spec")
	}
	if p.spec == nil {
		return nil, []Note{{file, t.Line, fmt.Sprintf("%s %s has no pod spec: not checked", kind, p.Name)}}, nil
	}
	if p.meta == nil {
		p.meta = t
	}
	return []Pod{p}, nil, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the YAML parser's (not scanner's) problems. For
// them the YAML library gives a 0-based line: where the enclosing block
// or flow collection starts, or where the problem is.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'": true, "did not find expected ',' or '}'": true,
	"did not find expected '-' indicator": true, "did not find expected <document start>": true,
	"did not find expected key": true, "did not find expected node content": true,
	"found duplicate %TAG directive": true, "found duplicate %YAML directive": true,
	"found incompatible YAML document": true, "found undefined tag handle": true,
}

// lineCounter counts the line breaks read through it.
type lineCounter struct {
	r     io.Reader
	lines int
}

func (c *lineCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.lines += bytes.Count(p[:n], []byte{'\n'})
	return n, err
}

func yamlError(file string, err error) *Error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if parserProblems[m[2]] {
			line++
		}
		return &Error{file, line, "malformed YAML: " + m[2]}
	}
	return &Error{file, 0, "malformed YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

var unmarshalLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// valueError is an error decoding the values of an object: a duplicate
// key is reported at its line.
func valueError(file string, line int, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		if m := unmarshalLine.FindStringSubmatch(te.Errors[0]); m != nil {
			l, _ := strconv.Atoi(m[1])
			return &Error{file, l, m[2]}
		}
		return &Error{file, line, te.Errors[0]}
	}
	return &Error{file, line, err.Error()}
}

func decodeError(file string, n *yaml.Node, kind string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		var path []any
		var keys []string
		for _, s := range strings.Split(te.Field, ".") {
			if s != "" {
				path = append(path, s)
				keys = append(keys, s)
			}
		}
		line := lineOf(n, path)
		// The field's path has no sequence indexes: find the value of the
		// wrong kind in the elements.
		if bad := findValue(n, keys, jsonKind(te.Value)); bad != nil {
			line = bad.Line
		}
		return &Error{file, line, fmt.Sprintf("%s: field %s: a %s cannot hold %s", kind, te.Field, te.Type, te.Value)}
	}
	return &Error{file, n.Line, fmt.Sprintf("%s: %v", kind, err)}
}

// jsonKind tells whether a YAML node decodes to the JSON kind that
// encoding/json names in an UnmarshalTypeError ("string", "number -1.5",
// "bool", "array", "object").
func jsonKind(v string) func(*yaml.Node) bool {
	scalar := func(tags ...string) func(*yaml.Node) bool {
		return func(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && slices.Contains(tags, n.ShortTag()) }
	}
	switch {
	case v == "string":
		return scalar("!!str", "!!timestamp", "!!binary")
	case strings.HasPrefix(v, "number"):
		return scalar("!!int", "!!float")
	case v == "bool":
		return scalar("!!bool")
	case v == "array":
		return func(n *yaml.Node) bool { return n.Kind == yaml.SequenceNode }
	case v == "object":
		return func(n *yaml.Node) bool { return n.Kind == yaml.MappingNode }
	}
	return func(*yaml.Node) bool { return false }
}

// findValue is the first value at keys below n, through the elements of
// any sequence on the way, for which match is true; nil when none is.
func findValue(n *yaml.Node, keys []string, match func(*yaml.Node) bool) *yaml.Node {
	return findValueDepth(n, keys, match, 0)
}

func findValueDepth(n *yaml.Node, keys []string, match func(*yaml.Node) bool, depth int) *yaml.Node {
	n = resolve(n)
	if n == nil || depth > 64 {
		return nil
	}
	if n.Kind == yaml.SequenceNode && (len(keys) > 0 || !match(n)) {
		for _, e := range n.Content {
			if r := findValueDepth(e, keys, match, depth+1); r != nil {
				return r
			}
		}
		return nil
	}
	if len(keys) == 0 {
		if match(n) {
			return n
		}
		return nil
	}
	return findValueDepth(child(n, keys[0]), keys[1:], match, depth+1)
}

// resolve follows an alias.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// child is the value of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return nil
}

func scalarAt(n *yaml.Node, key string) string {
	c := child(n, key)
	if c == nil || c.Kind != yaml.ScalarNode {
		return ""
	}
	return c.Value
}

// lineOf walks path (string keys, int indexes) from n and returns the line
// of the deepest node reached: the key's line for a mapping entry.
func lineOf(n *yaml.Node, path []any) int {
	n = resolve(n)
	line := n.Line
	for _, seg := range path {
		if n == nil {
			break
		}
		switch s := seg.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == s {
					line = n.Content[i].Line
					next = resolve(n.Content[i+1])
					break
				}
			}
			if next == nil {
				return line
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || s < 0 || s >= len(n.Content) {
				return line
			}
			n = resolve(n.Content[s])
			line = n.Line
		}
	}
	return line
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.ScalarNode:
		return fmt.Sprintf("the scalar %q", truncate(n.Value, 40))
	}
	return "this"
}

// toJSON converts a mapping to JSON, as the API server reads YAML.
func toJSON(n *yaml.Node) ([]byte, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	v, err := jsonable(v, 0)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func jsonable(v any, depth int) (any, error) {
	if depth > 200 {
		return nil, errors.New("nested too deeply")
	}
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			c, err := jsonable(e, depth+1)
			if err != nil {
				return nil, err
			}
			t[k] = c
		}
		return t, nil
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			c, err := jsonable(e, depth+1)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = c
		}
		return m, nil
	case []any:
		for i, e := range t {
			c, err := jsonable(e, depth+1)
			if err != nil {
				return nil, err
			}
			t[i] = c
		}
		return t, nil
	case float64:
		if t != t || t > 1e308 || t < -1e308 {
			return nil, fmt.Errorf("the number %v has no JSON form", t)
		}
	}
	return v, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func itoa(i int) string { return strconv.Itoa(i) }
