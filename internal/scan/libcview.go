package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A lister is a libc-based program of the root that lists processes the
// way the root's users see them. Only dynamically linked ones are run: a
// static program ignores preload libraries, so its view is the truth.
type lister struct {
	Name  string   // for views text: ps, ls
	Paths []string // candidate paths inside the root
	Args  []string
}

var listers = []lister{
	{Name: "ps", Paths: []string{"/usr/bin/ps", "/bin/ps"}, Args: []string{"-A", "-o", "pid="}},
	{Name: "ls", Paths: []string{"/usr/bin/ls", "/bin/ls"}, Args: []string{"-1", "-a", "/proc"}},
}

// dynamicProgram reports whether the file at path inside the root is a
// dynamically linked ELF program (it has a PT_INTERP program header).
func dynamicProgram(rootfd int, path string) bool {
	fd, err := openInRoot(rootfd, path, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return false
	}
	defer closeFD(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o111 == 0 {
		return false
	}
	var hdr [64]byte
	if _, err := fdReader(fd).ReadAt(hdr[:], 0); err != nil || string(hdr[:4]) != "\x7fELF" || hdr[4] != 2 || hdr[5] != 1 {
		return false
	}
	phoff := int64(leUint64(hdr[32:]))
	phentsize, phnum := int(leUint16(hdr[54:])), int(leUint16(hdr[56:]))
	if phentsize != 56 || phnum <= 0 || phnum > maxPhdrs {
		return false
	}
	ph := make([]byte, phentsize*phnum)
	if _, err := fdReader(fd).ReadAt(ph, phoff); err != nil {
		return false
	}
	const ptInterp = 3
	for i := 0; i < phnum; i++ {
		if leUint32(ph[i*phentsize:]) == ptInterp {
			return true
		}
	}
	return false
}

func leUint16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func leUint32(b []byte) uint32 { return uint32(leUint16(b)) | uint32(leUint16(b[2:]))<<16 }
func leUint64(b []byte) uint64 { return uint64(leUint32(b)) | uint64(leUint32(b[4:]))<<32 }

// listingTarget is whose view a listing reproduces: a live process, whose
// mount and PID namespaces, root, user and group it takes, and the loader
// variables of its environment.
type listingTarget struct {
	Pid   int
	Start uint64 // identity check against PID reuse
	UID   int
	GID   int
	Env   []string
}

// maxListingOutput bounds a listing's output (a PID per line).
const maxListingOutput = 8 << 20

// errTargetGone says the target exited before the listing could enter its
// namespaces.
var errTargetGone = errors.New("target process exited")

// runListing runs one lister inside the target's namespaces and returns
// the PIDs it printed. The program comes from the target's root (the one
// thing the scan ever executes from a container's filesystem) and runs
// with the target's uid and gid, no capabilities, no_new_privs, a clean
// environment plus the target's loader variables, and a timeout.
func (s *Scanner) runListing(ctx context.Context, t listingTarget, path string, args []string) ([]int, error) {
	var (
		pids []int
		err  error
	)
	onSpareThread(func() { pids, err = s.listInTarget(ctx, t, path, args) })
	return pids, err
}

// onSpareThread runs fn on an OS thread of its own that ends with it, so
// that what fn does to its thread (root, namespaces, capabilities) never
// reaches another goroutine. The thread is never the main thread: the
// kernel shows the main thread's root and namespaces as the whole
// process's, and the runtime keeps it alive (wedged) instead of ending it.
// New threads are not cloned from a locked thread (the runtime's template
// thread makes them), so nothing inherits fn's state but fn's children.
func onSpareThread(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			fn() // and never unlock: the thread ends with this goroutine
			return
		}
		// Holding the main thread here keeps the inner goroutine off it.
		inner := make(chan struct{})
		go func() {
			defer close(inner)
			runtime.LockOSThread()
			fn()
		}()
		<-inner
		runtime.UnlockOSThread()
	}()
	<-done
}

func (s *Scanner) listInTarget(ctx context.Context, t listingTarget, path string, args []string) ([]int, error) {
	dir := strconv.Itoa(t.Pid)
	open := func(name string, flags int) (int, error) {
		return unix.Openat(s.procfd, dir+"/"+name, flags|unix.O_CLOEXEC, 0)
	}
	mntfd, err := open("ns/mnt", unix.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("open mount namespace of pid %d: %w", t.Pid, err)
	}
	defer closeFD(mntfd)
	pidnsfd, err := open("ns/pid", unix.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("open pid namespace of pid %d: %w", t.Pid, err)
	}
	defer closeFD(pidnsfd)
	rootfd, err := open("root", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return nil, fmt.Errorf("open root of pid %d: %w", t.Pid, err)
	}
	defer closeFD(rootfd)
	// The fds were opened for the process we meant, not a newcomer with
	// its PID, if it still has the same start time now.
	if st, ok := statOf(s.procfd, t.Pid); !ok || st.StartTicks != t.Start {
		return nil, errTargetGone
	}

	// Unshare the filesystem attributes (root, cwd) from the rest of the
	// process first: setns into a mount namespace and chroot need them
	// private, and they must never reach other threads.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return nil, fmt.Errorf("unshare filesystem attributes: %w", err)
	}
	// Entering another namespace needs CAP_SYS_ADMIN, which the chart's
	// detect tier does not grant. Without it the listing still runs under
	// the target's root, reached through /proc/<pid>/root: the path walk
	// from there follows the target's own mounts (its /etc, its /proc), so
	// the loader reads the target's preload file. Only tools that need
	// their own /proc/self (procps's ps) fail, and say so.
	if !sameNS(mntfd, s.selfMntNS) {
		if err := unix.Setns(mntfd, unix.CLONE_NEWNS); err != nil && err != unix.EPERM {
			return nil, fmt.Errorf("enter mount namespace of pid %d: %w", t.Pid, err)
		}
	}
	// The target's own root, which may be a chroot inside its namespace.
	if err := unix.Fchdir(rootfd); err != nil {
		return nil, fmt.Errorf("enter root of pid %d: %w", t.Pid, err)
	}
	if err := unix.Chroot("."); err != nil {
		return nil, fmt.Errorf("chroot to root of pid %d (needs CAP_SYS_CHROOT): %w", t.Pid, err)
	}
	if !sameNS(pidnsfd, s.selfPidNS) {
		// Applies to children: the listing is born in the target's PID
		// namespace.
		if err := unix.Setns(pidnsfd, unix.CLONE_NEWPID); err != nil && err != unix.EPERM {
			return nil, fmt.Errorf("enter pid namespace of pid %d: %w", t.Pid, err)
		}
	}
	// No privileges beyond the target's: no capabilities survive the exec
	// (empty bounding and ambient sets), and setuid files cannot grant any.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("set no_new_privs: %w", err)
	}
	_ = unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	cred := &syscall.Credential{Uid: uint32(t.UID), Gid: uint32(t.GID), Groups: []uint32{}}
	bounded, err := dropBoundingSet()
	if err != nil {
		return nil, err
	}
	if !bounded {
		// Without CAP_SETPCAP (a pod's tiers do not grant it) the bounding
		// set stays; this thread's own sets are emptied instead, and
		// no_new_privs caps what the exec may give at what the thread
		// holds: nothing. Switching ids then is impossible, so only a
		// target with the agent's own ids can be listed.
		if uid, gid := unix.Getuid(), unix.Getgid(); t.UID != uid || t.GID != gid {
			return nil, fmt.Errorf("listing as uid %d gid %d needs CAP_SETPCAP, CAP_SETUID and CAP_SETGID (the agent runs as uid %d gid %d without them)", t.UID, t.GID, uid, gid)
		}
		if err := clearThreadCaps(); err != nil {
			return nil, err
		}
		cred = &syscall.Credential{Uid: uint32(t.UID), Gid: uint32(t.GID), NoSetGroups: true}
	}

	ctx, cancel := context.WithTimeout(ctx, s.opts.ListingTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = "/"
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", "COLUMNS=4096"}, t.Env...)
	var out, errOut limitedBuffer
	out.limit, errOut.limit = maxListingOutput, 4096
	cmd.Stdout, cmd.Stderr = &out, &errOut
	// No Pdeathsig: in another PID namespace the child's getppid() is 0,
	// which Go's fork takes for a dead parent, and the child kills itself.
	// The timeout bounds it instead.
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		Setsid:     true,
	}
	cmd.WaitDelay = time.Second
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return nil, fmt.Errorf("%s timed out after %s", path, s.opts.ListingTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", path, err, bytes.TrimSpace(errOut.Bytes()))
	}
	if out.over {
		return nil, fmt.Errorf("%s: output exceeds %d bytes", path, maxListingOutput)
	}
	return parseListing(out.Bytes()), nil
}

// dropBoundingSet empties this thread's capability bounding set, so that
// no exec from it can gain a capability. It reports false, and drops
// nothing, when the thread lacks CAP_SETPCAP.
func dropBoundingSet() (bool, error) {
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		switch {
		case err == unix.EPERM && c == 0:
			return false, nil
		case err != nil && err != unix.EINVAL:
			return false, fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	return true, nil
}

// clearThreadCaps empties this thread's effective, permitted and
// inheritable capability sets.
func clearThreadCaps() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("clear the listing thread's capabilities: %w", err)
	}
	return nil
}

// sameNS reports whether the namespace file fd is the namespace with inode
// ino.
func sameNS(fd int, ino uint64) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Ino == ino
}

// parseListing reads the PIDs from a listing: the first field of each line
// when it is a number (ps prints a PID per line, ls a name per line, and
// headers or other names are skipped).
func parseListing(b []byte) []int {
	var out []int
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 0 {
			continue
		}
		if pid, ok := atoiBytes(f[0]); ok {
			out = append(out, pid)
		}
	}
	return out
}

// limitedBuffer keeps at most limit bytes and remembers it overflowed.
type limitedBuffer struct {
	bytes.Buffer
	limit int
	over  bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.Len(); len(p) > room {
		b.over = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
