package enforce

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/truesightsec/truesight/internal/fanotify"
)

// maxCopy bounds one kept copy; a larger protected file is watched but
// cannot be restored.
const maxCopy = 8 << 20

// fileCopy is a protected file as it was when protection started.
type fileCopy struct {
	mode     uint32 // st_mode
	uid, gid uint32
	ino      uint64
	link     string // symlink target
	sum      [32]byte
	data     []byte // shared between roots with the same content
	tooBig   bool
}

// snapshot holds the copies of one root's protected files, by path inside
// the root. A protected path missing from files had no file.
type snapshot struct {
	files map[string]*fileCopy
}

// inodes maps the inode of each protected regular file to its path, so
// that an open through another hard link of it is judged as protected.
func (s *snapshot) inodes() map[uint64]string {
	m := map[uint64]string{}
	for rel, fc := range s.files {
		if fc.mode&unix.S_IFMT == unix.S_IFREG {
			m[fc.ino] = rel
		}
	}
	return m
}

// blobs shares file contents between roots: containers of one image have
// the same loader and configuration.
var blobs = struct {
	sync.Mutex
	m map[[32]byte][]byte
}{m: map[[32]byte][]byte{}}

func shared(sum [32]byte, data []byte) []byte {
	blobs.Lock()
	defer blobs.Unlock()
	if b, ok := blobs.m[sum]; ok {
		return b
	}
	blobs.m[sum] = data
	return data
}

// openInRoot opens rel (a path inside the root at dir) with O_PATH,
// resolving every symlink inside that root: a link to /etc/shadow in a
// container is the container's, never the host's.
func openInRoot(dir, rel string) (int, error) {
	return openInRootFlags(dir, rel, unix.O_PATH|unix.O_CLOEXEC)
}

func openInRootFlags(dir, rel string, flags int) (int, error) {
	root, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open root %s: %w", dir, err)
	}
	defer func() { _ = unix.Close(root) }()
	rel = strings.TrimPrefix(rel, "/")
	if rel == "" {
		rel = "."
	}
	fd, err := unix.Openat2(root, rel, &unix.OpenHow{Flags: uint64(flags), Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return -1, fmt.Errorf("open %s in %s: %w", rel, dir, err)
	}
	return fd, nil
}

func splitRel(rel string) (string, string) { return path.Dir(rel), path.Base(rel) }

// takeSnapshot copies every file of the root at dir that the policy
// protects. It runs before the root is marked.
func takeSnapshot(dir string, p *Policy) (*snapshot, error) {
	s := &snapshot{files: map[string]*fileCopy{}}
	var rootReal string
	if fd, err := openInRoot(dir, "/"); err == nil {
		b, _ := fanotify.FdPath(int32(fd), nil)
		rootReal = string(b)
		_ = unix.Close(fd)
	}
	for _, d := range expandDirs(dir, p.Dirs()) {
		names, err := listDir(dir, d)
		if err != nil {
			continue // no such directory in this root
		}
		for _, n := range names {
			rel := path.Join(d, n)
			if _, ok := p.Match(rel); !ok {
				continue
			}
			real, fc, err := copyFile(dir, rel, rootReal)
			if err != nil {
				if errors.Is(err, unix.ENOENT) {
					continue
				}
				return nil, err
			}
			s.files[real] = fc
			if real != rel {
				s.files[rel] = fc
			}
		}
	}
	return s, nil
}

// expandDirs resolves the pattern segments of directories (/lib/*) against
// the root.
func expandDirs(dir string, dirs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range dirs {
		cur := []string{"/"}
		for _, seg := range strings.Split(strings.TrimPrefix(d, "/"), "/") {
			var next []string
			for _, c := range cur {
				if !strings.ContainsAny(seg, "*?[") {
					next = append(next, path.Join(c, seg))
					continue
				}
				names, err := listDir(dir, c)
				if err != nil {
					continue
				}
				for _, n := range names {
					if ok, _ := path.Match(seg, n); ok {
						next = append(next, path.Join(c, n))
					}
				}
			}
			cur = next
		}
		for _, c := range cur {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

func listDir(dir, rel string) ([]string, error) {
	fd, err := openInRootFlags(dir, rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	return f.Readdirnames(-1)
}

// copyFile reads one protected file; real is its path inside the root
// after symlinked directories (/lib -> usr/lib), as events show it.
func copyFile(dir, rel, rootReal string) (string, *fileCopy, error) {
	dname, name := splitRel(rel)
	dfd, err := openInRoot(dir, dname)
	if err != nil {
		return "", nil, err
	}
	defer func() { _ = unix.Close(dfd) }()
	real := rel
	if b, err := fanotify.FdPath(int32(dfd), nil); err == nil {
		d := string(b)
		if rootReal != "" && rootReal != "/" {
			d = strings.TrimPrefix(d, rootReal)
		}
		if strings.HasPrefix(d, "/") {
			real = path.Join(d, name)
		}
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return "", nil, err
	}
	fc := &fileCopy{mode: st.Mode, uid: st.Uid, gid: st.Gid, ino: st.Ino}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(dfd, name, buf)
		if err != nil {
			return "", nil, err
		}
		fc.link = string(buf[:n])
		fc.sum = sha256.Sum256(buf[:n])
	case unix.S_IFREG:
		if st.Size > maxCopy {
			fc.tooBig = true
			return real, fc, nil
		}
		fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOATIME, 0)
		if err != nil {
			return "", nil, err
		}
		f := os.NewFile(uintptr(fd), rel)
		data, err := io.ReadAll(io.LimitReader(f, maxCopy+1))
		_ = f.Close()
		if err != nil {
			return "", nil, err
		}
		fc.sum = sha256.Sum256(data)
		fc.data = shared(fc.sum, data)
	default:
		return "", nil, fmt.Errorf("%s: not a regular file or symlink", rel)
	}
	return real, fc, nil
}

// current describes what is at rel now: nil when nothing is.
func current(dir, rel string) (*fileCopy, error) {
	_, fc, err := copyFile(dir, rel, "")
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	return fc, err
}

// same reports whether two states of a path are the same file content.
func same(a, b *fileCopy) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.mode&unix.S_IFMT == b.mode&unix.S_IFMT && a.sum == b.sum && a.link == b.link && !a.tooBig && !b.tooBig
}

// restore puts the kept copy back at rel (or removes what is there when
// the path had no file): written beside it and renamed over it, so a
// reader sees the old or the new file, never half of one.
func restore(dir, rel string, want *fileCopy) error {
	dname, name := splitRel(rel)
	dfd, err := openInRootFlags(dir, dname, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return err
	}
	defer func() { _ = unix.Close(dfd) }()
	if want == nil {
		err := unix.Unlinkat(dfd, name, 0)
		if err == unix.EISDIR || err == unix.EPERM {
			err = unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR)
		}
		if err != nil && err != unix.ENOENT {
			return fmt.Errorf("remove %s: %w", rel, err)
		}
		return nil
	}
	if want.tooBig {
		return fmt.Errorf("%s: larger than %d bytes, no copy was kept", rel, maxCopy)
	}
	tmp := "." + name + ".truesight-restore-" + strconv.Itoa(os.Getpid())
	_ = unix.Unlinkat(dfd, tmp, 0)
	if want.link != "" {
		if err := unix.Symlinkat(want.link, dfd, tmp); err != nil {
			return fmt.Errorf("restore %s: %w", rel, err)
		}
	} else {
		fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, want.mode&0o7777)
		if err != nil {
			return fmt.Errorf("restore %s: %w", rel, err)
		}
		f := os.NewFile(uintptr(fd), tmp)
		_, err = io.Copy(f, bytes.NewReader(want.data))
		if err == nil {
			err = f.Chmod(os.FileMode(want.mode & 0o777))
		}
		if err == nil {
			err = f.Chown(int(want.uid), int(want.gid))
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = unix.Unlinkat(dfd, tmp, 0)
			return fmt.Errorf("restore %s: %w", rel, err)
		}
	}
	// A directory renamed onto the path must go first.
	var st unix.Stat_t
	if unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		_ = unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR)
	}
	if err := unix.Renameat(dfd, tmp, dfd, name); err != nil {
		_ = unix.Unlinkat(dfd, tmp, 0)
		return fmt.Errorf("restore %s: %w", rel, err)
	}
	return nil
}

// exeHash is the sha256 of the executable of thread tid.
func exeHash(procRoot string, tid int32) ([32]byte, error) {
	f, err := os.Open(procRoot + "/" + strconv.Itoa(int(tid)) + "/exe")
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return [32]byte{}, err
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, nil
}
