package posture

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CheckManifests reads and checks the manifests of r, named name.
func CheckManifests(name string, r io.Reader, o *Options) (fs []Finding, notes []Note, errs []error) {
	var checkNotes []Note
	notes, errs = EachManifest(name, r, func(p *Pod) {
		f, n := CheckPod(p, o)
		fs = append(fs, f...)
		checkNotes = append(checkNotes, n...)
	})
	return fs, append(notes, checkNotes...), errs
}

// CheckPaths checks files, directories (every .yaml, .yml and .json file
// under them) and "-" (stdin) into a report.
func CheckPaths(paths []string, stdin io.Reader, o *Options) *Report {
	r := &Report{}
	one := func(name string, rd io.Reader) {
		f, n, errs := CheckManifests(name, rd, o)
		r.Findings = append(r.Findings, f...)
		r.Notes = append(r.Notes, n...)
		for _, e := range errs {
			r.Errors = append(r.Errors, e.Error())
		}
	}
	for _, p := range paths {
		if p == "-" {
			one("-", stdin)
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
			continue
		}
		if !st.IsDir() {
			readFile(p, one, r)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				r.Errors = append(r.Errors, err.Error())
				return nil
			}
			if d.IsDir() {
				if path != p && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			switch strings.ToLower(filepath.Ext(path)) {
			case ".yaml", ".yml", ".json":
				readFile(path, one, r)
			}
			return nil
		})
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
		}
	}
	return r
}

func readFile(p string, one func(string, io.Reader), r *Report) {
	f, err := os.Open(p)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return
	}
	defer f.Close()
	one(p, f)
}
