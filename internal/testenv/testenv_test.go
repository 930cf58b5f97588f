package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConformanceDirIsTheVariableOrBesideTheModuleRoot(t *testing.T) {
	// base/repo is a module whose package dir is three levels down;
	// base/shared/conformance is the data, when the case makes it.
	cases := []struct {
		name     string
		env      string // "" leaves the variable unset; "$base" is replaced
		makeData bool
		want     string // "" means an error containing wantErr
		wantErr  string
	}{
		{name: "beside the module root", makeData: true, want: "$base/shared/conformance"},
		{name: "missing beside the module root", wantErr: "conformance data missing at $base/shared/conformance (set TRUESIGHT_CONFORMANCE_DIR)"},
		{name: "the variable wins", env: "$base/elsewhere", makeData: true, want: "$base/elsewhere"},
		{name: "the variable names a missing directory", env: "$base/nowhere", makeData: true, wantErr: "conformance data missing at $base/nowhere"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := t.TempDir()
			sub := func(s string) string { return strings.ReplaceAll(s, "$base", base) }
			pkg := filepath.Join(base, "repo", "internal", "a", "b")
			for _, d := range []string{pkg, filepath.Join(base, "elsewhere")} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(base, "repo", "go.mod"), []byte("module example.com/repo\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if c.makeData {
				if err := os.MkdirAll(filepath.Join(base, "shared", "conformance"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv("TRUESIGHT_CONFORMANCE_DIR", sub(c.env))
			t.Chdir(pkg)
			got, err := conformanceDir()
			if c.want != "" {
				if err != nil || got != sub(c.want) {
					t.Fatalf("conformanceDir() = %q, %v; want %q", got, err, sub(c.want))
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), sub(c.wantErr)) {
				t.Fatalf("conformanceDir() = %q, %v; want the error %q", got, err, sub(c.wantErr))
			}
		})
	}
}
