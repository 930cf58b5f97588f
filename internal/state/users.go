package state

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Account is one passwd or group entry.
type Account struct {
	Name, Home, Shell string
}

// Users resolves user and group ids the way the process itself would: in
// /etc/passwd and /etc/group of its own root (through /proc/<pid>/root), so
// a container's uid 101 is its own nginx, not the host's. Files are cached
// per root and re-read when they change, at most once per TTL.
type Users struct {
	mu    sync.Mutex
	roots map[string]*rootAccounts
	// ProcRoot is where /proc is mounted (tests and DaemonSets may change
	// it, e.g. /host/proc).
	ProcRoot string
	TTL      time.Duration
}

type rootAccounts struct {
	checked time.Time
	passwd  fileAccounts
	group   fileAccounts
}

type fileAccounts struct {
	mtime time.Time
	size  int64
	ids   map[uint32]Account
}

// NewUsers returns a resolver reading through /proc.
func NewUsers() *Users {
	return &Users{roots: map[string]*rootAccounts{}, ProcRoot: "/proc", TTL: 2 * time.Second}
}

// rootKey identifies a root filesystem: the mount namespace and the root
// directory's inode, not the namespace alone (chroots share namespaces).
func rootKey(p *Process) string {
	return fmt.Sprintf("%d:%d:%d", p.MntNS, p.RootDev, p.RootIno)
}

// Resolve fills in p's user, login user and group names.
func (u *Users) Resolve(p *Process) {
	ra := u.load(p)
	if ra == nil {
		return
	}
	if a, ok := ra.passwd.ids[p.UID]; ok {
		p.UserName, p.UserHome, p.UserShell = a.Name, a.Home, a.Shell
	} else {
		p.UserName, p.UserHome, p.UserShell = "", "", ""
	}
	p.LoginName = ""
	if p.LoginUID >= 0 {
		if a, ok := ra.passwd.ids[uint32(p.LoginUID)]; ok {
			p.LoginName = a.Name
		}
	}
	if a, ok := ra.group.ids[p.GID]; ok {
		p.GroupName = a.Name
	} else {
		p.GroupName = ""
	}
}

func (u *Users) load(p *Process) *rootAccounts {
	key := rootKey(p)
	u.mu.Lock()
	defer u.mu.Unlock()
	ra := u.roots[key]
	if ra != nil && time.Since(ra.checked) < u.TTL {
		return ra
	}
	if ra == nil {
		if len(u.roots) > 4096 {
			// Bound the cache: roots come and go with containers.
			u.roots = map[string]*rootAccounts{}
		}
		ra = &rootAccounts{}
		u.roots[key] = ra
	}
	root := fmt.Sprintf("%s/%d/root", u.ProcRoot, p.Pid)
	// Only a successful read starts the TTL: when this process has already
	// exited, the next process of the same root tries again.
	if refresh(&ra.passwd, root, "etc/passwd", true) {
		ra.checked = time.Now()
	}
	refresh(&ra.group, root, "etc/group", false)
	return ra
}

// maxAccountsFile bounds what we read of a passwd or group file.
const maxAccountsFile = 16 << 20

// refresh re-reads an accounts file of a root when it changed; it reports
// whether the file could be read (or was unchanged). The file is opened
// with RESOLVE_IN_ROOT, so a symlink planted in a container cannot make the
// agent read a file outside that container's root.
func refresh(fa *fileAccounts, root, name string, passwd bool) bool {
	f, err := openInRoot(root, name)
	if err != nil {
		return false // keep what we had: the process may have exited
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false
	}
	if fa.ids != nil && st.ModTime().Equal(fa.mtime) && st.Size() == fa.size {
		return true
	}
	data, err := io.ReadAll(io.LimitReader(f, maxAccountsFile+1))
	if err != nil || len(data) > maxAccountsFile {
		return false
	}
	fa.mtime, fa.size = st.ModTime(), st.Size()
	fa.ids = ParseAccounts(data, passwd)
	return true
}

// openInRoot opens name relative to root as if root were "/".
func openInRoot(root, name string) (*os.File, error) {
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer func() { _ = unix.Close(dir) }()
	fd, err := unix.Openat2(dir, name, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), root+"/"+name), nil
}

// ParseAccounts reads passwd (name:x:uid:gid:gecos:home:shell) or group
// (name:x:gid:members) lines; the first entry for an id wins, as getpwuid.
func ParseAccounts(data []byte, passwd bool) map[uint32]Account {
	ids := map[uint32]Account{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		f := bytes.Split(line, []byte{':'})
		if len(f) < 3 {
			continue
		}
		id, err := strconv.ParseUint(string(f[2]), 10, 32)
		if err != nil {
			continue
		}
		if _, dup := ids[uint32(id)]; dup {
			continue
		}
		a := Account{Name: string(f[0])}
		if passwd && len(f) >= 7 {
			a.Home, a.Shell = string(f[5]), string(f[6])
		}
		ids[uint32(id)] = a
	}
	return ids
}
