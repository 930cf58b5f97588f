package scan

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// rootKey identifies a root filesystem: the mount namespace plus the root
// directory's device and inode. The namespace alone is not enough (a
// chroot shares it), and neither is the directory alone (the same image
// layer can be the root of two containers with different mounts below it).
type rootKey struct {
	MntNS uint64
	Dev   uint64
	Ino   uint64
}

func (k rootKey) String() string {
	return fmt.Sprintf("mnt:[%d] root %d:%d ino %d", k.MntNS, unix.Major(k.Dev), unix.Minor(k.Dev), k.Ino)
}

// root is one distinct root filesystem and what the scan learnt in it.
type root struct {
	Key rootKey
	// Rep is the process through whose /proc/<pid>/root the root is read:
	// the lowest live PID that has it.
	Rep *proc
	// Procs are the processes that have this root.
	Procs []*proc
	// Label names the root for people: host, host:/srv/jail, or
	// container:<id12>.
	Label string
	// ContainerID is the full id of the container the root belongs to, or
	// "" for the host.
	ContainerID string

	// PathPrefix is the root's path as the scanner sees it, for a chroot
	// in the scanner's own mount namespace: the kernel prints the paths of
	// its processes' mappings with it.
	PathPrefix string

	// Preload is the parsed /etc/ld.so.preload (nil when absent).
	Preload *preloadFile
	// Loader says which C library family the root uses: glibc, musl or ""
	// when it has no dynamic loader.
	Loader string
	// known are the root's own C runtime files, learnt once per scan.
	known *knownSet
}

// maxConfigFile bounds what is read of one configuration file.
const maxConfigFile = 1 << 20

// openInRoot opens path inside the root directory rootfd. Symlinks are
// resolved as if rootfd were "/", so an absolute link in the root cannot
// lead out of it, and magic links (/proc/self/...) are refused.
func openInRoot(rootfd int, path string, flags int) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	rel := strings.TrimLeft(path, "/")
	if rel == "" {
		rel = "."
	}
	for {
		fd, err := unix.Openat2(rootfd, rel, &how)
		// openat2 returns EAGAIN when a rename raced the lookup.
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// readInRoot reads a regular file inside a root, at most limit bytes.
func readInRoot(rootfd int, path string, limit int) ([]byte, unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := openInRoot(rootfd, path, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return nil, st, err
	}
	defer closeFD(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, st, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, st, errNotRegular
	}
	b, err := readFD(fd, make([]byte, 0, min(int(st.Size)+1, limit)), limit)
	return b, st, err
}

var errNotRegular = errors.New("not a regular file")

// openRoot opens /proc/<pid>/root of a process as a directory fd.
func openRoot(procfd, pid int) (int, error) {
	fd, err := unix.Openat(procfd, fmt.Sprintf("%d/root", pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open root of pid %d: %w", pid, err)
	}
	return fd, nil
}
