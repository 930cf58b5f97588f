package state

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestParseAccountsKeepsTheFirstEntryForAnID(t *testing.T) {
	got := ParseAccounts([]byte("# comment\nroot:x:0:0:root:/root:/bin/bash\nbad line\ntoor:x:0:0::/:/bin/sh\nwww:x:101:101:web:/var/www:/usr/sbin/nologin\n"), true)
	want := map[uint32]Account{0: {"root", "/root", "/bin/bash"}, 101: {"www", "/var/www", "/usr/sbin/nologin"}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for id, a := range want {
		if got[id] != a {
			t.Errorf("uid %d: got %+v, want %+v", id, got[id], a)
		}
	}
}

// Names resolve in the process's own root: a fake /proc whose pid 7 root
// has its own passwd, as a container does.
func TestUsersResolveInTheProcessRoot(t *testing.T) {
	proc := t.TempDir()
	etc := filepath.Join(proc, "7", "root", "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(etc, "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101::/var/cache/nginx:/sbin/nologin\n"), 0o644)
	os.WriteFile(filepath.Join(etc, "group"), []byte("nginx:x:101:\n"), 0o644)
	u := NewUsers()
	u.ProcRoot = proc
	p := &Process{Pid: 7, UID: 101, GID: 101, LoginUID: 0, MntNS: 1}
	u.Resolve(p)
	if p.UserName != "nginx" || p.GroupName != "nginx" || p.LoginName != "root" || p.UserHome != "/var/cache/nginx" {
		t.Errorf("got user %q group %q login %q home %q", p.UserName, p.GroupName, p.LoginName, p.UserHome)
	}
	// A process of the same root that has already exited must not poison
	// the cache for the next one.
	gone := &Process{Pid: 8, UID: 0, MntNS: 2}
	u.Resolve(gone)
	etc2 := filepath.Join(proc, strconv.Itoa(9), "root", "etc")
	os.MkdirAll(etc2, 0o755)
	os.WriteFile(filepath.Join(etc2, "passwd"), []byte("admin:x:0:0::/root:/bin/sh\n"), 0o644)
	next := &Process{Pid: 9, UID: 0, MntNS: 2}
	u.Resolve(next)
	if next.UserName != "admin" {
		t.Errorf("after an exited process of the same root: user %q, want admin", next.UserName)
	}
}

// A container's /etc/passwd that is an absolute symlink resolves inside the
// container's root, never to the host's file it names.
func TestUsersNeverFollowASymlinkOutOfTheRoot(t *testing.T) {
	proc := t.TempDir()
	root := filepath.Join(proc, "7", "root")
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.MkdirAll(filepath.Join(root, "host"), 0o755)
	os.WriteFile(filepath.Join(root, "host", "passwd"), []byte("inside:x:0:0::/:/bin/sh\n"), 0o644)
	// Absolute link: inside the root it means <root>/host/passwd.
	if err := os.Symlink("/host/passwd", filepath.Join(root, "etc", "passwd")); err != nil {
		t.Fatal(err)
	}
	u := NewUsers()
	u.ProcRoot = proc
	p := &Process{Pid: 7, UID: 0, MntNS: 3}
	u.Resolve(p)
	if p.UserName != "inside" {
		t.Errorf("user %q, want inside (the link resolved within the root)", p.UserName)
	}
}
