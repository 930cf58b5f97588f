package scan

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/truesightsec/truesight/internal/container"
)

// groupRoots gathers processes by root filesystem. A root's representative
// is its lowest PID whose root directory can be opened and still is the
// same root, preferring the root's own processes to the host's container
// runtime processes in it.
func (s *Scanner) groupRoots(procs []*proc) []*root {
	byKey := map[rootKey]*root{}
	var out []*root
	for _, p := range procs {
		if p.Kernel || !p.HasRoot {
			continue
		}
		r := byKey[p.Root]
		if r == nil {
			r = &root{Key: p.Root}
			byKey[p.Root] = r
			out = append(out, r)
		}
		r.Procs = append(r.Procs, p)
	}
	kept := out[:0]
	for _, r := range out {
		// The root's own processes first: the host's runtime processes
		// sitting in it (runc init) are passing through.
		for _, runtime := range []bool{false, true} {
			for _, p := range r.Procs {
				if (p.Runtime != "") != runtime {
					continue
				}
				fd, err := s.openRootOf(p)
				if err != nil {
					continue
				}
				closeFD(fd)
				r.Rep = p
				break
			}
			if r.Rep != nil {
				break
			}
		}
		if r.Rep == nil {
			s.report.Notes = append(s.report.Notes, fmt.Sprintf("root %s of %d processes could not be opened", r.Key, len(r.Procs)))
			continue
		}
		s.labelRoot(r)
		kept = append(kept, r)
	}
	return kept
}

// openRootOf opens a process's root directory and checks that it is still
// the root the process had when it was read.
func (s *Scanner) openRootOf(p *proc) (int, error) {
	fd, err := openRoot(s.procfd, p.Pid)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Dev != p.Root.Dev || st.Ino != p.Root.Ino {
		closeFD(fd)
		return -1, fmt.Errorf("root of pid %d changed", p.Pid)
	}
	return fd, nil
}

func (s *Scanner) labelRoot(r *root) {
	_, r.ContainerID = s.cgroupOf(r.Rep.Pid)
	link, _ := readlinkAt(s.procfd, fmt.Sprintf("%d/root", r.Rep.Pid))
	switch {
	case r.ContainerID != "":
		r.Label = "container:" + container.ShortID(r.ContainerID)
	case r.Key == s.selfRoot:
		r.Label = "host"
	case r.Key.MntNS == s.selfMntNS:
		r.Label = "host:" + link
		r.PathPrefix = link
	default:
		r.Label = fmt.Sprintf("mnt:[%d]:%s", r.Key.MntNS, link)
	}
}

// inspectRoot reads a root's loader configuration: /etc/ld.so.preload and
// the search path of ld.so.conf.
func (s *Scanner) inspectRoot(r *root) []*Finding {
	rootfd, err := s.openRootOf(r.Rep)
	if err != nil {
		s.report.Notes = append(s.report.Notes, fmt.Sprintf("%s: %v", r.Label, err))
		return nil
	}
	defer closeFD(rootfd)
	r.Loader = loaderFamily(rootfd)
	var out []*Finding
	out = append(out, s.preloadConfig(r, rootfd)...)
	out = append(out, s.searchConfig(r, rootfd)...)
	return out
}

// loaderFamily says which dynamic loader a root has.
func loaderFamily(rootfd int) string {
	for _, p := range []string{"/lib/ld-musl-x86_64.so.1"} {
		if fd, err := openInRoot(rootfd, p, unix.O_PATH); err == nil {
			closeFD(fd)
			return "musl"
		}
	}
	for _, p := range []string{"/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/usr/lib64/ld-linux-x86-64.so.2"} {
		if fd, err := openInRoot(rootfd, p, unix.O_PATH); err == nil {
			closeFD(fd)
			return "glibc"
		}
	}
	return ""
}

const preloadPath = "/etc/ld.so.preload"

// readPreload reads and parses /etc/ld.so.preload of a root; nil when the
// root has none.
func readPreload(rootfd int) (*preloadFile, error) {
	b, st, err := readInRoot(rootfd, preloadPath, maxConfigFile)
	if err == unix.ENOENT || err == unix.ENOTDIR {
		return nil, nil
	}
	if err != nil && err != errTooLarge {
		return nil, err
	}
	return &preloadFile{Path: preloadPath, Entries: parsePreloadFile(b), Size: st.Size,
		Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), UID: st.Uid, Mode: st.Mode}, nil
}

// preloadConfig reports each library /etc/ld.so.preload makes every
// dynamically linked program of the root load. The file is read twice; a
// finding needs the entry in both reads.
func (s *Scanner) preloadConfig(r *root, rootfd int) []*Finding {
	pf, err := readPreload(rootfd)
	if err != nil {
		s.report.Notes = append(s.report.Notes, fmt.Sprintf("%s: read %s: %v", r.Label, preloadPath, err))
		return nil
	}
	if pf == nil || len(pf.Entries) == 0 {
		return nil
	}
	again, err := readPreload(rootfd)
	if err != nil || again == nil {
		return nil
	}
	r.Preload = pf
	var out []*Finding
	for _, entry := range pf.Entries {
		if !slices.Contains(again.Entries, entry) {
			continue
		}
		lib := s.resolveLibrary(rootfd, entry, nil)
		f := &Finding{Key: fmt.Sprintf("preload:%s:%s:%s", r.Key, preloadPath, entry)}
		f.Kind = KindPreloadConfig
		f.Root = r.Label
		f.Detail = map[string]string{
			"file":       preloadPath,
			"entry":      entry,
			"file_mtime": isoTime(pf.Mtime),
			"file_owner": fmt.Sprint(pf.UID),
			"processes":  fmt.Sprint(len(r.Procs)),
		}
		if r.ContainerID != "" {
			f.Detail["container_id"] = r.ContainerID
		}
		if r.Loader == "musl" {
			f.Detail["loader"] = "musl (ignores /etc/ld.so.preload)"
		} else if r.Loader != "" {
			f.Detail["loader"] = r.Loader
		}
		lib.describe(f)
		f.Summary = fmt.Sprintf("%s of %s preloads %s into every dynamically linked program", preloadPath, r.Label, entry)
		f.Process = s.processState(r.Rep)
		out = append(out, f)
	}
	return out
}

// resolvedLibrary is a library name resolved inside a root.
type resolvedLibrary struct {
	Name string // as configured
	Path string // inside the root; "" when not found
	Lib  *library
}

func (l *resolvedLibrary) describe(f *Finding) {
	if l.Path == "" {
		f.Library = l.Name
		f.Detail["missing"] = "true"
		return
	}
	f.Library = l.Path
	if l.Lib == nil {
		return
	}
	f.SHA256 = l.Lib.SHA256
	f.Symbols = strings.Join(l.Lib.Symbols, ",")
	f.Detail["library_owner"] = fmt.Sprint(l.Lib.UID)
	f.Detail["library_mtime"] = isoTime(l.Lib.Mtime)
	if l.Lib.Err != nil {
		f.Detail["library_error"] = l.Lib.Err.Error()
	}
}

// resolveLibrary finds a preload entry inside the root as the loader
// would, and analyses it.
func (s *Scanner) resolveLibrary(rootfd int, name string, libPath []string) *resolvedLibrary {
	rl := &resolvedLibrary{Name: name}
	for _, p := range candidatePaths(name, libPath) {
		fd, err := openInRoot(rootfd, p, unix.O_RDONLY|unix.O_NONBLOCK)
		if err != nil {
			continue
		}
		lib, err := s.libs.analyse(fd, true)
		closeFD(fd)
		if err != nil || lib.Err == errNotRegular {
			continue
		}
		rl.Path, rl.Lib = p, lib
		return rl
	}
	return rl
}

// trustedSearchDirs are library directories that distributions configure;
// anything else in ld.so.conf is looked at.
var trustedSearchDirs = map[string]bool{
	"/lib": true, "/usr/lib": true, "/lib64": true, "/usr/lib64": true,
	"/lib/x86_64-linux-gnu": true, "/usr/lib/x86_64-linux-gnu": true,
	"/usr/local/lib": true, "/usr/local/lib/x86_64-linux-gnu": true,
	"/lib32": true, "/usr/lib32": true, "/libx32": true, "/usr/libx32": true,
	"/lib/i386-linux-gnu": true, "/usr/lib/i386-linux-gnu": true,
}

// maxDirEntries bounds how many files of one search directory are looked
// at.
const maxDirEntries = 4096

// searchConfig reports a library search directory from ld.so.conf that
// lets a library shadow the C runtime: a directory that anyone may write
// to, or an unusual one holding a file named like the root's libc or
// loader that overrides directory or file functions.
func (s *Scanner) searchConfig(r *root, rootfd int) []*Finding {
	read := func(p string) ([]byte, bool) {
		b, _, err := readInRoot(rootfd, p, maxConfigFile)
		return b, err == nil
	}
	glob := func(pattern string) []string { return globInRoot(rootfd, pattern) }
	conf := parseLdConf("/etc/ld.so.conf", read, glob)
	var out []*Finding
	for _, dir := range conf.Dirs {
		fd, err := openInRoot(rootfd, dir, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		_ = unix.Fstat(fd, &st)
		if st.Mode&0o002 != 0 {
			f := &Finding{Key: fmt.Sprintf("ldconf:%s:%s:writable", r.Key, dir)}
			f.Kind = KindPreloadConfig
			f.Root = r.Label
			f.Library = dir
			f.Summary = fmt.Sprintf("library search directory %s of %s is world-writable: anyone can plant a library every program loads", dir, r.Label)
			f.Detail = map[string]string{"file": strings.Join(conf.Files, ","), "directory": dir,
				"directory_mode": fmt.Sprintf("%#o", st.Mode&0o7777), "directory_owner": fmt.Sprint(st.Uid)}
			f.Process = s.processState(r.Rep)
			out = append(out, f)
		}
		if !trustedSearchDirs[dir] {
			out = append(out, s.shadowLibraries(r, rootfd, fd, dir, conf.Files)...)
		}
		closeFD(fd)
	}
	return out
}

func (s *Scanner) shadowLibraries(r *root, rootfd, dirfd int, dir string, files []string) []*Finding {
	var out []*Finding
	var names []string
	n := 0
	_ = listDir(dirfd, func(name string) bool {
		n++
		if slices.Contains(runtimeNames, name) {
			names = append(names, name)
		}
		return n < maxDirEntries
	})
	sort.Strings(names)
	for _, name := range names {
		p := path.Join(dir, name)
		rl := s.resolveLibrary(rootfd, p, nil)
		if rl.Lib == nil || len(rl.Lib.Symbols) == 0 {
			continue
		}
		f := &Finding{Key: fmt.Sprintf("ldconf:%s:%s", r.Key, p)}
		f.Kind = KindPreloadConfig
		f.Root = r.Label
		f.Detail = map[string]string{"file": strings.Join(files, ","), "directory": dir}
		rl.describe(f)
		f.Summary = fmt.Sprintf("ld.so.conf of %s adds %s, which holds its own %s", r.Label, dir, name)
		f.Process = s.processState(r.Rep)
		out = append(out, f)
	}
	return out
}

// listDir calls fn with each entry name of a directory fd until fn returns
// false.
func listDir(dirfd int, fn func(name string) bool) error {
	fd, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer closeFD(fd)
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		b := buf[:n]
		for len(b) >= 19 {
			reclen := int(b[16]) | int(b[17])<<8
			if reclen < 19 || reclen > len(b) {
				return nil
			}
			name := string(b[19:reclen])
			if i := strings.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if name != "." && name != ".." && !fn(name) {
				return nil
			}
			b = b[reclen:]
		}
	}
}

// globInRoot expands a pattern whose last element may hold wildcards
// (ld.so.conf's "include /etc/ld.so.conf.d/*.conf"), inside the root.
func globInRoot(rootfd int, pattern string) []string {
	dir, base := path.Split(pattern)
	if !strings.ContainsAny(base, "*?[") {
		return []string{pattern}
	}
	fd, err := openInRoot(rootfd, dir, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil
	}
	defer closeFD(fd)
	var out []string
	_ = listDir(fd, func(name string) bool {
		if ok, _ := path.Match(base, name); ok {
			out = append(out, path.Join(dir, name))
		}
		return len(out) < maxConfIncludes
	})
	sort.Strings(out)
	return out
}

func isoTime(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339)
}
