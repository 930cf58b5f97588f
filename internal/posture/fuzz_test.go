package posture

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadManifests feeds arbitrary bytes to the manifest reader and the
// checks: they must never panic, and every error, note and finding must
// point at a line of the input. The corpus is kept in
// testdata/fuzz/FuzzReadManifests; the manifests of testdata seed it.
func FuzzReadManifests(f *testing.F) {
	for _, dir := range []string{"testdata/manifests", "testdata/bad"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	profiles, err := LoadProfiles("testdata/apparmor")
	if err != nil {
		f.Fatal(err)
	}
	opts := &Options{Profiles: profiles, ProfilesDir: "testdata/apparmor"}
	f.Fuzz(func(t *testing.T, in []byte) {
		lines := bytes.Count(in, []byte("\n")) + 1
		inRange := func(what string, l int) {
			if l < 0 || l > lines {
				t.Fatalf("%s at line %d of a %d-line input", what, l, lines)
			}
		}
		pods, notes, errs := ReadManifests("in", bytes.NewReader(in))
		for _, e := range errs {
			var pe *Error
			if !errors.As(e, &pe) || pe.File != "in" {
				t.Fatalf("error %v is not a posture Error of the input", e)
			}
			inRange("error "+pe.Msg, pe.Line)
		}
		for _, n := range notes {
			inRange("note "+n.Message, n.Line)
		}
		for i := range pods {
			inRange("pod", pods[i].Line)
			fs, _ := CheckPod(&pods[i], opts)
			for _, fd := range fs {
				inRange("finding "+fd.Check, fd.Line)
				if _, ok := Checks[fd.Check]; !ok {
					t.Fatalf("finding of unknown check %q", fd.Check)
				}
			}
		}
	})
}
