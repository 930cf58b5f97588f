package posture

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// got lists findings as "line check container" for exact comparison.
func got(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, fmt.Sprintf("%d %s %s", f.Line, f.Check, f.Container))
	}
	slices.Sort(out)
	return out
}

func checkFile(t *testing.T, file string, o *Options) ([]Finding, []Note, []error) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return CheckManifests(file, f, o)
}

func TestSeedPodReportsTheAttackPath(t *testing.T) {
	fs, notes, errs := checkFile(t, "testdata/manifests/seed-pod.yaml", nil)
	if len(errs) != 0 || len(notes) != 0 {
		t.Fatalf("errors %v notes %v", errs, notes)
	}
	want := []string{"8 TSP007 ", "8 TSP017 "}
	for _, c := range []struct {
		line int
		name string
	}{{10, "ubuntu"}, {14, "nginx"}} {
		for _, id := range []string{AttackPath, ReadOnlyRoot, RunsAsRoot, PrivEscalation, Seccomp, AppArmorMissing, CapsNotDropped} {
			want = append(want, fmt.Sprintf("%d %s %s", c.line, id, c.name))
		}
	}
	slices.Sort(want)
	if g := got(fs); !slices.Equal(g, want) {
		t.Errorf("findings\n got %q\nwant %q", g, want)
	}
	for _, f := range fs {
		if f.Check == AttackPath {
			if f.Severity != High || f.Workload != "Pod shared" {
				t.Errorf("attack path %s: severity %v workload %q", f.Container, f.Severity, f.Workload)
			}
			other := map[string]string{"ubuntu": "nginx", "nginx": "ubuntu"}[f.Container]
			if !strings.Contains(f.Message, "reaches "+other+" through /proc/<pid>/root") {
				t.Errorf("attack path message %q does not name %s", f.Message, other)
			}
		}
	}
}

func TestHardenedReportsNothing(t *testing.T) {
	for _, o := range []*Options{nil, mustProfiles(t)} {
		fs, notes, errs := checkFile(t, "testdata/manifests/hardened.yaml", o)
		if len(fs) != 0 || len(notes) != 0 || len(errs) != 0 {
			t.Errorf("profiles %v: findings %q notes %v errors %v", o != nil, got(fs), notes, errs)
		}
	}
}

func mustProfiles(t *testing.T) *Options {
	t.Helper()
	p, err := LoadProfiles("testdata/apparmor")
	if err != nil {
		t.Fatal(err)
	}
	return &Options{Profiles: p, ProfilesDir: "testdata/apparmor"}
}

func TestAppArmorBothForms(t *testing.T) {
	tests := []struct {
		name string
		opts *Options
		want []string
	}{
		{"without profile texts", nil, []string{"7 TSP014 app", "47 TSP013 open"}},
		{"with profile texts", mustProfiles(t), []string{"7 TSP014 app", "8 TSP014 side", "31 TSP014 app", "47 TSP013 open"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, notes, errs := checkFile(t, "testdata/manifests/apparmor.yaml", tt.opts)
			if len(notes) != 0 || len(errs) != 0 {
				t.Fatalf("notes %v errors %v", notes, errs)
			}
			want := slices.Sorted(slices.Values(tt.want))
			if g := got(fs); !slices.Equal(g, want) {
				t.Errorf("got %q want %q", g, want)
			}
		})
	}
}

func TestEveryKind(t *testing.T) {
	fs, notes, errs := checkFile(t, "testdata/manifests/kinds.yaml", nil)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if len(notes) != 1 || notes[0].String() != "testdata/manifests/kinds.yaml:90: v1 Service has no pod spec: not checked" {
		t.Errorf("notes %v", notes)
	}
	byWorkload := map[string][]string{}
	for _, f := range fs {
		byWorkload[f.Workload] = append(byWorkload[f.Workload], fmt.Sprintf("%d %s", f.Line, f.Check))
	}
	want := map[string][]string{
		"StatefulSet db":              {"10 TSP011", "10 TSP017", "14 TSP001", "14 TSP002", "14 TSP003", "15 TSP004"},
		"DaemonSet kube-system/agent": {"25 TSP009", "25 TSP017", "26 TSP010", "30 TSP001", "30 TSP002", "30 TSP003", "30 TSP012", "30 TSP013", "31 TSP005", "32 TSP006", "32 TSP006", "34 TSP015", "34 TSP016"},
		"ReplicaSet rs":               {"50 TSP017", "53 TSP001", "53 TSP003", "53 TSP005", "53 TSP013", "54 TSP002", "55 TSP012", "57 TSP016"},
		"Job once":                    {"69 TSP017", "71 TSP001", "71 TSP002", "71 TSP003", "71 TSP005", "71 TSP012", "71 TSP013"},
		"CronJob nightly":             {"83 TSP017", "87 TSP001", "87 TSP002", "87 TSP005", "87 TSP012", "87 TSP013", "88 TSP003"},
	}
	if len(byWorkload) != len(want) {
		t.Errorf("workloads %v", slices.Collect(mapKeys(byWorkload)))
	}
	for w, ws := range want {
		g := byWorkload[w]
		slices.Sort(g)
		if !slices.Equal(g, ws) {
			t.Errorf("%s:\n got %q\nwant %q", w, g, ws)
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestListAndJSON(t *testing.T) {
	fs, notes, errs := checkFile(t, "testdata/manifests/list.json", nil)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	want := []string{"10 TSP001 c", "10 TSP002 c", "10 TSP003 c", "10 TSP004 c", "9 TSP017 "}
	if g := got(fs); !slices.Equal(g, want) {
		t.Errorf("got %q want %q", g, want)
	}
	if len(notes) != 1 || notes[0].Line != 13 || !strings.Contains(notes[0].Message, "ConfigMap") {
		t.Errorf("notes %v", notes)
	}
}

func TestBadInputGivesFileAndLine(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"testdata/bad/malformed.yaml", []string{"testdata/bad/malformed.yaml:8: malformed YAML: did not find expected ',' or ']'"}},
		{"testdata/bad/wrongtype.yaml", []string{
			"testdata/bad/wrongtype.yaml:6: Deployment: field spec.replicas: a int32 cannot hold string",
			`testdata/bad/wrongtype.yaml:11: a Kubernetes object is a mapping with apiVersion and kind, not the scalar "just a string"`,
			"testdata/bad/wrongtype.yaml:13: not a Kubernetes object: apiVersion and kind must both be set",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			fs, _, errs := checkFile(t, tt.file, nil)
			var g []string
			for _, e := range errs {
				g = append(g, e.Error())
			}
			if !slices.Equal(g, tt.want) || len(fs) != 0 {
				t.Errorf("errors\n got %q\nwant %q (findings %q)", g, tt.want, got(fs))
			}
		})
	}
}

func TestReadInputs(t *testing.T) {
	tests := []struct {
		name, in string
		pods     int
		errs     int
	}{
		{"empty", "", 0, 0},
		{"only separators", "---\n---\n", 0, 0},
		{"null document", "null\n", 0, 0},
		{"anchors and merge keys", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - &c {name: a, image: x}\n  - <<: *c\n    name: b\n", 1, 0},
		{"non-string keys", "apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: {1: x}}\nspec: {containers: [{name: a}]}\n", 1, 0},
		{"sequence document", "- a\n- b\n", 0, 1},
		{"List of non-objects", "apiVersion: v1\nkind: List\nitems: [1, 2]\n", 0, 2},
		{"List items not a sequence", "apiVersion: v1\nkind: List\nitems: {a: 1}\n", 0, 1},
		{"pod without spec", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n", 0, 0},
		{"tab indentation", "apiVersion: v1\nkind: Pod\nspec:\n\tcontainers: []\n", 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pods, _, errs := ReadManifests("in", strings.NewReader(tt.in))
			if len(pods) != tt.pods || len(errs) != tt.errs {
				t.Errorf("pods %d errors %v; want %d pods, %d errors", len(pods), errs, tt.pods, tt.errs)
			}
		})
	}
}

func TestMalformedYAMLSaysWhere(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"duplicate key", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\nspec: {containers: []}\n", `f.yaml:5: mapping key "name" already defined at line 4`},
		{"tab indentation", "apiVersion: v1\nkind: Pod\nspec:\n\tcontainers: []\n", "f.yaml:4: malformed YAML: found character that cannot start any token"},
		{"unclosed quote", "apiVersion: v1\nkind: Pod\nmetadata: {name: \"a}\n", "f.yaml:3: malformed YAML: found unexpected end of stream"},
		{"mapping in a scalar", "apiVersion: v1\nkind: Pod\nmetadata: a: b\n", "f.yaml:3: malformed YAML: mapping values are not allowed in this context"},
		{"bad indentation", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n - x\n", "f.yaml:5: malformed YAML: did not find expected key"},
		{"unclosed flow sequence", "apiVersion: v1\nkind: Pod\nspec:\n  containers: [{name: a}\n", "f.yaml:4: malformed YAML: did not find expected ',' or ']'"},
		{"wrong type deep", "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    ports: [{containerPort: http}]\n", "f.yaml:6: Pod: field spec.containers.ports.containerPort: a int32 cannot hold string"},
		{"wrong type in the second element", "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    ports: [{containerPort: 80}]\n  - name: b\n    ports:\n    - containerPort: 81\n    - containerPort: \"http\"\n", "f.yaml:10: Pod: field spec.containers.ports.containerPort: a int32 cannot hold string"},
		{"object for a string", "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: a\n    image: {x: 1}\n", "f.yaml:6: Pod: field spec.containers.image: a string cannot hold object"},
		{"unknown anchor", "apiVersion: v1\nkind: Pod\nspec: *nope\n", "f.yaml: malformed YAML: unknown anchor 'nope' referenced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pods, _, errs := ReadManifests("f.yaml", strings.NewReader(tt.in))
			if len(errs) != 1 || errs[0].Error() != tt.want || len(pods) != 0 {
				t.Errorf("errors %q (pods %d), want %q", errs, len(pods), tt.want)
			}
		})
	}
}

func TestUnknownKindIsANoteAtItsLine(t *testing.T) {
	in := "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\napiVersion: example.com/v1\nkind: Frobnicator\nspec: {template: {}}\n"
	pods, notes, errs := ReadManifests("f.yaml", strings.NewReader(in))
	var g []string
	for _, n := range notes {
		g = append(g, n.String())
	}
	want := []string{"f.yaml:1: v1 Service has no pod spec: not checked", "f.yaml:5: example.com/v1 Frobnicator has no pod spec: not checked"}
	if len(pods) != 0 || len(errs) != 0 || !slices.Equal(g, want) {
		t.Errorf("pods %d errors %v notes %q, want %q", len(pods), errs, g, want)
	}
}
