package agent

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A rules_files directory loads its .yaml and .yml files in name order,
// following the symbolic links a Kubernetes ConfigMap volume is made of;
// other files and the ConfigMap's own ..data entries are not rules.
func TestRulesDirectoryLoadsItsYAMLFilesInNameOrder(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_12_04_18_00_00.1")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(data, "b.yaml"), "- list: b\n  items: []\n")
	write(filepath.Join(dir, "a.yml"), "- list: a\n  items: []\n")
	write(filepath.Join(dir, "notes.txt"), "not rules")
	for _, l := range [][2]string{{filepath.Base(data), "..data"}, {"..data/b.yaml", "b.yaml"}} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	one := filepath.Join(t.TempDir(), "one.yaml")
	write(one, "- list: one\n  items: []\n")

	srcs, err := Rules{Files: []string{dir, one}, NoDefaults: true}.Sources()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range srcs {
		names = append(names, s.Name)
	}
	want := []string{filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yaml"), one}
	if !slices.Equal(names, want) {
		t.Fatalf("sources %q, want %q", names, want)
	}
	if string(srcs[1].Data) != "- list: b\n  items: []\n" {
		t.Errorf("b.yaml read %q through its link", srcs[1].Data)
	}
	if _, err := (Rules{Files: []string{filepath.Join(dir, "missing")}}).Sources(); err == nil {
		t.Error("a missing rules path loaded")
	}
}
