package state

import (
	"path"
	"testing"
)

func TestIsCleanAbsAgreesWithPathClean(t *testing.T) {
	for _, p := range []string{"/", "/etc", "/etc/", "/etc//x", "/etc/./x", "/etc/../x", "/etc/..", "/etc/.",
		"/.hidden", "/etc/..x", "/etc/.x/y", "/a/b/c", "//", "/..", "/.", "/etc/x/", "/proc/self/exe"} {
		if got, want := isCleanAbs(p), path.Clean(p) == p; got != want {
			t.Errorf("isCleanAbs(%q) = %v, path.Clean gives %q", p, got, path.Clean(p))
		}
	}
}

func FuzzIsCleanAbs(f *testing.F) {
	f.Add("/etc/x")
	f.Fuzz(func(t *testing.T, p string) {
		if p == "" || p[0] != '/' {
			return
		}
		if got, want := isCleanAbs(p), path.Clean(p) == p; got != want {
			t.Fatalf("isCleanAbs(%q) = %v, path.Clean gives %q", p, got, path.Clean(p))
		}
	})
}
