package posture

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// manyDocuments is a stream of n documents cycling through the seed's
// pod, the hardened Deployment and a Service (a kind without pods), with
// unique names: what `helm template` of a large chart prints.
func manyDocuments(t testing.TB, n int) []byte {
	t.Helper()
	var docs [3]string
	for i, f := range []string{"testdata/manifests/seed-pod.yaml", "testdata/manifests/hardened.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[i] = string(b)
	}
	docs[2] = "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\nspec:\n  ports: [{port: 80}]\n"
	var b bytes.Buffer
	for i := range n {
		d := docs[i%3]
		d = strings.Replace(d, "name: shared", fmt.Sprintf("name: shared-%d", i), 1)
		d = strings.Replace(d, "name: web\n", fmt.Sprintf("name: web-%d\n", i), 1)
		d = strings.Replace(d, "name: svc", fmt.Sprintf("name: svc-%d", i), 1)
		fmt.Fprintf(&b, "---\n# Source: chart/templates/doc-%d.yaml\n%s", i, d)
	}
	return b.Bytes()
}

func TestFiveThousandDocuments(t *testing.T) {
	const n = 5000
	file := filepath.Join(t.TempDir(), "big.yaml")
	data := manyDocuments(t, n)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r := CheckPaths([]string{file}, nil, nil)
	seeds, hardened, services := (n+2)/3, (n+1)/3, n/3
	if len(r.Errors) != 0 {
		t.Fatalf("errors %v", r.Errors[:min(3, len(r.Errors))])
	}
	// 16 findings per seed pod (TestSeedPodReportsTheAttackPath), none for
	// the hardened Deployment, a note for each Service.
	if len(r.Findings) != 16*seeds || len(r.Notes) != services {
		t.Errorf("%d findings, %d notes; want %d, %d (hardened %d)", len(r.Findings), len(r.Notes), 16*seeds, services, hardened)
	}
	// The last seed pod's findings point at its own lines.
	lines := strings.Split(string(data), "\n")
	last := fmt.Sprintf("Pod shared-%d", (seeds-1)*3)
	found := 0
	for _, f := range r.Findings {
		if f.Workload != last || f.Check != AttackPath {
			continue
		}
		found++
		if got := strings.TrimSpace(lines[f.Line-1]); got != "- name: "+f.Container {
			t.Errorf("%s %s at line %d: %q", f.Check, f.Container, f.Line, got)
		}
	}
	if found != 2 {
		t.Errorf("%d attack path findings for %s, want 2", found, last)
	}
}

func TestMalformedDocumentDeepInAStream(t *testing.T) {
	data := manyDocuments(t, 300)
	cut := bytes.LastIndex(data, []byte("---\n"))
	bad := append(bytes.Clone(data[:cut]), []byte("---\napiVersion: v1\nkind: Pod\nmetadata: {name: x\nspec: {}\n")...)
	line := bytes.Count(data[:cut], []byte("\n")) + 4 // the unclosed flow mapping
	pods, _, errs := ReadManifests("big.yaml", bytes.NewReader(bad))
	if len(pods) != 200 {
		t.Errorf("%d pods read before the error, want 200", len(pods))
	}
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), fmt.Sprintf("big.yaml:%d: malformed YAML: ", line)) {
		t.Errorf("errors %v, want one at big.yaml:%d", errs, line)
	}
}

func BenchmarkCheck5000Manifests(b *testing.B) {
	data := manyDocuments(b, 5000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		fs, _, errs := CheckManifests("big.yaml", bytes.NewReader(data), nil)
		if len(errs) != 0 || len(fs) == 0 {
			b.Fatal(errs)
		}
	}
}
