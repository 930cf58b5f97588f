package scan

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// deletedRuntime reports whether a mapping of a file deleted since it was
// mapped is a C runtime file replaced under a running process (a libc
// upgrade): its old content can be compared with nothing, so it is judged
// by its shape, a runtime file of a standard directory exporting what the
// real one exports.
func deletedRuntime(m *mapping, inRoot string, lib *library) bool {
	return m.Deleted && looksLikeRuntime(inRoot, lib)
}

// injectedGroup is one library mapped by processes of one root.
type injectedGroup struct {
	root    *root
	path    string
	lib     *library
	m       mapping
	procs   []*proc
	preload []string // where the processes were told to load it
}

// injected reports libraries mapped executable into processes that
// override directory or file functions of libc and are not the root's own
// runtime.
func (s *Scanner) injected(roots []*root) []*Finding {
	type fileKey struct{ dev, ino uint64 }
	memo := map[fileKey]*library{}
	libOf := func(p *proc, m *mapping) *library {
		k := fileKey{m.Dev, m.Ino}
		if l, ok := memo[k]; ok {
			return l
		}
		var lib *library
		fd, err := unix.Openat(s.procfd, fmt.Sprintf("%d/map_files/%s", p.Pid, m.Range), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err == nil {
			lib, _ = s.libs.analyse(fd, false)
			closeFD(fd)
			memo[k] = lib
		}
		return lib
	}
	var groups []*injectedGroup
	for _, r := range roots {
		byKey := map[string]*injectedGroup{}
		for _, p := range r.Procs {
			for i := range p.Maps {
				m := &p.Maps[i]
				if p.HasExe && (devIno{m.Dev, m.Ino}) == p.ExeID {
					continue // the program itself
				}
				lib := libOf(p, m)
				if lib == nil || len(lib.Symbols) == 0 {
					continue
				}
				inRoot := m.Path
				if r.PathPrefix != "" && r.PathPrefix != "/" {
					inRoot = strings.TrimPrefix(inRoot, r.PathPrefix)
				}
				if s.knownMapping(r, p, m, lib) != nil || deletedRuntime(m, inRoot, lib) {
					continue
				}
				key := inRoot + "\x00" + lib.SHA256
				g := byKey[key]
				if g == nil {
					g = &injectedGroup{root: r, path: inRoot, lib: lib, m: *m}
					byKey[key] = g
					groups = append(groups, g)
				}
				g.procs = append(g.procs, p)
				if how := preloadedBy(r, p, inRoot); how != "" && !slices.Contains(g.preload, how) {
					g.preload = append(g.preload, how)
				}
			}
		}
	}
	var out []*Finding
	for _, g := range groups {
		if f := s.injectedFinding(g); f != nil {
			out = append(out, f)
		}
	}
	return out
}

// preloadedBy says how a process was told to load a library: by the
// root's /etc/ld.so.preload or its own LD_PRELOAD/LD_AUDIT.
func preloadedBy(r *root, p *proc, libPath string) string {
	base := path.Base(libPath)
	match := func(entries []string) bool {
		for _, e := range entries {
			if e == libPath || path.Base(e) == base {
				return true
			}
		}
		return false
	}
	if r.Preload != nil && match(r.Preload.Entries) {
		return preloadPath
	}
	if match(parsePreloadEnv(p.Env.Preload, false)) {
		return "LD_PRELOAD"
	}
	if match(parsePreloadEnv(p.Env.Audit, true)) {
		return "LD_AUDIT"
	}
	return ""
}

// injectedFinding confirms a group by reading the maps of its first
// process again, and describes it.
func (s *Scanner) injectedFinding(g *injectedGroup) *Finding {
	var rep *proc
	for _, p := range g.procs {
		if s.stillMaps(p, g.m) {
			rep = p
			break
		}
	}
	if rep == nil {
		return nil
	}
	r := g.root
	f := &Finding{Key: fmt.Sprintf("inject:%s:%s:%s", r.Key, g.path, g.lib.SHA256)}
	f.Kind = KindInjectedLibrary
	f.Root = r.Label
	f.Library = g.path
	f.SHA256 = g.lib.SHA256
	f.Symbols = strings.Join(g.lib.Symbols, ",")
	pids := make([]int, 0, len(g.procs))
	for _, p := range g.procs {
		pids = append(pids, p.Pid)
	}
	sort.Ints(pids)
	f.Detail = map[string]string{
		"pids":          pidList(pids),
		"processes":     strconv.Itoa(len(pids)),
		"library_owner": fmt.Sprint(g.lib.UID),
		"library_mtime": isoTime(g.lib.Mtime),
	}
	if g.lib.Soname != "" {
		f.Detail["soname"] = g.lib.Soname
	}
	if g.m.Deleted {
		f.Detail["deleted"] = "true"
	}
	if len(g.preload) > 0 {
		f.Detail["loaded_by"] = strings.Join(g.preload, ",")
	}
	if r.ContainerID != "" {
		f.Detail["container_id"] = r.ContainerID
	}
	if rep.Runtime != "" {
		f.Detail["runtime"] = rep.Runtime
	}
	f.Summary = fmt.Sprintf("%d process(es) of %s map %s, which overrides %s", len(pids), r.Label, g.path, f.Symbols)
	f.Process = s.processState(rep)
	return f
}

// stillMaps reads a process's maps again and reports whether it still has
// the file mapped executable.
func (s *Scanner) stillMaps(p *proc, m mapping) bool {
	st, ok := statOf(s.procfd, p.Pid)
	if !ok || st.StartTicks != p.Stat.StartTicks {
		return false
	}
	b, err := readAt(s.procfd, fmt.Sprintf("%d/maps", p.Pid), make([]byte, 0, 64<<10), maxMaps)
	if err != nil && err != errTooLarge {
		return false
	}
	for _, x := range parseMaps(b, nil) {
		if x.Dev == m.Dev && x.Ino == m.Ino {
			return true
		}
	}
	return false
}

// maxListedPids bounds the PIDs a finding lists.
const maxListedPids = 64

func pidList(pids []int) string {
	var b strings.Builder
	for i, p := range pids {
		if i == maxListedPids {
			fmt.Fprintf(&b, ",... (%d more)", len(pids)-i)
			break
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(p))
	}
	return b.String()
}
