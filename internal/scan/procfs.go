package scan

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of start times in /proc/<pid>/stat: 100
// on every Linux architecture's user ABI.
const clockTicks = 100

// pidSet is a bitmap of PIDs. It grows as needed: processes started
// before pid_max was lowered keep PIDs above it.
type pidSet struct{ w []uint64 }

func newPidSet(max int) *pidSet { return &pidSet{w: make([]uint64, max/64+1)} }

func (s *pidSet) add(p int) {
	if p < 0 {
		return
	}
	if i := p / 64; i >= len(s.w) {
		s.w = append(s.w, make([]uint64, i+1-len(s.w))...)
	}
	s.w[p/64] |= 1 << (p % 64)
}

func (s *pidSet) has(p int) bool {
	return p >= 0 && p/64 < len(s.w) && s.w[p/64]&(1<<(p%64)) != 0
}

// each calls fn with every PID in the set, in order.
func (s *pidSet) each(fn func(pid int)) {
	for i, w := range s.w {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			w &^= 1 << b
			fn(i*64 + b)
		}
	}
}

// listPids reads the numeric entries of a procfs directory with getdents64,
// so that no library between us and the kernel can filter them, and calls
// fn with each PID.
func listPids(dirfd int, buf []byte, fn func(pid int)) error {
	fd, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open proc directory: %w", err)
	}
	defer closeFD(fd)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("getdents64 on proc directory: %w", err)
		}
		if n <= 0 {
			return nil
		}
		parseDirents(buf[:n], fn)
	}
}

// parseDirents walks linux_dirent64 records: ino u64, off s64, reclen u16,
// type u8, then the NUL-terminated name.
func parseDirents(b []byte, fn func(pid int)) {
	for len(b) >= 19 {
		reclen := int(b[16]) | int(b[17])<<8
		if reclen < 19 || reclen > len(b) {
			return
		}
		name := b[19:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if pid, ok := atoiBytes(name); ok {
			fn(pid)
		}
		b = b[reclen:]
	}
}

// atoiBytes parses a positive decimal PID without allocating.
func atoiBytes(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n > 0
}

// closeFD closes an fd whose close error has nowhere to go: it was only
// read.
func closeFD(fd int) { _ = unix.Close(fd) }

// readAt reads a whole file below dirfd into buf (growing it up to limit)
// and returns the bytes read. Files of procfs have no meaningful size, so
// it reads until EOF.
func readAt(dirfd int, name string, buf []byte, limit int) ([]byte, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return buf[:0], err
	}
	defer closeFD(fd)
	return readFD(fd, buf, limit)
}

func readFD(fd int, buf []byte, limit int) ([]byte, error) {
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			if cap(buf) >= limit {
				return buf, errTooLarge
			}
			nb := make([]byte, len(buf), min(max(2*cap(buf), 4096), limit))
			copy(nb, buf)
			buf = nb
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return buf, err
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

var errTooLarge = errors.New("file exceeds the read limit")

// statInfo is what /proc/<pid>/stat says about a process.
type statInfo struct {
	Comm       string
	State      byte
	PPid       int
	StartTicks uint64 // start time in clock ticks since boot
	Flags      uint64
}

// pfKthread is PF_KTHREAD in the stat flags field.
const pfKthread = 0x00200000

// parseStat parses /proc/<pid>/stat. The comm is between the first '(' and
// the last ')', since it may itself contain parentheses and spaces.
func parseStat(b []byte) (statInfo, bool) {
	var s statInfo
	open := bytes.IndexByte(b, '(')
	cl := bytes.LastIndexByte(b, ')')
	if open < 0 || cl < open || cl+2 > len(b) {
		return s, false
	}
	s.Comm = string(b[open+1 : cl])
	rest := b[cl+2:]
	// Fields after comm, 1-based from state (field 3 of the man page).
	field := 0
	for len(rest) > 0 {
		var tok []byte
		if i := bytes.IndexByte(rest, ' '); i >= 0 {
			tok, rest = rest[:i], rest[i+1:]
		} else {
			tok, rest = bytes.TrimRight(rest, "\n"), nil
		}
		field++
		switch field {
		case 1:
			if len(tok) > 0 {
				s.State = tok[0]
			}
		case 2:
			n, _ := strconv.Atoi(string(tok))
			s.PPid = n
		case 7:
			s.Flags, _ = strconv.ParseUint(string(tok), 10, 64)
		case 20:
			s.StartTicks, _ = strconv.ParseUint(string(tok), 10, 64)
			return s, true
		}
	}
	return s, false
}

// statusInfo is what the scan needs from /proc/<pid>/status.
type statusInfo struct {
	Tgid  int
	UID   int
	GID   int
	NSpid []int // the PID in each nested namespace, outermost first
}

func parseStatus(b []byte) statusInfo {
	var s statusInfo
	for len(b) > 0 {
		var line []byte
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		f := strings.Fields(string(val))
		switch string(key) {
		case "Tgid":
			if len(f) > 0 {
				s.Tgid, _ = strconv.Atoi(f[0])
			}
		case "Uid":
			if len(f) > 0 {
				s.UID, _ = strconv.Atoi(f[0])
			}
		case "Gid":
			if len(f) > 0 {
				s.GID, _ = strconv.Atoi(f[0])
			}
		case "NSpid":
			for _, x := range f {
				n, _ := strconv.Atoi(x)
				s.NSpid = append(s.NSpid, n)
			}
		}
	}
	return s
}

// nsInode returns the inode of a namespace file such as "ns/mnt" below a
// process directory.
func nsInode(pidfd int, name string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(pidfd, name, &st, 0); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// openProc opens /proc as a directory fd.
func openProc(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", path, err)
	}
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		closeFD(fd)
		return -1, fmt.Errorf("statfs %s: %w", path, err)
	}
	if sfs.Type != unix.PROC_SUPER_MAGIC {
		closeFD(fd)
		return -1, fmt.Errorf("%s is not a procfs mount (filesystem magic %#x)", path, sfs.Type)
	}
	return fd, nil
}

// readPidMax returns the kernel's pid_max.
func readPidMax(procPath string) (int, error) {
	b, err := os.ReadFile(procPath + "/sys/kernel/pid_max")
	if err != nil {
		return 0, fmt.Errorf("read pid_max: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("read pid_max: bad value %q", strings.TrimSpace(string(b)))
	}
	return n, nil
}

// parseEnv returns the values of the loader variables in an environ block.
// Only the first occurrence of a name counts, as getenv does.
func parseEnv(b []byte) (env loaderEnv) {
	for len(b) > 0 {
		var kv []byte
		if i := bytes.IndexByte(b, 0); i >= 0 {
			kv, b = b[:i], b[i+1:]
		} else {
			kv, b = b, nil
		}
		if len(kv) < 3 || kv[0] != 'L' || kv[1] != 'D' || kv[2] != '_' {
			continue
		}
		k, v, ok := bytes.Cut(kv, []byte("="))
		if !ok {
			continue
		}
		switch string(k) {
		case "LD_PRELOAD":
			if !env.hasPreload {
				env.Preload, env.hasPreload = string(v), true
			}
		case "LD_AUDIT":
			if !env.hasAudit {
				env.Audit, env.hasAudit = string(v), true
			}
		case "LD_LIBRARY_PATH":
			if !env.hasLibPath {
				env.LibraryPath, env.hasLibPath = string(v), true
			}
		}
	}
	return env
}

// loaderEnv holds the environment variables that change what the dynamic
// loader loads.
type loaderEnv struct {
	Preload     string
	Audit       string
	LibraryPath string

	hasPreload, hasAudit, hasLibPath bool
}

// injects reports whether the environment makes the loader inject code:
// LD_PRELOAD or LD_AUDIT with at least one entry. LD_LIBRARY_PATH alone
// only changes the search path and is reported with them.
func (e loaderEnv) injects() bool {
	return strings.Trim(e.Preload, " :") != "" || strings.Trim(e.Audit, ":") != ""
}

// key identifies one environment's loader configuration.
func (e loaderEnv) key() string {
	return e.Preload + "\x00" + e.Audit + "\x00" + e.LibraryPath
}

// vars returns the variables as NAME=value strings for a child's
// environment.
func (e loaderEnv) vars() []string {
	var out []string
	if e.hasPreload {
		out = append(out, "LD_PRELOAD="+e.Preload)
	}
	if e.hasAudit {
		out = append(out, "LD_AUDIT="+e.Audit)
	}
	if e.hasLibPath {
		out = append(out, "LD_LIBRARY_PATH="+e.LibraryPath)
	}
	return out
}
