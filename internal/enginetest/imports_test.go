package enginetest_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/truesightsec/truesight"

// importers returns the non-test Go files under root (slash paths relative
// to it) that import pkg, skipping what the go tool skips: testdata, and
// directories starting with "." or "_".
func importers(t *testing.T, root, pkg string) []string {
	t.Helper()
	var found []string
	parsed := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		parsed++
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == pkg {
				rel, _ := filepath.Rel(root, path)
				found = append(found, filepath.ToSlash(rel))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if parsed == 0 {
		t.Fatalf("no Go files under %s", root)
	}
	return found
}

// moduleRoot is the directory of go.mod above the test's directory.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// enginetest builds events for tests; code users run must not depend on
// it. The fixture shows the check finds such an import; the agent's
// importers show it reads the module's files.
func TestOnlyTestsImportEnginetest(t *testing.T) {
	root := moduleRoot(t)
	for _, tc := range []struct {
		name     string
		root     string
		pkg      string
		want     []string
		contains string
	}{
		{"fixture importing it", filepath.Join("testdata", "importer"), module + "/internal/enginetest", []string{"cmd/tool/main.go"}, ""},
		{"the module's non-test files", root, module + "/internal/enginetest", nil, ""},
		{"the module's importers of the agent", root, module + "/internal/agent", nil, "internal/cli/run.go"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := importers(t, tc.root, tc.pkg)
			if tc.contains != "" {
				if !slices.Contains(got, tc.contains) {
					t.Errorf("importers of %s: %q, want among them %s", tc.pkg, got, tc.contains)
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("non-test files importing %s: %q, want %q", tc.pkg, got, tc.want)
			}
		})
	}
}
