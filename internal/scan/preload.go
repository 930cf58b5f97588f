package scan

import (
	"bytes"
	"path"
	"strings"
)

// preloadFile is a parsed /etc/ld.so.preload.
type preloadFile struct {
	Path    string // inside the root
	Entries []string
	Size    int64
	Mtime   int64 // ns since the epoch
	Ctime   int64
	UID     uint32
	Mode    uint32
}

// parsePreloadFile splits /etc/ld.so.preload as glibc's loader does:
// '#' starts a comment that runs to the end of the line, and names are
// separated by spaces, tabs, newlines or colons.
func parsePreloadFile(b []byte) []string {
	var out []string
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for _, f := range bytes.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == ':' }) {
			out = append(out, string(f))
		}
	}
	return out
}

// parsePreloadEnv splits LD_PRELOAD as the loader does: by spaces or
// colons. (LD_AUDIT is split by colons only.)
func parsePreloadEnv(v string, audit bool) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ':' || (!audit && r == ' ') })
}

// searchDirs are the directories where the loader finds a library named
// without a slash when the cache does not have it: the trusted defaults
// of x86-64 glibc (Debian's multiarch first) and musl.
var searchDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
	"/lib", "/usr/lib", "/usr/local/lib",
}

// candidatePaths lists where the loader may find a preload entry inside
// the root, most likely first. $LIB and $PLATFORM are expanded to their
// x86-64 values; $ORIGIN has no meaning for preloads and is left alone.
func candidatePaths(entry string, libPath []string) []string {
	expand := func(s string) []string {
		if !strings.Contains(s, "$") {
			return []string{s}
		}
		var out []string
		for _, lib := range []string{"lib/x86_64-linux-gnu", "lib64", "lib"} {
			r := strings.NewReplacer("${LIB}", lib, "$LIB", lib, "${PLATFORM}", "x86_64", "$PLATFORM", "x86_64")
			out = append(out, r.Replace(s))
		}
		return out
	}
	if strings.Contains(entry, "/") {
		var out []string
		for _, e := range expand(entry) {
			if path.IsAbs(e) {
				out = append(out, path.Clean(e))
			}
		}
		return out
	}
	var out []string
	for _, dir := range append(append([]string{}, libPath...), searchDirs...) {
		if path.IsAbs(dir) {
			out = append(out, path.Join(dir, entry))
		}
	}
	return out
}

// ldConf is a root's loader search configuration: ld.so.conf and what it
// includes.
type ldConf struct {
	Dirs  []string // in order
	Files []string // the configuration files read
}

// maxConfIncludes bounds the ld.so.conf include graph.
const maxConfIncludes = 256

// parseLdConf reads ld.so.conf the way ldconfig does: '#' comments, one
// directory per line (ldconfig also splits on spaces, tabs, commas and
// colons), "include PATTERN" lines whose relative patterns are taken from
// the including file's directory, and "hwcap" lines that are ignored.
// read returns a file's text, glob expands a pattern; both work inside the
// root.
func parseLdConf(file string, read func(string) ([]byte, bool), glob func(string) []string) ldConf {
	var c ldConf
	seen := map[string]bool{}
	var parse func(f string)
	parse = func(f string) {
		if seen[f] || len(seen) >= maxConfIncludes {
			return
		}
		seen[f] = true
		b, ok := read(f)
		if !ok {
			return
		}
		c.Files = append(c.Files, f)
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.IndexByte(line, '#'); i >= 0 {
				line = line[:i]
			}
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			if rest, ok := strings.CutPrefix(line, "include"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
				for _, pat := range strings.Fields(rest) {
					if !path.IsAbs(pat) {
						pat = path.Join(path.Dir(f), pat)
					}
					for _, m := range glob(pat) {
						parse(m)
					}
				}
				continue
			}
			if strings.HasPrefix(line, "hwcap ") || strings.HasPrefix(line, "hwcap\t") {
				continue
			}
			for _, d := range strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == ':' }) {
				// "dir=TYPE" is an old ldconfig form.
				d, _, _ = strings.Cut(d, "=")
				if d != "" && !containsString(c.Dirs, d) {
					c.Dirs = append(c.Dirs, path.Clean(d))
				}
			}
		}
	}
	parse(file)
	return c
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
