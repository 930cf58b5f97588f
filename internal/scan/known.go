package scan

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/truesightsec/truesight/internal/node"
)

// standardLibDirs are where x86-64 glibc and musl systems keep the C
// library and loader; a runtime file mapped from elsewhere is not the
// root's own.
var standardLibDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib64", "/usr/lib64", "/lib", "/usr/lib",
}

// runtimeFile describes one file of the C runtime that programs load
// without asking: the loader, libc, and glibc's split-off libraries.
// MinExports is what a real one exports at least when it defines functions
// of the hiding set (libc: thousands; libpthread before glibc 2.34: its
// cancellation wrappers of open among a few hundred); 0 means a real one
// defines none, so a file of that name that does is not what it is named.
type runtimeFile struct {
	Name       string
	MinExports int
}

var runtimeFiles = []runtimeFile{
	{"ld-linux-x86-64.so.2", 0},
	{"libc.so.6", minRuntimeExports},
	{"libpthread.so.0", 100},
	{"librt.so.1", 0},
	{"libdl.so.2", 0},
	{"ld-musl-x86_64.so.1", minRuntimeExports},
	{"libc.musl-x86_64.so.1", minRuntimeExports},
}

// runtimeNames are the names of runtimeFiles.
var runtimeNames = func() []string {
	out := make([]string, len(runtimeFiles))
	for i, f := range runtimeFiles {
		out[i] = f.Name
	}
	return out
}()

// minRuntimeExports tells a real libc (thousands of exported functions)
// from a small library merely named like one.
const minRuntimeExports = 500

// looksLikeRuntime reports whether a library at p (inside its root) is
// shaped like the C runtime file its name says it is: a runtime name in a
// standard directory, exporting as much as the real one does.
func looksLikeRuntime(p string, lib *library) bool {
	if !slices.Contains(standardLibDirs, path.Dir(p)) {
		return false
	}
	i := slices.IndexFunc(runtimeFiles, func(f runtimeFile) bool { return f.Name == path.Base(p) })
	if i < 0 {
		return false
	}
	if len(lib.Symbols) == 0 {
		return true
	}
	least := runtimeFiles[i].MinExports
	return least > 0 && lib.Exports >= least
}

// runtimeBinaryNames are the container runtime programs whose processes
// run inside containers' namespaces and cgroups while they set them up or
// watch them (runc init, crun, conmon, a containerd shim, catatonit as a
// pod's init): they map the host's C runtime from wherever they sit.
var runtimeBinaryNames = []string{"runc", "crun", "conmon", "catatonit", "containerd-shim"}

// runtimeBinaryPrefixes find the versioned shims (containerd-shim-runc-v2).
var runtimeBinaryPrefixes = []string{"containerd-shim-"}

// runtimeBinaryDirs are where distributions install them on the host.
var runtimeBinaryDirs = []string{
	"/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin", "/usr/local/sbin",
	"/usr/libexec/podman", "/usr/lib/podman", "/usr/libexec/crio", "/usr/libexec/cri-o",
}

// devIno is a file's identity on the machine.
type devIno struct{ Dev, Ino uint64 }

// knownFile is a file whose content the scan knows to be what it is named:
// a C runtime file (libc, loader) of the host or of one root, or one of the
// host's container runtime binaries. A mapping or an executable is judged
// against these by identity: the same device and inode, or a byte-identical
// copy (the same sha256), never by its name.
type knownFile struct {
	ID     devIno
	SHA256 string
	Size   int64
	// Path is where it was found, inside Root.
	Path string
	// Root labels the root it was found in: "host" for the scanner's own.
	Root string
	// Runtime names the container runtime binary ("runc"); "" for a C
	// runtime file.
	Runtime string
}

func (k *knownFile) String() string {
	return fmt.Sprintf("%s of %s (%d:%d ino %d sha256 %s)", k.Path, k.Root, unix.Major(k.ID.Dev), unix.Minor(k.ID.Dev), k.ID.Ino, k.SHA256)
}

// knownSet is a set of known files by identity and by content.
type knownSet struct {
	byID  map[devIno]*knownFile
	bySum map[string]*knownFile
}

func newKnownSet() *knownSet {
	return &knownSet{byID: map[devIno]*knownFile{}, bySum: map[string]*knownFile{}}
}

func (ks *knownSet) add(k *knownFile) {
	if _, ok := ks.byID[k.ID]; !ok {
		ks.byID[k.ID] = k
	}
	if _, ok := ks.bySum[k.SHA256]; !ok && k.SHA256 != "" {
		ks.bySum[k.SHA256] = k
	}
}

// match returns the known file that a file of identity id and content sum
// is: the same file (device, inode and content), or else a byte-identical
// copy. A file with a known device and inode but other content (rewritten
// in place since it was learnt) is not it.
func (ks *knownSet) match(id devIno, sum string) *knownFile {
	if ks == nil || sum == "" {
		return nil
	}
	if k := ks.byID[id]; k != nil && k.SHA256 == sum {
		return k
	}
	return ks.bySum[sum]
}

// hostFiles is what the scan knows of the host, learnt from the scanner's
// own root: its C runtime files, which the container runtime brings into
// every container it starts, and its container runtime binaries.
type hostFiles struct {
	runtime  *knownSet // C runtime files
	binaries *knownSet // container runtime binaries
	sizes    map[int64]bool
}

// learnHost reads the host's C runtime files and container runtime
// binaries through the node's root (the scanner's own on the node), and
// says why when it cannot. It touches no other state of the scan (it runs
// beside the views, hashing the runtime binaries while the PIDs are probed).
func (s *Scanner) learnHost() (h *hostFiles, note string) {
	h = &hostFiles{runtime: newKnownSet(), binaries: newKnownSet(), sizes: map[int64]bool{}}
	rootfd, err := unix.Open(node.Root(s.opts.HostRoot).Path("/"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return h, fmt.Sprintf("open the node's root %s: %v: the host's C runtime is not known", node.Root(s.opts.HostRoot), err)
	}
	defer closeFD(rootfd)
	h.runtime = s.runtimeFilesIn(rootfd, "host")
	for _, dir := range runtimeBinaryDirs {
		dfd, err := openInRoot(rootfd, dir, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			continue
		}
		var names []string
		_ = listDir(dfd, func(name string) bool {
			if slices.Contains(runtimeBinaryNames, name) || slices.ContainsFunc(runtimeBinaryPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
				names = append(names, name)
			}
			return true
		})
		closeFD(dfd)
		sort.Strings(names)
		for _, name := range names {
			p := path.Join(dir, name)
			k := s.knownAt(rootfd, p, "host")
			if k == nil {
				continue
			}
			k.Runtime = name
			if i := slices.IndexFunc(runtimeBinaryPrefixes, func(pre string) bool { return strings.HasPrefix(name, pre) }); i >= 0 {
				k.Runtime = strings.TrimSuffix(runtimeBinaryPrefixes[i], "-")
			}
			h.binaries.add(k)
			h.sizes[k.Size] = true
		}
	}
	return h, ""
}

// runtimeFilesIn returns the C runtime files of a root that are shaped like
// what they are named.
func (s *Scanner) runtimeFilesIn(rootfd int, label string) *knownSet {
	ks := newKnownSet()
	for _, dir := range standardLibDirs {
		for _, f := range runtimeFiles {
			p := dir + "/" + f.Name
			fd, err := openInRoot(rootfd, p, unix.O_RDONLY|unix.O_NONBLOCK)
			if err != nil {
				continue
			}
			lib, err := s.libs.analyse(fd, true)
			closeFD(fd)
			if err != nil || lib.Err != nil || lib.SHA256 == "" || !looksLikeRuntime(p, lib) {
				continue
			}
			ks.add(&knownFile{ID: lib.ID, SHA256: lib.SHA256, Size: lib.Size, Path: p, Root: label})
		}
	}
	return ks
}

// knownAt hashes the regular file at p inside a root.
func (s *Scanner) knownAt(rootfd int, p, label string) *knownFile {
	fd, err := openInRoot(rootfd, p, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return nil
	}
	defer closeFD(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil
	}
	sum, err := s.hash.sum(fd)
	if err != nil {
		return nil
	}
	return &knownFile{ID: devIno{st.Dev, st.Ino}, SHA256: sum, Size: st.Size, Path: p, Root: label}
}

// runtimeFilesOf returns the C runtime files of a root, learnt once per
// scan.
func (s *Scanner) runtimeFilesOf(r *root) *knownSet {
	if r.known != nil {
		return r.known
	}
	r.known = newKnownSet()
	if rootfd, err := s.openRootOf(r.Rep); err == nil {
		r.known = s.runtimeFilesIn(rootfd, r.Label)
		closeFD(rootfd)
	}
	return r.known
}

// runtimeBinaryOf returns the host's container runtime binary a process
// executes, or nil. The executable is judged by identity: its device and
// inode (runc init runs the host's binary through a bind mount of it), or
// else its content, hashed only when its size is that of a runtime binary
// (a runtime that re-executes a sealed copy of itself from memory).
func (s *Scanner) runtimeBinaryOf(p *proc) *knownFile {
	if s.host == nil || !p.HasExe {
		return nil
	}
	if k := s.host.binaries.byID[p.ExeID]; k != nil {
		return k
	}
	if !s.host.sizes[p.ExeSize] {
		return nil
	}
	fd, err := unix.Openat(s.procfd, fmt.Sprintf("%d/exe", p.Pid), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	defer closeFD(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || (devIno{st.Dev, st.Ino}) != p.ExeID {
		return nil // not the executable read before: the process changed
	}
	sum, err := s.hash.sum(fd)
	if err != nil {
		return nil
	}
	return s.host.binaries.bySum[sum]
}

// classifyRuntime marks the processes that are the host's container
// runtime, wherever they sit.
func (s *Scanner) classifyRuntime(procs []*proc) {
	for _, p := range procs {
		if p.Kernel {
			continue
		}
		if k := s.runtimeBinaryOf(p); k != nil {
			p.Runtime = k.Runtime
		}
	}
}

// knownMapping returns the known file a process's mapping is, or nil. The
// host's C runtime files and runtime binaries are known in every root (the
// runtime's own processes map them from inside the containers they set up,
// and images copy them); a root's own C runtime files are known for its
// own processes only, not for the host's runtime processes that sit in it,
// so that no container's libc whitewashes the same file elsewhere.
func (s *Scanner) knownMapping(r *root, p *proc, m *mapping, lib *library) *knownFile {
	id := devIno{m.Dev, m.Ino}
	if s.host != nil {
		if k := s.host.runtime.match(id, lib.SHA256); k != nil {
			return k
		}
		if k := s.host.binaries.match(id, lib.SHA256); k != nil {
			return k
		}
	}
	if p.Runtime != "" {
		return nil
	}
	return s.runtimeFilesOf(r).match(id, lib.SHA256)
}
