package fim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/truesightsec/truesight/internal/testenv"
)

func walkAll(t *testing.T, root string, opts WalkOptions) map[string]*Entry {
	t.Helper()
	out := map[string]*Entry{}
	err := Walk(context.Background(), root, opts, func(e *Entry) error {
		if out[e.Path] != nil {
			t.Errorf("%s reported twice", e.Path)
		}
		out[e.Path] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestWalkRecordsEveryAttributeAndNeverOpensFifosDevicesOrFollowsLinks(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Missing(t, "needs root to make a device node and set security.capability")
	}
	root := t.TempDir()
	content := []byte("root:x:0:0:root:/root:/bin/sh\n")
	must(t, os.MkdirAll(filepath.Join(root, "etc/cron.d"), 0o750))
	must(t, os.WriteFile(filepath.Join(root, "etc/passwd"), content, 0o644))
	must(t, os.WriteFile(filepath.Join(root, "suid"), []byte("x"), 0o755))
	// chown clears setuid and capabilities: it comes first.
	must(t, os.Chown(filepath.Join(root, "suid"), 12, 34))
	// A link out of the root, and one to a fifo: neither is followed.
	must(t, os.Symlink("/etc/shadow", filepath.Join(root, "out")))
	must(t, unix.Mkfifo(filepath.Join(root, "fifo"), 0o600))
	must(t, os.Symlink("fifo", filepath.Join(root, "tofifo")))
	must(t, unix.Mknod(filepath.Join(root, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	// security.capability of cap_net_raw+ep (VFS_CAP_REVISION_2).
	capv := []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}
	must(t, unix.Setxattr(filepath.Join(root, "suid"), "security.capability", capv, 0))
	must(t, unix.Chmod(filepath.Join(root, "suid"), 0o4755))
	must(t, unix.Lsetxattr(filepath.Join(root, "etc/passwd"), "user.fim", []byte("v"), 0))
	// A POSIX ACL (user 1000 may read): version 2, then tag, perm, id per entry.
	acl := []byte{2, 0, 0, 0,
		0x01, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, // user::rw-
		0x02, 0, 4, 0, 0xe8, 0x03, 0, 0, // user:1000:r--
		0x04, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, // group::r--
		0x10, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, // mask::r--
		0x20, 0, 4, 0, 0xff, 0xff, 0xff, 0xff} // other::r--
	aclErr := unix.Setxattr(filepath.Join(root, "etc/cron.d"), "system.posix_acl_access", acl, 0)

	got := walkAll(t, root, WalkOptions{Workers: 3})
	want := []string{"/", "/etc", "/etc/cron.d", "/etc/passwd", "/suid", "/out", "/fifo", "/tofifo", "/null"}
	if len(got) != len(want) {
		t.Errorf("walk found %d entries, want %d: %v", len(got), len(want), got)
	}
	for _, p := range want {
		if got[p] == nil {
			t.Fatalf("walk missed %s", p)
		}
	}
	var st unix.Stat_t
	must(t, unix.Lstat(filepath.Join(root, "etc/passwd"), &st))
	pw := got["/etc/passwd"]
	if pw.Type != TypeFile || pw.Mode != 0o644 || pw.Size != int64(len(content)) || pw.Digest != sha(content) ||
		pw.Inode != st.Ino || pw.Mtime != st.Mtim.Nano() || pw.Ctime != st.Ctim.Nano() || string(pw.Xattrs["user.fim"]) != "v" {
		t.Errorf("/etc/passwd = %+v", pw)
	}
	if s := got["/suid"]; s.Mode != 0o4755 || s.UID != 12 || s.GID != 34 || !bytes.Equal(s.Xattrs["security.capability"], capv) {
		t.Errorf("/suid = %+v", s)
	}
	d := got["/etc/cron.d"]
	if d.Type != TypeDir {
		t.Errorf("/etc/cron.d = %+v", d)
	}
	switch {
	case errors.Is(aclErr, unix.EOPNOTSUPP):
		t.Logf("the temporary directory's filesystem has no ACLs: %v", aclErr)
	case aclErr != nil:
		t.Fatal(aclErr)
	case !bytes.Equal(d.Xattrs["system.posix_acl_access"], acl):
		t.Errorf("/etc/cron.d ACL = %v, want %v", d.Xattrs["system.posix_acl_access"], acl)
	}
	if o := got["/out"]; o.Type != TypeSymlink || o.Link != "/etc/shadow" || o.Digest != "" {
		t.Errorf("/out = %+v (the link must be recorded, never followed)", o)
	}
	if f := got["/tofifo"]; f.Type != TypeSymlink || f.Link != "fifo" || f.Digest != "" {
		t.Errorf("/tofifo = %+v", f)
	}
	if f := got["/fifo"]; f.Type != TypeFifo || f.Digest != "" {
		t.Errorf("/fifo = %+v", f)
	}
	if n := got["/null"]; n.Type != TypeChar || n.Rdev != unix.Mkdev(1, 3) || n.Digest != "" {
		t.Errorf("/null = %+v", n)
	}
}

func TestWalkHashesOnlyTheDataOfASparseFile(t *testing.T) {
	root := t.TempDir()
	f, err := os.Create(filepath.Join(root, "sparse"))
	must(t, err)
	must(t, f.Truncate(10<<30))
	_, err = f.WriteAt([]byte("tail"), 10<<30-4)
	must(t, err)
	must(t, f.Close())
	got := walkAll(t, root, WalkOptions{})
	e := got["/sparse"]
	if e.Size != 10<<30 || len(e.Digest) != len("sha256-extents:")+64 || e.Digest[:15] != "sha256-extents:" {
		t.Fatalf("/sparse = %+v, want a 10 GiB file with an extents digest", e)
	}
	// The digest changes with the data it covers.
	must(t, os.WriteFile(filepath.Join(root, "sparse2"), nil, 0o644))
	f, err = os.OpenFile(filepath.Join(root, "sparse"), os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteAt([]byte("TAIL"), 10<<30-4)
	must(t, err)
	must(t, f.Close())
	if again := walkAll(t, root, WalkOptions{})["/sparse"]; again.Digest == e.Digest {
		t.Errorf("digest did not change with the data: %s", again.Digest)
	}
}

func TestWalkRecordsAFileAboveMaxHashBytesWithoutADigest(t *testing.T) {
	root := t.TempDir()
	must(t, os.WriteFile(filepath.Join(root, "big"), bytes.Repeat([]byte("x"), 4096), 0o644))
	e := walkAll(t, root, WalkOptions{MaxHashBytes: 1000})["/big"]
	if e.Digest != "" || e.Note != "not hashed: too large: 4096 bytes (max 1000)" {
		t.Errorf("/big = %+v", e)
	}
}

func TestWalkOfAFileThatGrowsWhileHashedKeepsADigestOfWhatItRecords(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "log")
	must(t, os.WriteFile(p, bytes.Repeat([]byte("a"), 32<<20), 0o644))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return
		}
		defer func() { _ = f.Close() }()
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = f.Write(bytes.Repeat([]byte("b"), 4096))
			}
		}
	}()
	e := walkAll(t, root, WalkOptions{})["/log"]
	close(stop)
	<-done
	if e.Digest == "" {
		t.Fatalf("/log has no digest: %+v", e)
	}
	if e.Note == "" {
		data, err := os.ReadFile(p)
		must(t, err)
		if int64(len(data)) < e.Size || sha(data[:e.Size]) != e.Digest {
			t.Errorf("/log: digest %s is not that of its first %d bytes", e.Digest, e.Size)
		}
	} else if e.Note != "changed while hashed" {
		t.Errorf("/log note %q", e.Note)
	}
}

func TestWalkRecordsAMountPointButNotTheFilesystemMountedThere(t *testing.T) {
	// /dev/shm is a tmpfs mounted on devtmpfs: a walk of /dev records the
	// directory and leaves its files alone.
	var dev, shm unix.Stat_t
	if unix.Stat("/dev", &dev) != nil || unix.Stat("/dev/shm", &shm) != nil || dev.Dev == shm.Dev {
		testenv.Missing(t, "/dev/shm is not a mount of its own here")
	}
	f, err := os.CreateTemp("/dev/shm", "ts-fim-")
	must(t, err)
	must(t, f.Close())
	t.Cleanup(func() { _ = os.Remove(f.Name()) })
	got := walkAll(t, "/dev", WalkOptions{})
	if got["/shm"] == nil || got["/shm"].Type != TypeDir {
		t.Fatalf("/dev/shm not recorded: %v", got["/shm"])
	}
	if e := got["/shm/"+filepath.Base(f.Name())]; e != nil {
		t.Errorf("walk crossed into /dev/shm: %+v", e)
	}
}

func TestCompareIgnoresWhatACopyUpChangesAndNamesWhatDiffers(t *testing.T) {
	base := Entry{Path: "/bin/x", Type: TypeFile, Mode: 0o755, Size: 3, Mtime: 10, Ctime: 10, Inode: 1, Digest: "sha256:aa"}
	tests := []struct {
		name      string
		change    func(e *Entry)
		sameInode bool
		kind      Kind
		attrs     []string
	}{
		{"copied up unchanged", func(e *Entry) { e.Inode, e.Ctime = 99, 20 }, false, "", nil},
		{"setuid", func(e *Entry) { e.Mode = 0o4755; e.Ctime = 20 }, false, Metadata, []string{"mode"}},
		{"content", func(e *Entry) { e.Digest, e.Mtime = "sha256:bb", 11 }, false, Modified, []string{"digest", "mtime"}},
		{"grew", func(e *Entry) { e.Size, e.Digest = 4, "sha256:cc" }, false, Modified, []string{"size", "digest"}},
		{"owner", func(e *Entry) { e.UID, e.GID = 1, 2 }, false, Metadata, []string{"uid", "gid"}},
		{"capability", func(e *Entry) { e.Xattrs = map[string][]byte{"security.capability": {1}} }, false, Metadata, []string{"xattrs"}},
		{"overlay's own xattr", func(e *Entry) { e.Xattrs = map[string][]byte{"trusted.overlay.origin": {1}} }, false, "", nil},
		{"replaced on a host tree", func(e *Entry) { e.Inode = 2 }, true, Metadata, []string{"inode"}},
		{"now a symlink", func(e *Entry) { e.Type, e.Link, e.Digest = TypeSymlink, "/tmp/x", "" }, false, Modified, []string{"type", "link"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := base
			tt.change(&now)
			kind, attrs := Compare(&base, &now, tt.sameInode)
			if kind != tt.kind || !slicesEqual(attrs, tt.attrs) {
				t.Errorf("Compare = %q %v, want %q %v", kind, attrs, tt.kind, tt.attrs)
			}
		})
	}
	dir := Entry{Path: "/etc", Type: TypeDir, Mode: 0o755, Mtime: 1}
	later := dir
	later.Mtime = 2
	if kind, _ := Compare(&dir, &later, true); kind != "" {
		t.Errorf("a directory's mtime alone is a change: %q", kind)
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
