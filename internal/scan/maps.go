package scan

import (
	"bytes"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mapping is one executable file mapping of a process.
type mapping struct {
	// Range is "start-end" in hex, the name of its /proc/<pid>/map_files
	// entry.
	Range string
	Dev   uint64
	Ino   uint64
	// Path is the file's path as the kernel prints it: inside the
	// process's own mount namespace, with " (deleted)" removed.
	Path    string
	Deleted bool
}

// parseMaps returns the distinct executable file mappings of a maps file,
// one per file.
func parseMaps(b []byte, out []mapping) []mapping {
	out = out[:0]
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		m, ok := parseMapsLine(line)
		if !ok {
			continue
		}
		dup := false
		for i := range out {
			if out[i].Dev == m.Dev && out[i].Ino == m.Ino {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, m)
		}
	}
	return out
}

// parseMapsLine parses "start-end perms offset major:minor inode   path"
// and keeps executable mappings of files.
func parseMapsLine(line []byte) (mapping, bool) {
	var m mapping
	var f [5][]byte
	rest := line
	for i := range f {
		rest = bytes.TrimLeft(rest, " ")
		j := bytes.IndexByte(rest, ' ')
		if j < 0 {
			return m, false
		}
		f[i], rest = rest[:j], rest[j+1:]
	}
	perms := f[1]
	if len(perms) < 3 || perms[2] != 'x' {
		return m, false
	}
	path := string(bytes.TrimLeft(rest, " "))
	if !strings.HasPrefix(path, "/") {
		return m, false // anonymous, [vdso], [stack], memfd: not a library file
	}
	ino, err := strconv.ParseUint(string(f[4]), 10, 64)
	if err != nil || ino == 0 {
		return m, false
	}
	maj, mnr, ok := bytes.Cut(f[3], []byte(":"))
	if !ok {
		return m, false
	}
	ma, err1 := strconv.ParseUint(string(maj), 16, 32)
	mi, err2 := strconv.ParseUint(string(mnr), 16, 32)
	if err1 != nil || err2 != nil {
		return m, false
	}
	m.Range = string(f[0])
	m.Dev = unix.Mkdev(uint32(ma), uint32(mi))
	m.Ino = ino
	if p, ok := strings.CutSuffix(path, " (deleted)"); ok {
		path, m.Deleted = p, true
	}
	m.Path = path
	return m, true
}
