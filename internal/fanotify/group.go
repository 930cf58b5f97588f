package fanotify

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Group is one fanotify group: the file descriptor returned by
// fanotify_init. Reads go through the Go runtime's poller, so a goroutine
// waiting for events holds no OS thread.
type Group struct {
	file  *os.File
	fd    int
	flags uint
}

// Init creates a group. flags are FAN_CLASS_*, FAN_REPORT_* and the like
// (FAN_NONBLOCK and FAN_CLOEXEC are always added); eventFlags are the open
// flags of the file descriptors the kernel puts into events (O_RDONLY,
// O_LARGEFILE, O_CLOEXEC...).
func Init(flags uint, eventFlags uint) (*Group, error) {
	flags |= unix.FAN_NONBLOCK | unix.FAN_CLOEXEC
	fd, err := unix.FanotifyInit(flags, eventFlags)
	if err != nil {
		return nil, fmt.Errorf("fanotify_init(flags %#x, event flags %#x): %w", flags, eventFlags, err)
	}
	return &Group{file: os.NewFile(uintptr(fd), "fanotify"), fd: fd, flags: flags}, nil
}

// Fd is the group's file descriptor.
func (g *Group) Fd() int { return g.fd }

// Flags are the flags the group was created with.
func (g *Group) Flags() uint { return g.flags }

// Mark adds, removes or flushes marks (fanotify_mark). dirfd and path name
// the object as for openat; with FAN_MARK_FILESYSTEM any path on the
// filesystem marks the whole superblock, with FAN_MARK_MOUNT the mount.
func (g *Group) Mark(flags uint, mask uint64, dirfd int, path string) error {
	if err := unix.FanotifyMark(g.fd, flags, mask, dirfd, path); err != nil {
		return fmt.Errorf("fanotify_mark(%s, flags %#x, mask %#x): %w", path, flags, mask, err)
	}
	return nil
}

// Read reads as many whole events as fit into buf, waiting until at least
// one is queued or the group is closed (then os.ErrClosed).
func (g *Group) Read(buf []byte) (int, error) {
	n, err := g.file.Read(buf)
	if err != nil {
		return n, fmt.Errorf("read fanotify events: %w", err)
	}
	return n, nil
}

// SetReadDeadline makes a waiting Read return os.ErrDeadlineExceeded at t
// (zero: no deadline).
func (g *Group) SetReadDeadline(t time.Time) error { return g.file.SetReadDeadline(t) }

// Respond answers the permission event whose file descriptor is fd with
// unix.FAN_ALLOW or unix.FAN_DENY (optionally | unix.FAN_AUDIT). Respond is
// safe for concurrent use: each answer is one write. The caller still owns
// fd and closes it after answering.
func (g *Group) Respond(fd int32, response uint32) error {
	r := unix.FanotifyResponse{Fd: fd, Response: response}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&r)), unsafe.Sizeof(r))
	rc, err := g.file.Write(b)
	if err != nil {
		return fmt.Errorf("answer fanotify event (fd %d, response %#x): %w", fd, response, err)
	}
	if rc != len(b) {
		return fmt.Errorf("answer fanotify event (fd %d): short write %d", fd, rc)
	}
	return nil
}

// Close closes the group. The kernel allows every permission event still
// waiting for an answer from this group.
func (g *Group) Close() error {
	err := g.file.Close()
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}

// FdPath appends the path of the open file descriptor fd (as this process
// sees it, readlink of /proc/self/fd/N) to buf and returns it. For a file on
// a mount the caller cannot reach (a container's root), the path is relative
// to that mount's root. A deleted file ends in " (deleted)".
func FdPath(fd int32, buf []byte) ([]byte, error) {
	var link [32]byte
	l := append(link[:0], "/proc/self/fd/"...)
	l = strconv.AppendInt(l, int64(fd), 10)
	l = append(l, 0)
	start := len(buf)
	if cap(buf)-start < unix.PathMax {
		nb := make([]byte, start, start+unix.PathMax)
		copy(nb, buf)
		buf = nb
	}
	dst := buf[start : start+unix.PathMax]
	n, err := readlink(&l[0], dst)
	if err != nil {
		return buf[:start], fmt.Errorf("path of fd %d: %w", fd, err)
	}
	return buf[:start+n], nil
}

// readlink calls readlinkat with a NUL-terminated path and no allocation.
func readlink(path *byte, dst []byte) (int, error) {
	cwd := unix.AT_FDCWD
	r, _, e := unix.Syscall6(unix.SYS_READLINKAT, uintptr(cwd), uintptr(unsafe.Pointer(path)),
		uintptr(unsafe.Pointer(&dst[0])), uintptr(len(dst)), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
