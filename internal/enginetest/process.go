package enginetest

import (
	"fmt"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/truesightsec/truesight/internal/agent"
	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/sensor"
	"github.com/truesightsec/truesight/internal/state"
)

// T0 is the instant every record happens at.
var T0 = time.Date(2025, time.March, 14, 9, 26, 53, 589793238, time.UTC)

// Hostname is the host every event is reported from.
const Hostname = "worker-1"

// Ago returns the instant d before T0 in nanoseconds since the epoch.
func Ago(d time.Duration) int64 { return T0.Add(-d).UnixNano() }

// PTS returns the controlling-terminal number of /dev/pts/n as the kernel
// reports it (major 136), which is what proc.tty prints: PTS(0) is 34816.
func PTS(n uint32) uint32 { return 136<<8 | n&0xff | (n&^0xff)<<12 }

// The host's namespace inodes, as the sensor reports them.
const (
	hostMntNS = 4026531841
	hostPidNS = 4026531836
	hostNetNS = 4026531840
)

// commLen is the kernel's limit on a task's comm, without its NUL.
const commLen = 15

// noLoginUID is the kernel's loginuid of a task no login session started.
const noLoginUID = 0xffffffff

// Host pids and namespace inodes; tests may build trees in parallel.
var nextPid, nextNS atomic.Uint32

func init() {
	nextPid.Store(4000)
	nextNS.Store(4026532400)
}

// Container is a running container that processes can live in.
type Container struct {
	Info                *container.Info
	mntNS, pidNS, netNS uint32
	nextVPid            atomic.Uint32
}

// NewContainer describes a docker container started six hours before T0
// from image ("repository[:tag]"), split into repository and tag as the
// runtime reports them. fullID is the 64-hex-digit id. Its processes get
// namespaces of their own and a docker cgroup naming the id, from which
// the state finds the container; the metadata reaches fields through the
// event's container lookup, as the agent's registry serves it.
func NewContainer(fullID, name, image string) *Container {
	repo, tag := image, "latest"
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		repo, tag = image[:i], image[i+1:]
	}
	return &Container{
		Info: &container.Info{
			ID:              container.ShortID(fullID),
			FullID:          fullID,
			Type:            "docker",
			Name:            name,
			Image:           image,
			ImageRepository: repo,
			ImageTag:        tag,
			StartTs:         Ago(6 * time.Hour),
		},
		mntNS: nextNS.Add(1), pidNS: nextNS.Add(1), netNS: nextNS.Add(1),
	}
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

// cgroup is the cgroup docker puts the container's processes in.
func (c *Container) cgroup() string { return "/system.slice/docker-" + c.Info.FullID + ".scope" }

// world is one process tree and the translator its records go through.
type world struct {
	tr         *agent.Translator
	roots      map[string]*accounts // by container full id; "" is the host
	containers map[string]*container.Info
}

// accounts stand for the passwd and group files of one root filesystem.
type accounts struct {
	users, groups map[uint32]string
}

func newWorld() *world {
	w := &world{roots: map[string]*accounts{}, containers: map[string]*container.Info{}}
	w.tr = agent.NewTranslator(state.NewTable(0), nil, hostMntNS)
	// No process of the tree is the agent's own (0 marks none).
	w.tr.SelfPid = 0
	w.tr.Machine.Resolve = w.resolve
	return w
}

func (w *world) root(containerID string) *accounts {
	a := w.roots[containerID]
	if a == nil {
		a = &accounts{users: map[uint32]string{0: "root"}, groups: map[uint32]string{0: "root"}}
		w.roots[containerID] = a
	}
	return a
}

// resolve names a process's user, login user and group from the accounts
// of its own root, as state.Users does from the process's /etc/passwd and
// /etc/group (which synthetic processes do not have).
func (w *world) resolve(p *state.Process) {
	a := w.root(p.ContainerID)
	p.UserName, p.GroupName = a.users[p.UID], a.groups[p.GID]
	p.UserHome, p.UserShell = "", ""
	p.LoginName = ""
	if p.LoginUID >= 0 {
		p.LoginName = a.users[uint32(p.LoginUID)]
	}
}

// lookup is the container metadata lookup of the tree's events.
func (w *world) lookup(fullID string) *container.Info { return w.containers[fullID] }

// ctx wraps what the translator returned for the engine.
func (w *world) ctx(r *sensor.Record) *fields.Ctx {
	e, p := w.tr.Apply(r)
	if e == nil {
		panic(fmt.Sprintf("enginetest: the translator made no event of a %s record", r.Kind))
	}
	return &fields.Ctx{Evt: e, Proc: p, Hostname: Hostname, Containers: w.lookup}
}

type nodeKind uint8

const (
	kindRoot nodeKind = iota // running before the agent started, or first seen at its exec
	kindFork                 // forked, still running its parent's program
	kindExec                 // forked, then executed a program
)

// P builds one process. Each method sets an attribute and returns the
// builder, so a process tree reads as a chain: the root from Proc, each
// descendant from Child (fork and exec) or Fork (fork only).
//
// Nothing reaches the translator until the first event of the process or
// of a descendant (or Process): then the records of every ancestor not yet
// started, and the process's own, are applied in order. Attributes must be
// set before that. A Child's attributes are what its exec record reports
// (the credentials, terminal and working directory a runtime or login
// program set up before exec); a Fork's changes become the syscalls that
// make them (setsid, setresgid and setresuid, chdir).
//
// Unless set explicitly, derived attributes follow what the kernel does:
// capabilities are the full set for root on the host, docker's default set
// (or the full set when privileged) for root in a container, and none for
// other users; the executable is writable by root only, and comes from the
// image's lower layer in a container.
type P struct {
	w      *world
	parent *P
	kind   nodeKind
	argv   []string
	pid    uint32

	// Settings over what the process inherits.
	comm     *string
	exePath  string
	cwd      string
	user     *account
	group    *account
	login    *account
	tty      *uint32
	session  bool
	ctr      *Container
	caps     []string
	capsSet  bool
	startNS  int64
	upper    bool
	ctime    int64
	mtime    int64
	memfd    bool
	writable *bool

	applied bool // its records went through the translator
	img     image
	// fds are the descriptor numbers the kernel has given the process
	// (true: close-on-exec), whether or not the state learns of them.
	fds map[int64]bool
}

type account struct {
	id   uint32
	name string
}

// image is the process as the kernel would describe it.
type image struct {
	argv               []string
	comm, exePath, cwd string
	uid, gid, loginUID uint32
	tty                uint32
	caps               uint64
	ctr                *Container
	vpid, vsid         uint32
	start              int64
	upper, memfd       bool
	exeIno             uint64
	exeCtime, exeMtime int64
	exeMode            uint32
	ppid               uint32
}

// Proc returns a host process with no known parent (the root of a tree,
// such as systemd) that executed argv, running as root since three days.
// It was running when the agent started: the kernel's task snapshot
// describes it, unless Exec asks for its exec, which is then the first the
// agent sees of it.
func Proc(argv ...string) *P {
	checkArgv(argv)
	return &P{w: newWorld(), kind: kindRoot, argv: argv, pid: nextPid.Add(1)}
}

func checkArgv(argv []string) {
	if len(argv) == 0 {
		panic("enginetest: a process needs at least argv[0]")
	}
}

// Child returns a process that b forked and that then executed argv. It
// inherits b's user, login user, terminal, working directory, session,
// capabilities and container, and started a millisecond before T0.
func (b *P) Child(argv ...string) *P {
	checkArgv(argv)
	return &P{w: b.w, parent: b, kind: kindExec, argv: argv, pid: nextPid.Add(1)}
}

// Fork returns a child that b forked without executing anything else: a
// copy of b (same executable and arguments), as a worker process is.
func (b *P) Fork() *P {
	return &P{w: b.w, parent: b, kind: kindFork, pid: nextPid.Add(1)}
}

func (b *P) set(what string) {
	if b.applied {
		panic("enginetest: " + what + " on a process whose records were already applied: set attributes before its first event")
	}
}

// execOnly refuses attributes only an exec reports.
func (b *P) execOnly(what string) {
	b.set(what)
	if b.kind == kindFork {
		panic("enginetest: " + what + " on a forked process: only an exec record reports it; use Child")
	}
}

// Comm overrides proc.name, e.g. for a program whose file name differs
// from argv[0] ("runc:[2:INIT]") or whose name was never learned ("<NA>").
func (b *P) Comm(name string) *P {
	b.execOnly("Comm")
	b.comm = &name
	return b
}

// ExePath sets the resolved executable (proc.exepath), e.g. the target of
// an alternatives symlink: nc -> /usr/bin/nc.traditional.
func (b *P) ExePath(p string) *P {
	b.execOnly("ExePath")
	b.exePath = p
	return b
}

// Cwd sets the working directory. Falco keeps it with a trailing slash
// ("/root/"), and so should callers. On a Fork it is a chdir.
func (b *P) Cwd(dir string) *P {
	b.set("Cwd")
	b.cwd = dir
	return b
}

// User sets the real and effective user, with a primary group of the same
// id and name (user private groups) unless Group follows; the names are
// the accounts of the process's root. On a Fork it is setresgid and
// setresuid.
func (b *P) User(uid uint32, name string) *P {
	b.set("User")
	b.user = &account{uid, name}
	return b
}

// Group sets the primary group.
func (b *P) Group(gid uint32, name string) *P {
	b.set("Group")
	b.group = &account{gid, name}
	return b
}

// Login sets the audit login user (user.loginuid, user.loginname), which
// pam_loginuid sets at login and which survives su and sudo. No syscall
// event reports it: the state learns it from the next exec record.
func (b *P) Login(uid int64, name string) *P {
	b.set("Login")
	b.login = &account{uint32(uid), name}
	return b
}

// TTY sets the controlling terminal (see PTS).
func (b *P) TTY(tty uint32) *P {
	b.execOnly("TTY")
	b.tty = &tty
	return b
}

// Session makes the process the leader of a new session (setsid), as a
// login shell is.
func (b *P) Session() *P {
	b.set("Session")
	b.session = true
	return b
}

// In moves the process into container c as the first process of a new
// session there (a container's init, or the process of "docker exec"): it
// is forked into the container's namespaces and cgroup.
func (b *P) In(c *Container) *P {
	b.set("In")
	b.ctr = c
	return b
}

// Caps sets the effective (and permitted) capabilities by name, e.g.
// "CAP_SYS_ADMIN".
func (b *P) Caps(names ...string) *P {
	b.execOnly("Caps")
	b.caps, b.capsSet = names, true
	return b
}

// Started sets when the process was forked (nanoseconds since the epoch).
func (b *P) Started(ns int64) *P {
	b.set("Started")
	b.startNS = ns
	return b
}

// UpperLayer marks the executable as written after the container started
// (an overlayfs upper-layer file) with the given inode change and
// modification times.
func (b *P) UpperLayer(ctime, mtime int64) *P {
	b.execOnly("UpperLayer")
	b.upper, b.memfd, b.ctime, b.mtime = true, false, ctime, mtime
	return b
}

// FromMemfd marks the executable as a memfd (fileless execution).
func (b *P) FromMemfd() *P {
	b.execOnly("FromMemfd")
	b.memfd, b.upper = true, false
	return b
}

// Writable says whether the process's user can write its executable: its
// mode becomes 0777 or 0555 rather than 0755, and the translator decides
// EXE_WRITABLE from the mode and the user as it does for the kernel's.
func (b *P) Writable(w bool) *P {
	b.execOnly("Writable")
	b.writable = &w
	return b
}

// Process returns the process as the state has it, applying the records
// of the process and its ancestors first.
func (b *P) Process() *state.Process {
	b.start()
	return b.w.tr.Table.Get(int64(b.pid))
}

// start applies the records that make the process, once.
func (b *P) start() {
	if b.applied {
		return
	}
	if b.parent != nil {
		b.parent.start()
	}
	b.resolve()
	switch b.kind {
	case kindRoot:
		b.w.tr.Seed([]sensor.ProcessInfo{b.info()})
	case kindFork:
		b.fork()
		b.afterFork()
	case kindExec:
		b.fork()
		b.w.ctx(b.execRecord())
	}
}

// resolve works out the process's image from its parent's and its own
// settings, and registers the account names it was given.
func (b *P) resolve() {
	b.applied = true
	var im image
	b.fds = map[int64]bool{}
	if b.parent == nil {
		im = image{cwd: "/", loginUID: noLoginUID, start: Ago(72 * time.Hour), exeMode: 0o100755}
	} else {
		im = b.parent.img
		im.ppid = b.parent.pid
		im.start = Ago(time.Millisecond)
		for fd, cloexec := range b.parent.fds {
			b.fds[fd] = cloexec
		}
	}
	if b.startNS != 0 {
		im.start = b.startNS
	}
	if b.ctr != nil {
		im.ctr = b.ctr
		b.w.containers[b.ctr.Info.FullID] = b.ctr.Info
	}
	im.vpid = b.pid
	if im.ctr != nil {
		im.vpid = im.ctr.nextVPid.Add(1)
	}
	if b.parent == nil || b.session || b.ctr != nil {
		im.vsid = im.vpid
	}
	if b.cwd != "" {
		im.cwd = b.cwd
	}
	acc := b.w.root(ctrID(im.ctr))
	if b.user != nil {
		im.uid, im.gid = b.user.id, b.user.id
		acc.users[b.user.id] = b.user.name
		acc.groups[b.user.id] = b.user.name
	}
	if b.group != nil {
		im.gid = b.group.id
		acc.groups[b.group.id] = b.group.name
	}
	if b.login != nil {
		im.loginUID = b.login.id
		acc.users[b.login.id] = b.login.name
	}
	if b.kind != kindFork {
		b.exec(&im)
	}
	b.img = im
}

func ctrID(c *Container) string {
	if c == nil {
		return ""
	}
	return c.Info.FullID
}

// exec replaces the program: argv[0] becomes proc.exe, its base name
// (without a login shell's leading '-', cut to 15 bytes as the kernel
// cuts comm) proc.name, and the executable path is argv[0] resolved
// against the working directory, or /usr/bin/<name> for a bare name found
// on PATH.
func (b *P) exec(im *image) {
	im.argv = b.argv
	name := strings.TrimPrefix(path.Base(b.argv[0]), "-")
	switch {
	case strings.HasPrefix(b.argv[0], "/"):
		im.exePath = path.Clean(b.argv[0])
	case strings.Contains(b.argv[0], "/"):
		im.exePath = path.Join(im.cwd, b.argv[0])
	default:
		im.exePath = "/usr/bin/" + name
	}
	if b.exePath != "" {
		im.exePath = b.exePath
	}
	im.comm = name
	if b.comm != nil {
		im.comm = *b.comm
	}
	if len(im.comm) > commLen {
		im.comm = im.comm[:commLen]
	}
	im.upper, im.memfd = b.upper, b.memfd
	im.exeIno, im.exeCtime, im.exeMtime = 0, 0, 0
	if b.upper {
		im.exeIno, im.exeCtime, im.exeMtime = 2363017, b.ctime, b.mtime
	}
	im.exeMode = 0o100755
	if b.writable != nil {
		im.exeMode = 0o100555
		if *b.writable {
			im.exeMode = 0o100777
		}
	}
	if tty := b.tty; tty != nil {
		im.tty = *tty
	}
	switch {
	case b.capsSet:
		im.caps = capSet(b.caps)
	case im.uid != 0:
		im.caps = 0
	case im.ctr != nil && !im.ctr.Info.Privileged:
		im.caps = capSet(dockerDefaultCaps)
	default:
		im.caps = allCaps
	}
	for fd, cloexec := range b.fds {
		if cloexec {
			delete(b.fds, fd)
		}
	}
}

// info is the image as the sensor's ProcessInfo describes it.
func (b *P) info() sensor.ProcessInfo {
	return b.img.info(b.pid)
}

func (im *image) info(pid uint32) sensor.ProcessInfo {
	mnt, pidns, net := uint32(hostMntNS), uint32(hostPidNS), uint32(hostNetNS)
	cgroup := "/system.slice"
	if c := im.ctr; c != nil {
		mnt, pidns, net, cgroup = c.mntNS, c.pidNS, c.netNS, c.cgroup()
	}
	info := sensor.ProcessInfo{
		Tid: pid, Tgid: pid, PPid: im.ppid,
		VTid: im.vpid, VPid: im.vpid, VPgid: im.vpid, VSid: im.vsid, Pgid: pid,
		UID: im.uid, GID: im.gid, EUID: im.uid, EGID: im.gid, SUID: im.uid, SGID: im.gid, FSUID: im.uid, FSGID: im.gid,
		LoginUID: im.loginUID, TTY: im.tty,
		CapEffective: im.caps, CapPermitted: im.caps,
		StartTime: im.start,
		NS:        sensor.Namespaces{Mnt: mnt, Pid: pidns, Net: net},
		Comm:      im.comm,
		Args:      im.argv,
		Exe: sensor.File{Valid: true, Path: im.exePath, MntNS: mnt, Mode: im.exeMode, Ino: im.exeIno,
			Ctime: im.exeCtime, Mtime: im.exeMtime},
		Cwd:    sensor.File{Valid: true, Path: kernelPath(im.cwd), MntNS: mnt, Mode: 0o40755},
		Root:   sensor.File{Valid: true, Path: "/", MntNS: mnt, Mode: 0o40755},
		Cgroup: cgroup,
	}
	switch {
	case im.memfd:
		info.Exe.Flags = sensor.FileMemfd
	case im.upper:
		info.Exe.Flags = sensor.FileOverlay | sensor.FileUpper
	case im.ctr != nil:
		info.Exe.Flags = sensor.FileOverlay
	}
	return info
}

// kernelPath is a directory as the kernel's path walk gives it: without
// Falco's trailing slash.
func kernelPath(dir string) string {
	if len(dir) > 1 {
		return strings.TrimSuffix(dir, "/")
	}
	return dir
}

// fork applies the kernel's sched_process_fork record of the process: a
// copy of its parent, with its own ids, forked into its container's
// namespaces and cgroup when In moved it there.
func (b *P) fork() {
	im := b.parent.img
	im.ppid, im.vpid, im.vsid, im.start, im.ctr = b.parent.pid, b.img.vpid, b.parent.img.vsid, b.img.start, b.img.ctr
	r := &sensor.Record{Kind: sensor.KindFork, Time: T0.UnixNano(), Tid: b.pid, Tgid: b.pid}
	r.Process.ProcessInfo = im.info(b.pid)
	r.Process.CallerTid, r.Process.CallerTgid = b.parent.pid, b.parent.pid
	b.w.ctx(r)
	if b.img.vsid != b.parent.img.vsid {
		b.w.ctx(b.syscall("setsid", int64(b.img.vsid)))
	}
}

// afterFork applies the syscalls with which a forked process changed
// itself: credentials, then working directory.
func (b *P) afterFork() {
	im, was := &b.img, &b.parent.img
	if im.gid != was.gid {
		g := uint64(im.gid)
		b.w.ctx(b.syscall("setresgid", 0, g, g, g))
	}
	if im.uid != was.uid {
		u := uint64(im.uid)
		b.w.ctx(b.syscall("setresuid", 0, u, u, u))
	}
	if im.cwd != was.cwd {
		r := b.syscall("chdir", 0, 0)
		r.Syscall.Path[0] = im.cwd
		r.Syscall.Cwd = sensor.File{Valid: true, Path: kernelPath(im.cwd), Mode: 0o40755}
		b.w.ctx(r)
	}
}

// execRecord is the kernel's sched_process_exec record of the process.
func (b *P) execRecord() *sensor.Record {
	r := &sensor.Record{Kind: sensor.KindExec, Time: T0.UnixNano(), Tid: b.pid, Tgid: b.pid}
	r.Process.ProcessInfo = b.info()
	r.Process.Filename = b.argv[0]
	return r
}

// syscall returns the exit record of a syscall the process made, with
// the task ids the sensor reads at exit.
func (b *P) syscall(name string, ret int64, args ...uint64) *sensor.Record {
	nr, ok := sensor.SyscallNumber(name)
	if !ok {
		panic("enginetest: unknown syscall " + name)
	}
	info := b.info()
	r := &sensor.Record{Kind: sensor.KindSyscall, Time: T0.UnixNano(), Tid: b.pid, Tgid: b.pid}
	r.Syscall.Nr, r.Syscall.RawNr, r.Syscall.Ret = nr, nr, ret
	copy(r.Syscall.Args[:], args)
	r.Syscall.Task = sensor.TaskIDs{PPid: info.PPid, UID: info.UID, GID: info.GID, EUID: info.EUID, EGID: info.EGID,
		LoginUID: info.LoginUID, MntNS: info.NS.Mnt, PidNS: info.NS.Pid, Comm: info.Comm}
	return r
}

// newFD is the descriptor the kernel gives the process next: the lowest
// free one above the standard three.
func (b *P) newFD(cloexec bool) int64 {
	for n := int64(3); ; n++ {
		if _, used := b.fds[n]; !used {
			b.fds[n] = cloexec
			return n
		}
	}
}
