package state

import (
	"path"
	"strconv"
	"strings"

	"github.com/truesightsec/truesight/internal/capture"
	"github.com/truesightsec/truesight/internal/event"
)

// kind is what an event does to process
type kind uint8

const (
	kNone kind = iota
	kClone
	kExec
	kProcExit
	kOpen
	kSocket
	kSocketPair
	kConnect
	kAccept
	kBind
	kClose
	kDup
	kFcntl
	kPipe
	kNewFD
	kChdir
	kFchdir
	kChroot
	kSetuid
	kSetgid
	kSetresuid
	kSetresgid
	kCapset
	kSetsid
	kMessage
	kContainer
	kUserAdded
	kUserDeleted
	kGroupAdded
	kGroupDeleted
)

var kindByName = map[string]kind{
	"clone": kClone, "fork": kClone, "vfork": kClone, "clone3": kClone,
	"execve": kExec, "execveat": kExec,
	"procexit": kProcExit,
	"open":     kOpen, "openat": kOpen, "openat2": kOpen, "creat": kOpen, "open_by_handle_at": kOpen,
	"socket": kSocket, "socketpair": kSocketPair,
	"connect": kConnect, "accept": kAccept, "accept4": kAccept, "bind": kBind,
	"close": kClose,
	"dup":   kDup, "dup2": kDup, "dup3": kDup, "fcntl": kFcntl,
	"pipe": kPipe, "pipe2": kPipe,
	"eventfd": kNewFD, "eventfd2": kNewFD, "signalfd": kNewFD, "signalfd4": kNewFD,
	"timerfd_create": kNewFD, "inotify_init": kNewFD, "inotify_init1": kNewFD,
	"epoll_create": kNewFD, "epoll_create1": kNewFD, "userfaultfd": kNewFD,
	"memfd_create": kNewFD, "pidfd_open": kNewFD, "pidfd_getfd": kNewFD, "bpf": kNewFD,
	"io_uring_setup": kNewFD,
	"chdir":          kChdir, "fchdir": kFchdir, "chroot": kChroot,
	"setuid": kSetuid, "setgid": kSetgid,
	"setresuid": kSetresuid, "setreuid": kSetresuid, "setresgid": kSetresgid, "setregid": kSetresgid,
	"capset": kCapset, "setsid": kSetsid,
	"sendto": kMessage, "sendmsg": kMessage, "recvfrom": kMessage, "recvmsg": kMessage,
	"container":   kContainer,
	"useradded":   kUserAdded,
	"userdeleted": kUserDeleted,
	"groupadded":  kGroupAdded, "groupdeleted": kGroupDeleted,
}

// newFDTypes gives the fd type of the events that create one fd of a
// fixed kind.
var newFDTypes = map[string]event.FDType{
	"eventfd": event.FDEvent, "eventfd2": event.FDEvent, "signalfd": event.FDSignalfd, "signalfd4": event.FDSignalfd,
	"timerfd_create": event.FDTimerfd, "inotify_init": event.FDInotify, "inotify_init1": event.FDInotify,
	"epoll_create": event.FDEventPoll, "epoll_create1": event.FDEventPoll, "userfaultfd": event.FDUserfaultfd,
	"memfd_create": event.FDMemfd, "pidfd_open": event.FDPidfd, "pidfd_getfd": event.FDPidfd, "bpf": event.FDBPF,
	"io_uring_setup": event.FDIOUring,
}

// Capture encodings used here.
const (
	atFDCWD       = -100
	cloneThread   = 1 << 13 // PPM_CL_CLONE_THREAD
	ppmODirectory = 1 << 10
	exeWritable   = 1 << 0
	exeUpper      = 1 << 1
	exeFromMemfd  = 1 << 2
	exeLower      = 1 << 3
	einprogress   = -115
	oCloexec      = 0x80000
	fDupfd        = 1  // PPM_FCNTL_F_DUPFD
	fDupfdCloexec = 26 // PPM_FCNTL_F_DUPFD_CLOEXEC
	afUnix        = 1
	afInet        = 2
	afInet6       = 10
	afNetlink     = 16
)

// postAction is a state change applied after the rules saw the event.
type postAction struct {
	close    bool
	exit     bool
	proc     *Process
	fd       int64
	pid, tid int64
}

func (m *Machine) afterRules() {
	a := m.post
	m.post = postAction{}
	if a.close && a.proc != nil {
		delete(a.proc.FDs, a.fd)
	}
	if a.exit {
		m.forget()
		m.Table.Exit(a.pid, a.tid, m.ev.Time)
		if m.OnThreadExit != nil {
			m.OnThreadExit(a.tid)
		}
	}
}

// proc returns the process of a thread, making up an empty one for a
// thread the capture never introduced (sysdig shows those as <NA>).
func (m *Machine) proc(tid int64) *Process {
	if p := m.byTid(tid); p != nil {
		return p
	}
	if tid <= 0 {
		return nil
	}
	p := unknownProcess(tid)
	m.forget()
	if !m.Table.Put(p) {
		return nil
	}
	m.UnknownThreads++
	return p
}

// byTid is Table.ByTid with a one-entry cache: events come in runs from
// the same thread. Every change the replayer makes to the table forgets it.
func (m *Machine) byTid(tid int64) *Process {
	if tid == m.lastTid && m.lastProc != nil {
		return m.lastProc
	}
	p := m.Table.ByTid(tid)
	m.lastTid, m.lastProc = tid, p
	return p
}

func (m *Machine) forget() { m.lastProc = nil }

// unknownProcess stands in for a thread the capture has no record of:
// its user is unknown too (uid -1, as libsinsp has it), not root.
func unknownProcess(pid int64) *Process {
	return &Process{Pid: pid, Tid: pid, PPid: -1, LoginUID: -1, Root: "/", Sid: -1, VPgid: -1,
		UID: noLoginUID, GID: noLoginUID, EUID: noLoginUID, EGID: noLoginUID}
}

// setCwd sets the working directory as libsinsp keeps it: with a
// trailing slash.
func setCwd(p *Process, dir string) {
	if dir != "" && !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	p.Cwd = dir
}

// linkParent sets a process's parent from the parent thread id an event
// reports, when the table did not know it.
func (m *Machine) linkParent(p *Process, ptid int64) {
	if ptid <= 0 || p.Parent != nil {
		return
	}
	if pp := m.Table.ByTid(ptid); pp != nil && pp != p {
		p.PPid = pp.Pid
		p.Parent = pp
		return
	}
	p.PPid = ptid
}

// relinkParent takes the parent an exec reports: a process reparented
// since its fork (runc's init, whose parent left) has another now.
func (m *Machine) relinkParent(p *Process, ptid int64) {
	if ptid <= 0 {
		return
	}
	if pp := m.Table.ByTid(ptid); pp != nil && pp != p {
		p.PPid = pp.Pid
		p.Parent = pp
		return
	}
	m.linkParent(p, ptid)
}

// apply updates state for an event, before the rules run, and returns the
// process the event belongs to.
func (m *Machine) apply(sc *capture.Syscall, facts *Facts) *Process {
	x := sc.Exit
	switch m.kindOf[x.Code] {
	case kNone:
		if !x.Info.IsExit() && sc.Enter == nil {
			// Context switches, signal deliveries and other events with
			// no exit half do not introduce threads, as in libsinsp.
			return m.byTid(x.Tid)
		}
		p := m.proc(x.Tid)
		m.attachFD(sc, p)
		return p
	case kContainer:
		return m.containerEvent(sc)
	case kUserAdded, kUserDeleted, kGroupAdded, kGroupDeleted:
		m.userEvent(sc, m.kindOf[x.Code])
		return nil
	case kClone:
		return m.clone(sc, facts)
	}
	p := m.proc(x.Tid)
	if p == nil {
		return nil
	}
	ev := &m.ev
	ok := !ev.HasRes || ev.Res >= 0
	switch m.kindOf[x.Code] {
	case kExec:
		if ok {
			m.exec(sc, p)
			if facts != nil && facts.Task != nil {
				m.applyTask(p, facts.Task)
			}
			m.markOwn(p)
		}
	case kProcExit:
		m.post = postAction{exit: true, pid: p.Pid, tid: x.Tid}
	case kOpen:
		m.open(sc, p, facts)
		if facts != nil && m.ev.FD != nil {
			m.applyFile(p, m.ev.FD, &facts.File)
		}
		return p
	case kSocket:
		if ok {
			m.socket(sc, p)
			return p
		}
	case kSocketPair:
		if ok {
			for _, name := range [...]string{"fd1", "fd2"} {
				if n, ok := intParam(sc, name); ok && n >= 0 {
					p.FDs[n] = &event.FD{Num: n, Type: event.FDUnix, Family: afUnix}
				}
			}
		}
	case kConnect:
		m.connect(sc, p)
		return p
	case kAccept:
		if ok {
			m.accept(sc, p)
			return p
		}
	case kBind:
		if ok {
			m.bind(sc, p)
		}
	case kClose:
		if n, found := intParam(sc, "fd"); found {
			ev.FD = m.fd(p, n)
			if ok {
				m.post = postAction{close: true, proc: p, fd: n}
			}
		}
		return p
	case kDup:
		if ok && ev.Res >= 0 {
			old, found := intParam(sc, "oldfd")
			if !found {
				old, found = intParam(sc, "fd")
			}
			if found {
				m.dup(p, old, ev.Res)
				return p
			}
		}
	case kFcntl:
		if cmd, found := intParam(sc, "cmd"); found && ok && ev.Res >= 0 && (cmd == fDupfd || cmd == fDupfdCloexec) {
			if old, found := intParam(sc, "fd"); found {
				m.dup(p, old, ev.Res)
				return p
			}
		}
	case kPipe:
		if ok {
			ino, _ := intParam(sc, "ino")
			for _, name := range [...]string{"fd1", "fd2"} {
				if n, found := intParam(sc, name); found && n >= 0 {
					fd := &event.FD{Num: n, Type: event.FDPipe, Ino: uint64(ino)}
					p.FDs[n] = fd
					ev.FD = fd
				}
			}
			return p
		}
	case kNewFD:
		n := ev.Res
		if v, found := intParam(sc, "fd"); found && sc.Exit.Info.Params[0].Name == "fd" {
			n = v
		}
		if ok && n >= 0 {
			fd := &event.FD{Num: n, Type: newFDTypes[x.Info.Name]}
			if fd.Type == event.FDMemfd {
				if name := stringParam(sc, "name"); name != "" {
					fd.Name = "memfd:" + name
					fd.NameRaw = fd.Name
				}
			}
			p.FDs[n] = fd
			ev.FD = fd
			return p
		}
	case kChdir:
		if ok {
			if dir := stringParam(sc, "path"); dir != "" {
				setCwd(p, resolvePath(p, atFDCWD, dir))
			}
		}
	case kFchdir:
		if n, found := intParam(sc, "fd"); found && ok {
			if fd := p.FDs[n]; fd != nil && fd.Name != "" {
				setCwd(p, fd.Name)
			}
		}
	case kChroot:
		if ok {
			if dir := stringParam(sc, "path"); dir != "" {
				p.Root = resolvePath(p, atFDCWD, dir)
			}
		}
	case kSetuid:
		if id, found := uintParam(sc, "uid"); found && ok {
			m.setUser(p, uint32(id), p.GID)
			p.EUID = uint32(id)
		}
	case kSetgid:
		if id, found := uintParam(sc, "gid"); found && ok {
			m.setUser(p, p.UID, uint32(id))
			p.EGID = uint32(id)
		}
	case kSetresuid:
		if id, found := uintParam(sc, "euid"); found && ok && uint32(id) != noLoginUID {
			m.setUser(p, uint32(id), p.GID)
			p.EUID = uint32(id)
		}
	case kSetresgid:
		if id, found := uintParam(sc, "egid"); found && ok && uint32(id) != noLoginUID {
			m.setUser(p, p.UID, uint32(id))
			p.EGID = uint32(id)
		}
	case kCapset:
		if ok {
			if v, found := uintParam(sc, "cap_inheritable"); found {
				p.CapInherit = v
			}
			if v, found := uintParam(sc, "cap_permitted"); found {
				p.CapPermitted = v
			}
			if v, found := uintParam(sc, "cap_effective"); found {
				p.CapEffective = v
			}
		}
	case kSetsid:
		// The caller leads a new session, whose id it returns.
		if ok && ev.HasRes && ev.Res > 0 {
			p.Sid = ev.Res
		}
	case kMessage:
		m.message(sc, p)
	}
	m.attachFD(sc, p)
	return p
}

// noFD lists events with an fd parameter that libsinsp does not resolve
// to the fd table (their fd.* fields are missing in Falco too).
var noFD = map[string]bool{"mmap": true, "mmap2": true}

// attachFD points the event at the fd it uses.
func (m *Machine) attachFD(sc *capture.Syscall, p *Process) {
	if p == nil || m.ev.FD != nil || noFD[sc.Exit.Info.Name] {
		return
	}
	e, i := sc.Param("fd")
	if e == nil {
		return
	}
	if t := e.Info.Params[i].Type; t != capture.ParamFD && t != capture.ParamFD32 {
		return
	}
	if n, ok := e.Int(i); ok {
		m.ev.FD = m.fd(p, n)
	}
}

// fd returns a process's fd, or for an fd the capture never showed being
// opened a stand-in of which only the number is known (fd.num), as in
// libsinsp.
func (m *Machine) fd(p *Process, n int64) *event.FD {
	if fd := p.FDs[n]; fd != nil {
		return fd
	}
	m.unknownFD = event.FD{Num: n}
	return &m.unknownFD
}

func intParam(sc *capture.Syscall, name string) (int64, bool) {
	e, i := sc.Param(name)
	if e == nil {
		return 0, false
	}
	return e.Int(i)
}

func uintParam(sc *capture.Syscall, name string) (uint64, bool) {
	e, i := sc.Param(name)
	if e == nil {
		return 0, false
	}
	return e.Uint(i)
}

func stringParam(sc *capture.Syscall, name string) string {
	e, i := sc.Param(name)
	if e == nil {
		return ""
	}
	return e.String(i)
}

// listParam splits a NUL-separated buffer parameter (args, env, cgroups).
func listParam(sc *capture.Syscall, name string) ([]string, bool) {
	e, i := sc.Param(name)
	if e == nil {
		return nil, false
	}
	b := e.Param(i)
	if len(b) == 0 {
		return nil, true
	}
	s := strings.TrimSuffix(string(b), "\x00")
	return strings.Split(s, "\x00"), true
}

// resolvePath makes a path given to a syscall absolute the way the kernel
// would: relative to dirfd's directory, or the cwd for AT_FDCWD.
func resolvePath(p *Process, dirfd int64, name string) string {
	if name == "" {
		return ""
	}
	if name[0] == '/' {
		if isCleanAbs(name) {
			return name // most paths: no need to rebuild them
		}
		return path.Clean(name)
	}
	base := p.Cwd
	if dirfd != atFDCWD {
		if fd := p.FDs[dirfd]; fd != nil && fd.Name != "" {
			base = fd.Name
		}
	}
	if base == "" {
		return name
	}
	return path.Join(base, name)
}

// isCleanAbs reports whether an absolute path is already what path.Clean
// makes of it: no empty, "." or ".." element and no trailing slash.
func isCleanAbs(name string) bool {
	if len(name) > 1 && name[len(name)-1] == '/' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] != '/' || i+1 == len(name) {
			continue
		}
		rest := name[i+1:]
		if rest[0] == '/' || rest[0] == '.' && (len(rest) == 1 || rest[1] == '/' || rest[1] == '.' && (len(rest) == 2 || rest[2] == '/')) {
			return false
		}
	}
	return true
}

func (m *Machine) open(sc *capture.Syscall, p *Process, facts *Facts) {
	ev := &m.ev
	n, ok := intParam(sc, "fd")
	if !ok {
		n = ev.Res
	}
	var raw string
	if facts != nil && facts.Path != "" {
		raw = facts.Path // the parameter's text, already a string
	} else if raw = stringParam(sc, "name"); raw == "" {
		raw = stringParam(sc, "path")
	}
	dirfd := int64(atFDCWD)
	if d, ok := intParam(sc, "dirfd"); ok {
		dirfd = d
	}
	var flags uint32
	ppm, hasFlags := uintParam(sc, "flags")
	if hasFlags {
		flags = capture.OpenFlagsToKernel(uint32(ppm))
	}
	if sc.Exit.Info.Name == "creat" {
		flags = capture.OpenFlagsToKernel(1<<1 | 1<<2 | 1<<8) // O_WRONLY|O_CREAT|O_TRUNC
	}
	mode, _ := uintParam(sc, "mode")
	dev, _ := uintParam(sc, "dev")
	ino, _ := uintParam(sc, "ino")
	fd := &event.FD{Num: n, Type: event.FDFile, Name: resolvePath(p, dirfd, raw), NameRaw: raw,
		Flags: flags, Mode: uint32(mode), Dev: uint32(dev), Ino: ino,
		Upper: ppm&capture.OpenUpperLayer != 0, Lower: ppm&capture.OpenLowerLayer != 0}
	if ppm&ppmODirectory != 0 {
		fd.Type = event.FDDirectory
	}
	if n < 0 {
		// A failed open names the path it was given, with fd.num -1.
		fd.Num = -1
		m.failed = *fd
		ev.FD = &m.failed
		return
	}
	if old := p.FDs[n]; old != nil && old.Name != fd.Name {
		fd.NameChanged = true
	}
	p.FDs[n] = fd
	ev.FD = fd
}

func socketFD(n int64, family uint64) *event.FD {
	fd := &event.FD{Num: n, Family: uint16(family)}
	switch family {
	case afInet:
		fd.Type = event.FDIPv4
	case afInet6:
		fd.Type = event.FDIPv6
	case afUnix:
		fd.Type = event.FDUnix
	case afNetlink:
		fd.Type = event.FDNetlink
	}
	return fd
}

func (m *Machine) socket(sc *capture.Syscall, p *Process) {
	n := m.ev.Res
	if v, ok := intParam(sc, "fd"); ok {
		n = v
	}
	if n < 0 {
		return
	}
	domain, _ := uintParam(sc, "domain")
	fd := socketFD(n, domain)
	typ, _ := uintParam(sc, "type")
	proto, _ := uintParam(sc, "proto")
	switch typ & 0xf {
	case 1: // SOCK_STREAM
		fd.L4 = event.L4TCP
	case 2: // SOCK_DGRAM
		fd.L4 = event.L4UDP
		if proto == 1 || proto == 58 { // ping sockets
			fd.L4 = event.L4ICMP
		}
	case 3: // SOCK_RAW
		fd.L4 = event.L4Raw
		if proto == 1 || proto == 58 {
			fd.L4 = event.L4ICMP
		}
	}
	p.FDs[n] = fd
	m.ev.FD = fd
}

// setTuple records a connection's ends on a socket fd.
func setTuple(fd *event.FD, t capture.SockTuple, localIsServer bool) {
	switch t.Family {
	case afInet, afInet6:
		if fd.Type != event.FDIPv4 && fd.Type != event.FDIPv6 {
			fd.Type = event.FDIPv4
		}
		if t.Src.Is6() || t.Dst.Is6() {
			fd.Type = event.FDIPv6
		}
		fd.ClientIP, fd.ClientPort = t.Src, t.SrcPort
		fd.ServerIP, fd.ServerPort = t.Dst, t.DstPort
		fd.LocalIsServer = localIsServer
		fd.Role = event.RoleClient
		if localIsServer {
			fd.Role = event.RoleServer
		}
		name := tupleName(fd)
		fd.NameChanged = fd.Name != name
		fd.Name, fd.NameRaw = name, name
	case afUnix:
		// libsinsp names a unix socket by both ends' kernel addresses
		// and the path: "0->ffff94dc817b9400 /var/run/nscd/socket".
		fd.Type = event.FDUnix
		name := strconv.FormatUint(t.UnixSrc, 16) + "->" + strconv.FormatUint(t.UnixDst, 16) + " " + t.Path
		fd.NameChanged = fd.Name != name
		fd.Name, fd.NameRaw = name, name
	}
}

func (m *Machine) connect(sc *capture.Syscall, p *Process) {
	ev := &m.ev
	n, ok := intParam(sc, "fd")
	if !ok {
		return
	}
	fd := p.FDs[n]
	e, i := sc.Param("tuple")
	if e == nil {
		ev.FD = fd
		return
	}
	t, ok := capture.DecodeSockTuple(e.Param(i))
	if !ok {
		ev.FD = fd
		return
	}
	if fd == nil {
		fd = socketFD(n, uint64(t.Family))
		p.FDs[n] = fd
	}
	switch {
	case ev.Res == 0 || ev.Res == einprogress:
		setTuple(fd, t, false)
		fd.Connected = true
	case t.Family == afUnix:
		// A failed connect on a unix socket names the peer it tried
		// for this event only, as libsinsp shows it.
		m.unknownFD = *fd
		setTuple(&m.unknownFD, t, false)
		fd = &m.unknownFD
	}
	ev.FD = fd
}

func (m *Machine) accept(sc *capture.Syscall, p *Process) {
	n, ok := intParam(sc, "fd")
	if !ok || n < 0 {
		return
	}
	e, i := sc.Param("tuple")
	var t capture.SockTuple
	if e != nil {
		t, _ = capture.DecodeSockTuple(e.Param(i))
	}
	fd := socketFD(n, uint64(t.Family))
	fd.L4 = event.L4TCP
	setTuple(fd, t, true)
	fd.Connected = true
	p.FDs[n] = fd
	m.ev.FD = fd
}

func (m *Machine) bind(sc *capture.Syscall, p *Process) {
	n, ok := intParam(sc, "fd")
	if !ok {
		return
	}
	fd := p.FDs[n]
	e, i := sc.Param("addr")
	if fd == nil || e == nil {
		return
	}
	a, ok := capture.DecodeSockAddr(e.Param(i))
	if !ok {
		return
	}
	switch a.Family {
	case afInet, afInet6:
		fd.ServerIP, fd.ServerPort = a.Addr, a.Port
		fd.LocalIsServer = true
		fd.Role = event.RoleServer
		fd.Name = event.AddrPortName(a.Addr, a.Port)
		fd.NameRaw = fd.Name
	case afUnix:
		fd.Name, fd.NameRaw = a.Path, a.Path
	}
}

// message records the peer of an unconnected datagram socket.
func (m *Machine) message(sc *capture.Syscall, p *Process) {
	n, ok := intParam(sc, "fd")
	if !ok {
		return
	}
	fd := p.FDs[n]
	if fd == nil || fd.Connected || fd.Name != "" {
		return
	}
	if e, i := sc.Param("tuple"); e != nil {
		if t, ok := capture.DecodeSockTuple(e.Param(i)); ok && t.Family != afUnix {
			// libsinsp guesses the side from the direction: whoever
			// receives first is the server (its tuple's destination is
			// the local end), whoever sends first the client.
			name := sc.Exit.Info.Name
			setTuple(fd, t, name == "recvfrom" || name == "recvmsg")
		}
	}
}

func (m *Machine) dup(p *Process, old, n int64) {
	src := p.FDs[old]
	var fd event.FD
	if src != nil {
		fd = *src
	}
	fd.Num = n
	p.FDs[n] = &fd
	m.ev.FD = &fd
}

// clone creates the child of a clone, fork or vfork, from whichever half
// (parent's or child's) the capture shows first.
func (m *Machine) clone(sc *capture.Syscall, facts *Facts) *Process {
	x := sc.Exit
	ev := &m.ev
	res := ev.Res
	if res < 0 {
		return m.proc(x.Tid)
	}
	flags, _ := uintParam(sc, "flags")
	thread := flags&cloneThread != 0
	if res > 0 {
		// The parent's side: the parameters describe the parent.
		parent := m.proc(x.Tid)
		if parent == nil {
			return nil
		}
		if parent.Comm == "" {
			m.fillFromClone(sc, parent)
			if ptid, ok := intParam(sc, "ptid"); ok {
				m.linkParent(parent, ptid)
			}
		} else {
			m.learnUser(sc, parent)
		}
		m.forget()
		if parent.VPid > 0 && parent.VPid != parent.Pid {
			// A caller in a pid namespace of its own is given the child's
			// id in that namespace, not the host's: the child's own half
			// introduces it, as libsinsp has it.
			return parent
		}
		if thread {
			m.Table.Fork(parent.Pid, parent.Pid, res, true, x.Time)
		} else if child := m.Table.Fork(parent.Pid, res, res, false, x.Time); child != nil {
			m.markOwn(child)
		}
		return parent
	}
	// The child's side: tid, pid and ptid are the child's.
	tid := x.Tid
	pid, ok := intParam(sc, "pid")
	if !ok || pid <= 0 {
		pid = tid
	}
	if p := m.Table.ByTid(tid); p != nil {
		m.learnUser(sc, p)
		if !thread && p.Pid == tid {
			if v, ok := intParam(sc, "vpid"); ok {
				p.VPid = v
			}
			if v, ok := intParam(sc, "vtid"); ok {
				p.VTid = v
			}
		}
		return p
	}
	ptid, _ := intParam(sc, "ptid")
	if thread {
		m.forget()
		p := m.Table.Get(pid)
		if p == nil {
			p = unknownProcess(pid)
			m.fillFromClone(sc, p)
			if !m.Table.Put(p) {
				return nil
			}
		}
		m.learnUser(sc, p)
		m.Table.Fork(pid, pid, tid, true, x.Time)
		return p
	}
	parentPid := ptid
	if pp := m.Table.ByTid(ptid); pp != nil {
		parentPid = pp.Pid
	}
	m.forget()
	child := m.Table.Fork(parentPid, pid, tid, false, x.Time)
	if child == nil {
		return nil
	}
	if child.FDs == nil {
		// A child of a parent the table does not have inherits no fds.
		child.FDs = map[int64]*event.FD{}
	}
	m.fillFromClone(sc, child)
	if facts != nil && facts.Task != nil {
		m.applyTask(child, facts.Task)
	}
	m.markOwn(child)
	return child
}

// learnUser takes the user of a process the capture did not describe from
// a clone event, which reports it.
func (m *Machine) learnUser(sc *capture.Syscall, p *Process) {
	if p.UID != noLoginUID {
		return
	}
	if uid, ok := uintParam(sc, "uid"); ok {
		gid, _ := uintParam(sc, "gid")
		m.setUser(p, uint32(uid), uint32(gid))
		p.EUID, p.EGID = uint32(uid), uint32(gid)
	}
}

// fillFromClone sets a process from a clone event's description of it.
func (m *Machine) fillFromClone(sc *capture.Syscall, p *Process) {
	if comm := stringParam(sc, "comm"); comm != "" {
		p.SetComm(comm)
	} else if exe := stringParam(sc, "exe"); exe != "" && p.Comm == "" {
		p.SetComm(path.Base(exe))
	}
	if exe := stringParam(sc, "exe"); exe != "" {
		args, _ := listParam(sc, "args")
		p.SetArgs(exe, args)
	}
	if cwd := stringParam(sc, "cwd"); cwd != "" {
		setCwd(p, cwd)
	}
	uid, hasUID := uintParam(sc, "uid")
	gid, _ := uintParam(sc, "gid")
	if hasUID {
		m.setUser(p, uint32(uid), uint32(gid))
		p.EUID, p.EGID = uint32(uid), uint32(gid)
	}
	if v, ok := intParam(sc, "vpid"); ok {
		p.VPid = v
	}
	if v, ok := intParam(sc, "vtid"); ok {
		p.VTid = v
	}
	if v, ok := intParam(sc, "pidns_init_start_ts"); ok && v != 0 {
		p.PidNSStart = v
	}
	if cg, ok := listParam(sc, "cgroups"); ok {
		m.setCgroups(p, cg)
	}
}

// exec applies a successful execve to the process image.
func (m *Machine) exec(sc *capture.Syscall, p *Process) {
	exe := stringParam(sc, "exe")
	args, _ := listParam(sc, "args")
	comm := stringParam(sc, "comm")
	if comm == "" && exe != "" {
		comm = path.Base(exe)
	}
	if comm != "" {
		p.Comm = comm
	}
	p.SetArgs(exe, args)
	if cwd := stringParam(sc, "cwd"); cwd != "" {
		setCwd(p, cwd)
	}
	if ptid, ok := intParam(sc, "ptid"); ok {
		m.relinkParent(p, ptid)
	}
	switch {
	case stringParam(sc, "trusted_exepath") != "":
		p.ExePath = stringParam(sc, "trusted_exepath")
	case stringParam(sc, "filename") != "":
		p.ExePath = resolvePath(p, atFDCWD, stringParam(sc, "filename"))
	case strings.HasPrefix(exe, "/"):
		p.ExePath = exe
	default:
		p.ExePath = exe
	}
	if env, ok := listParam(sc, "env"); ok {
		p.Env = env
	}
	if v, ok := uintParam(sc, "tty"); ok {
		p.TTY = uint32(v)
	}
	if v, ok := uintParam(sc, "loginuid"); ok {
		m.setLoginUID(p, uint32(v))
	}
	if uid, ok := uintParam(sc, "uid"); ok {
		gid := uint64(p.GID)
		if g, ok := uintParam(sc, "gid"); ok {
			gid = g
		}
		m.setUser(p, uint32(uid), uint32(gid))
		p.EUID, p.EGID = uint32(uid), uint32(gid)
	}
	if v, ok := uintParam(sc, "cap_inheritable"); ok {
		p.CapInherit = v
	}
	if v, ok := uintParam(sc, "cap_permitted"); ok {
		p.CapPermitted = v
	}
	if v, ok := uintParam(sc, "cap_effective"); ok {
		p.CapEffective = v
	}
	if flags, ok := uintParam(sc, "flags"); ok {
		p.ExeWritable = flags&exeWritable != 0
		p.ExeUpperLayer = flags&exeUpper != 0
		p.ExeFromMemfd = flags&exeFromMemfd != 0
		p.ExeLowerLayer = flags&exeLower != 0
	}
	if v, ok := uintParam(sc, "exe_ino"); ok {
		p.ExeIno = v
	}
	if v, ok := uintParam(sc, "exe_ino_ctime"); ok {
		p.ExeCtime = int64(v)
	}
	if v, ok := uintParam(sc, "exe_ino_mtime"); ok {
		p.ExeMtime = int64(v)
	}
	if v, ok := intParam(sc, "vpgid"); ok {
		p.VPgid = v
	}
	if cg, ok := listParam(sc, "cgroups"); ok {
		m.setCgroups(p, cg)
	}
	// The new image does not inherit descriptors opened close-on-exec.
	for n, fd := range p.FDs {
		if fd.Flags&oCloexec != 0 {
			delete(p.FDs, n)
		}
	}
}
