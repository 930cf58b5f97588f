package fim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// WalkOptions tune a walk.
type WalkOptions struct {
	// Workers hash files in parallel (default: 2 per CPU, at most 16).
	// Memory is bounded by Workers read buffers and as many open files
	// again.
	Workers int
	// MaxHashBytes is the most data one file may have to be hashed
	// (default 4 GiB); a larger file is recorded without a digest. Holes
	// of sparse files do not count.
	MaxHashBytes int64
	// Exclude are paths (relative to the root, starting with "/") not
	// walked, with what lies below them.
	Exclude []string
	// Reuse, when set, returns the digest a file had when its stat shows
	// no change (same size, mtime, ctime and inode), so it is not hashed
	// again; "" hashes it.
	Reuse func(e *Entry) string
}

const (
	defaultMaxHash = 4 << 30
	readBuf        = 256 << 10
)

// Walk records every entry under root (root itself as "/") and calls fn
// with each, from one goroutine, in no set order. It never follows a
// symbolic link (every component is opened O_NOFOLLOW below the root's
// own file descriptor), never opens anything but regular files and
// directories (fifos, devices and sockets are lstat'ed only), stays on
// root's filesystem, and hashes in opts.Workers goroutines. Entries that
// vanish during the walk are skipped; an error from fn, ctx or reading
// root stops the walk.
func Walk(ctx context.Context, root string, opts WalkOptions, fn func(*Entry) error) error {
	if opts.Workers <= 0 {
		opts.Workers = min(2*runtime.NumCPU(), 16)
	}
	if opts.MaxHashBytes <= 0 {
		opts.MaxHashBytes = defaultMaxHash
	}
	rfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", root, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(rfd, &st); err != nil {
		_ = unix.Close(rfd)
		return fmt.Errorf("stat %s: %w", root, err)
	}
	w := &walker{opts: opts, root: root, dev: st.Dev, jobs: make(chan hashJob, opts.Workers),
		out: make(chan *Entry, 4*opts.Workers), ctx: ctx}
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.hashLoop()
		}()
	}
	walkErr := make(chan error, 1)
	go func() {
		e := w.entry(rfd, ".", "/", &st)
		err := w.emit(e)
		if err == nil {
			err = w.dir(rfd, "/")
		} else {
			_ = unix.Close(rfd)
		}
		close(w.jobs)
		wg.Wait()
		close(w.out)
		walkErr <- err
	}()
	var fnErr error
	for e := range w.out {
		if fnErr == nil {
			if fnErr = fn(e); fnErr != nil {
				w.stop(fnErr)
			}
		}
	}
	if err := <-walkErr; err != nil && fnErr == nil {
		return err
	}
	return fnErr
}

type walker struct {
	opts WalkOptions
	root string
	dev  uint64
	jobs chan hashJob
	out  chan *Entry
	ctx  context.Context

	mu      sync.Mutex
	stopErr error
}

type hashJob struct {
	e *Entry
	f *os.File
}

func (w *walker) stop(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopErr == nil {
		w.stopErr = err
	}
}

func (w *walker) stopped() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopErr != nil {
		return w.stopErr
	}
	return w.ctx.Err()
}

func (w *walker) emit(e *Entry) error {
	if err := w.stopped(); err != nil {
		return err
	}
	select {
	case w.out <- e:
		return nil
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
}

// dir walks the directory open at fd, whose path is rel, and closes fd.
func (w *walker) dir(fd int, rel string) error {
	d := os.NewFile(uintptr(fd), rel)
	defer func() { _ = d.Close() }()
	names, err := d.Readdirnames(-1)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // removed while walked
		}
		return fmt.Errorf("read directory %s: %w", path.Join(w.root, rel), err)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := w.stopped(); err != nil {
			return err
		}
		p := path.Join(rel, name)
		if slices.Contains(w.opts.Exclude, p) {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			continue // vanished
		}
		e := w.entry(fd, name, p, &st)
		switch e.Type {
		case TypeDir:
			if err := w.emit(e); err != nil {
				return err
			}
			if st.Dev != w.dev {
				continue // a mount point: another filesystem's tree
			}
			cfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				continue
			}
			if err := w.dir(cfd, p); err != nil {
				return err
			}
		case TypeFile:
			if err := w.file(fd, name, e, &st); err != nil {
				return err
			}
		default:
			if err := w.emit(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// file opens a regular file for hashing, or emits it without a digest.
func (w *walker) file(dirfd int, name string, e *Entry, st *unix.Stat_t) error {
	if w.opts.Reuse != nil {
		if d := w.opts.Reuse(e); d != "" {
			e.Digest = d
			return w.emit(e)
		}
	}
	// O_NONBLOCK: a file swapped for a fifo after the lstat must not hang
	// the walk; O_NOFOLLOW: nor lead it out of the root.
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		e.Note = "not hashed: " + err.Error()
		return w.emit(e)
	}
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil || now.Mode&unix.S_IFMT != unix.S_IFREG || now.Ino != st.Ino {
		_ = unix.Close(fd)
		e.Note = "not hashed: replaced while walked"
		return w.emit(e)
	}
	select {
	case w.jobs <- hashJob{e: e, f: os.NewFile(uintptr(fd), name)}:
		return nil
	case <-w.ctx.Done():
		_ = unix.Close(fd)
		return w.ctx.Err()
	}
}

func (w *walker) hashLoop() {
	buf := make([]byte, readBuf)
	for j := range w.jobs {
		if w.stopped() == nil {
			hashFile(j.f, j.e, buf, w.opts.MaxHashBytes)
		}
		_ = j.f.Close()
		_ = w.emit(j.e)
	}
}

// entry builds the entry of name (in the directory open at dirfd) from
// its lstat.
func (w *walker) entry(dirfd int, name, rel string, st *unix.Stat_t) *Entry {
	e := &Entry{Path: rel, Type: typeOf(st.Mode), Mode: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid,
		Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Inode: st.Ino}
	if e.Type == TypeChar || e.Type == TypeBlock {
		e.Rdev = st.Rdev
	}
	if e.Type == TypeSymlink {
		buf := make([]byte, unix.PathMax)
		if n, err := unix.Readlinkat(dirfd, name, buf); err == nil {
			e.Link = string(buf[:n])
		}
	}
	e.Xattrs = readXattrs(dirfd, name)
	return e
}

// readXattrs reads every extended attribute of name without following
// it: through /proc/self/fd of its directory, which pins the directory.
func readXattrs(dirfd int, name string) map[string][]byte {
	p := "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + name
	if name == "." {
		p = "/proc/self/fd/" + strconv.Itoa(dirfd) + "/"
	}
	var list [4096]byte
	n, err := unix.Llistxattr(p, list[:])
	if err != nil || n <= 0 {
		return nil
	}
	out := map[string][]byte{}
	for _, k := range splitNul(list[:n]) {
		v := make([]byte, 256)
		m, err := unix.Lgetxattr(p, k, v)
		if errors.Is(err, unix.ERANGE) {
			if m, err = unix.Lgetxattr(p, k, nil); err == nil {
				v = make([]byte, m)
				m, err = unix.Lgetxattr(p, k, v)
			}
		}
		if err != nil {
			continue
		}
		out[k] = v[:m]
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func splitNul(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != 0 {
			i++
		}
		if i > 0 {
			out = append(out, string(b[:i]))
		}
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return out
}

// hashFile sets e.Digest from f. A file that changes while hashed is
// hashed once more; if it changes again, the digest of what was read is
// kept and Note says so.
func hashFile(f *os.File, e *Entry, buf []byte, maxBytes int64) {
	for try := 0; ; try++ {
		var before unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &before); err != nil {
			e.Note = "not hashed: " + err.Error()
			return
		}
		digest, err := digestOf(f, &before, buf, maxBytes)
		if err != nil {
			e.Digest, e.Note = "", "not hashed: "+err.Error()
			return
		}
		var after unix.Stat_t
		_ = unix.Fstat(int(f.Fd()), &after)
		e.Digest, e.Size, e.Mtime, e.Ctime = digest, after.Size, after.Mtim.Nano(), after.Ctim.Nano()
		if after.Size == before.Size && after.Mtim == before.Mtim {
			e.Note = ""
			return
		}
		if try == 1 {
			e.Note = "changed while hashed"
			return
		}
	}
}

var errTooLarge = errors.New("too large")

// digestOf hashes a whole regular file, or only the data extents of a
// sparse one.
func digestOf(f *os.File, st *unix.Stat_t, buf []byte, maxBytes int64) (string, error) {
	h := sha256.New()
	if st.Blocks*512 < st.Size {
		if d, err := extentsDigest(f, st.Size, buf, maxBytes); err == nil {
			return d, nil
		}
		// SEEK_DATA unsupported: hash it whole below.
	}
	if st.Size > maxBytes {
		return "", fmt.Errorf("%w: %d bytes (max %d)", errTooLarge, st.Size, maxBytes)
	}
	if _, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, st.Size), buf); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// extentsDigest hashes the offset, length and bytes of each data extent
// of a sparse file, so a 10 GiB hole costs nothing.
func extentsDigest(f *os.File, size int64, buf []byte, maxBytes int64) (string, error) {
	h := sha256.New()
	fd := int(f.Fd())
	var hdr [16]byte
	var total int64
	for off := int64(0); off < size; {
		start, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			return "", err
		}
		end, err := unix.Seek(fd, start, unix.SEEK_HOLE)
		if err != nil {
			return "", err
		}
		end = min(end, size)
		if total += end - start; total > maxBytes {
			return "", fmt.Errorf("%w: %d data bytes (max %d)", errTooLarge, total, maxBytes)
		}
		putInt64(hdr[:8], start)
		putInt64(hdr[8:], end-start)
		h.Write(hdr[:])
		if _, err := io.CopyBuffer(h, io.NewSectionReader(f, start, end-start), buf); err != nil {
			return "", err
		}
		off = end
	}
	putInt64(hdr[:8], size)
	h.Write(hdr[:8])
	return "sha256-extents:" + hex.EncodeToString(h.Sum(nil)), nil
}

func putInt64(b []byte, v int64) {
	for i := range 8 {
		b[i] = byte(v >> (56 - 8*i))
	}
}

// walkOne records the single entry name in directory dir (relative to
// root, "" or "/" for root itself) and passes it to fn, hashed when it is
// a regular file. dir is resolved below root without following any
// symbolic link (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS).
func walkOne(ctx context.Context, root, dir, name string, opts WalkOptions, fn func(*Entry)) error {
	if opts.MaxHashBytes <= 0 {
		opts.MaxHashBytes = defaultMaxHash
	}
	rfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", root, err)
	}
	defer func() { _ = unix.Close(rfd) }()
	dfd := rfd
	if rel := strings.Trim(dir, "/"); rel != "" {
		dfd, err = unix.Openat2(rfd, rel, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS})
		if err != nil {
			return fmt.Errorf("open %s below %s: %w", rel, root, err)
		}
		defer func() { _ = unix.Close(dfd) }()
	}
	if name == "" {
		name = "."
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("stat %s: %w", path.Join(root, dir, name), err)
	}
	w := &walker{opts: opts, root: root, dev: st.Dev, ctx: ctx, out: make(chan *Entry, 1), jobs: make(chan hashJob, 1)}
	e := w.entry(dfd, name, path.Join("/", dir, name), &st)
	if e.Type == TypeFile {
		if err := w.file(dfd, name, e, &st); err != nil {
			return err
		}
		select {
		case j := <-w.jobs:
			hashFile(j.f, j.e, make([]byte, readBuf), opts.MaxHashBytes)
			_ = j.f.Close()
		default: // emitted without a digest
			e = <-w.out
		}
	}
	fn(e)
	return nil
}
