package harness

import (
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/state"
)

// T0 is the instant every synthetic event happens at.
var T0 = time.Date(2025, time.March, 14, 9, 26, 53, 589793238, time.UTC)

// Hostname is the host every synthetic event is reported from.
const Hostname = "worker-1"

// Ago returns the instant d before T0 in nanoseconds since the epoch.
func Ago(d time.Duration) int64 { return T0.Add(-d).UnixNano() }

// PTS returns the controlling-terminal number of /dev/pts/n as the kernel
// reports it (major 136), which is what proc.tty prints: PTS(0) is 34816.
func PTS(n uint32) uint32 { return 136<<8 | n&0xff | (n&^0xff)<<12 }

// commLen is the kernel's limit on a task's comm, without its NUL.
const commLen = 15

// nextPid hands out host pids; tests may build trees in parallel.
var nextPid atomic.Int64

func init() { nextPid.Store(4000) }

// Container is a running container that synthetic processes can live in.
type Container struct {
	Info     *container.Info
	nextVPid atomic.Int64
}

// NewContainer describes a docker container started six hours before T0
// from image ("repository[:tag]"), split into repository and tag as the
// runtime reports them. fullID is the 64-hex-digit id.
func NewContainer(fullID, name, image string) *Container {
	repo, tag := image, "latest"
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		repo, tag = image[:i], image[i+1:]
	}
	c := &Container{Info: &container.Info{
		ID:              container.ShortID(fullID),
		FullID:          fullID,
		Type:            "docker",
		Name:            name,
		Image:           image,
		ImageRepository: repo,
		ImageTag:        tag,
		StartTs:         Ago(6 * time.Hour),
	}}
	return c
}

// Privileged marks the container as started with --privileged: its
// processes get every capability unless told otherwise.
func (c *Container) Privileged() *Container {
	c.Info.Privileged = true
	return c
}

// StartedAt sets the container's start time (nanoseconds since the epoch).
func (c *Container) StartedAt(ns int64) *Container {
	c.Info.StartTs = ns
	return c
}

// Pod places the container in a Kubernetes pod.
func (c *Container) Pod(namespace, name string) *Container {
	c.Info.PodNamespace, c.Info.PodName = namespace, name
	return c
}

// P builds one process. Each method sets an attribute and returns the
// builder, so a process tree reads as a chain: the root from Proc, each
// descendant from Child (fork and exec) or Fork (fork only).
//
// Unless set explicitly, derived attributes follow what the kernel does:
// capabilities are the full set for root on the host, docker's default set
// (or the full set when privileged) for root in a container, and none for
// other users; the executable is writable by root and by the process that
// dropped it, and comes from the image's lower layer in a container.
type P struct {
	p   *state.Process
	ctr *Container

	caps     uint64
	capsSet  bool
	writable *bool
}

// Proc returns a host process with no known parent (the root of a tree,
// such as systemd) that executed argv, running as root since three days.
func Proc(argv ...string) *P {
	b := &P{p: &state.Process{LoginUID: -1, Cwd: "/", Root: "/"}}
	pid := nextPid.Add(1)
	b.p.Pid, b.p.Tid, b.p.VPid, b.p.VTid = pid, pid, pid, pid
	b.p.Sid, b.p.VPgid = pid, pid
	b.p.UserName, b.p.GroupName = "root", "root"
	b.p.StartTime = Ago(72 * time.Hour)
	b.exec(argv)
	return b
}

// Child returns a process that p forked and that then executed argv. It
// inherits p's user, login user, terminal, working directory, session,
// capabilities and container, and started a millisecond before T0.
func (b *P) Child(argv ...string) *P {
	c := b.Fork()
	c.exec(argv)
	return c
}

// Fork returns a child that p forked without executing anything else: a
// copy of p (same executable and arguments), as a worker process is.
func (b *P) Fork() *P {
	parent := b.Process()
	q := &state.Process{
		Parent: parent, PPid: parent.Pid,
		Comm: parent.Comm, Exe: parent.Exe, ExePath: parent.ExePath,
		Env: parent.Env, Cwd: parent.Cwd,
		UID: parent.UID, GID: parent.GID, EUID: parent.EUID, EGID: parent.EGID,
		LoginUID: parent.LoginUID, UserName: parent.UserName, LoginName: parent.LoginName,
		GroupName: parent.GroupName, UserHome: parent.UserHome, UserShell: parent.UserShell,
		TTY: parent.TTY, Sid: parent.Sid,
		ExeFromMemfd: parent.ExeFromMemfd, ExeUpperLayer: parent.ExeUpperLayer,
		ExeLowerLayer: parent.ExeLowerLayer, ExeWritable: parent.ExeWritable,
		ExeIno: parent.ExeIno, ExeCtime: parent.ExeCtime, ExeMtime: parent.ExeMtime,
		Cgroup: parent.Cgroup, ContainerID: parent.ContainerID, Root: parent.Root,
		StartTime: Ago(time.Millisecond),
	}
	q.SetArgs(parent.Exe, parent.Args)
	q.SetComm(parent.Comm)
	if i := parent.Container.Load(); i != nil {
		q.Container.Store(i)
	}
	pid := nextPid.Add(1)
	q.Pid, q.Tid, q.VPid, q.VTid = pid, pid, pid, pid
	if b.ctr != nil {
		q.VPid = b.ctr.nextVPid.Add(1)
		q.VTid = q.VPid
	}
	q.VPgid = q.VPid
	return &P{p: q, ctr: b.ctr, caps: b.caps, capsSet: b.capsSet, writable: b.writable}
}

// exec replaces the program: argv[0] becomes proc.exe, its base name
// (without a login shell's leading '-', cut to 15 bytes) proc.name, and the
// executable path is argv[0] resolved against the working directory, or
// /usr/bin/<name> for a bare name found on PATH.
func (b *P) exec(argv []string) {
	if len(argv) == 0 {
		panic("harness: a process needs at least argv[0]")
	}
	p := b.p
	name := strings.TrimPrefix(path.Base(argv[0]), "-")
	switch {
	case strings.HasPrefix(argv[0], "/"):
		p.ExePath = path.Clean(argv[0])
	case strings.Contains(argv[0], "/"):
		p.ExePath = path.Join(p.Cwd, argv[0])
	default:
		p.ExePath = "/usr/bin/" + name
	}
	if len(name) > commLen {
		name = name[:commLen]
	}
	p.SetArgs(argv[0], append([]string(nil), argv[1:]...))
	p.SetComm(name)
	p.ExeUpperLayer, p.ExeLowerLayer, p.ExeFromMemfd = false, false, false
	p.ExeIno, p.ExeCtime, p.ExeMtime = 0, 0, 0
	b.writable = nil
}

// Comm overrides proc.name, e.g. for a program whose file name differs
// from argv[0] ("runc:[2:INIT]") or whose name was never learned ("<NA>").
func (b *P) Comm(name string) *P {
	b.p.SetComm(name)
	return b
}

// ExePath sets the resolved executable (proc.exepath), e.g. the target of
// an alternatives symlink: nc -> /usr/bin/nc.traditional.
func (b *P) ExePath(p string) *P {
	b.p.ExePath = p
	return b
}

// Cwd sets the working directory. Falco keeps it with a trailing slash
// ("/root/"), and so should callers.
func (b *P) Cwd(dir string) *P {
	b.p.Cwd = dir
	return b
}

// User sets the real and effective user, with a primary group of the same
// id and name (user private groups) unless Group follows.
func (b *P) User(uid uint32, name string) *P {
	b.p.UID, b.p.EUID, b.p.UserName = uid, uid, name
	b.p.GID, b.p.EGID, b.p.GroupName = uid, uid, name
	return b
}

// Group sets the primary group.
func (b *P) Group(gid uint32, name string) *P {
	b.p.GID, b.p.EGID, b.p.GroupName = gid, gid, name
	return b
}

// Login sets the audit login user (user.loginuid, user.loginname), which
// pam_loginuid sets at login and which survives su and sudo.
func (b *P) Login(uid int64, name string) *P {
	b.p.LoginUID, b.p.LoginName = uid, name
	return b
}

// TTY sets the controlling terminal (see PTS).
func (b *P) TTY(tty uint32) *P {
	b.p.TTY = tty
	return b
}

// Session makes the process the leader of a new session (setsid), as a
// login shell is.
func (b *P) Session() *P {
	b.p.Sid = b.p.VPid
	return b
}

// In moves the process into container c as the first process of a new
// session there (a container's init, or the process of "docker exec").
func (b *P) In(c *Container) *P {
	b.ctr = c
	b.p.ContainerID = c.Info.FullID
	b.p.Container.Store(c.Info)
	b.p.Root = "/var/lib/docker/overlay2/" + c.Info.FullID[:16] + "/merged"
	b.p.Cgroup = "/system.slice/docker-" + c.Info.FullID + ".scope"
	b.p.VPid = c.nextVPid.Add(1)
	b.p.VTid, b.p.VPgid, b.p.Sid = b.p.VPid, b.p.VPid, b.p.VPid
	return b
}

// Caps sets the effective (and permitted) capabilities by name, e.g.
// "CAP_SYS_ADMIN".
func (b *P) Caps(names ...string) *P {
	b.caps, b.capsSet = capSet(names), true
	return b
}

// Started sets when the process was forked (nanoseconds since the epoch).
func (b *P) Started(ns int64) *P {
	b.p.StartTime = ns
	return b
}

// UpperLayer marks the executable as written after the container started
// (an overlayfs upper-layer file) with the given inode change and
// modification times.
func (b *P) UpperLayer(ctime, mtime int64) *P {
	b.p.ExeUpperLayer, b.p.ExeLowerLayer = true, false
	b.p.ExeIno, b.p.ExeCtime, b.p.ExeMtime = 2363017, ctime, mtime
	return b
}

// FromMemfd marks the executable as a memfd (fileless execution).
func (b *P) FromMemfd() *P {
	b.p.ExeFromMemfd, b.p.ExeLowerLayer, b.p.ExeUpperLayer = true, false, false
	return b
}

// Writable says whether the process's user can write its executable.
func (b *P) Writable(w bool) *P {
	b.writable = &w
	return b
}

// Process returns the built process, with derived attributes filled in.
// Later builder calls keep changing the same process.
func (b *P) Process() *state.Process {
	p := b.p
	switch {
	case b.capsSet:
		p.CapEffective = b.caps
	case p.UID != 0:
		p.CapEffective = 0
	case b.ctr != nil && !b.ctr.Info.Privileged:
		p.CapEffective = capSet(dockerDefaultCaps)
	default:
		p.CapEffective = allCaps
	}
	p.CapPermitted = p.CapEffective
	if b.writable != nil {
		p.ExeWritable = *b.writable
	} else {
		p.ExeWritable = p.UID == 0 || p.ExeUpperLayer || p.ExeFromMemfd
	}
	p.ExeLowerLayer = b.ctr != nil && !p.ExeUpperLayer && !p.ExeFromMemfd
	return p
}
