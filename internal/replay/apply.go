package replay

import (
	"path"
	"strconv"
	"strings"

	"github.com/truesightsec/truesight/internal/capture"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/state"
)

// kind is what an event does to process state.
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
	"capset": kCapset,
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
	proc     *state.Process
	fd       int64
	pid, tid int64
}

func (r *Replayer) afterRules() {
	a := r.post
	r.post = postAction{}
	if a.close && a.proc != nil {
		delete(a.proc.FDs, a.fd)
	}
	if a.exit {
		r.forget()
		r.Table.Exit(a.pid, a.tid, r.ev.Time)
		r.pairer.Forget(a.tid)
	}
}

// proc returns the process of a thread, making up an empty one for a
// thread the capture never introduced (sysdig shows those as <NA>).
func (r *Replayer) proc(tid int64) *state.Process {
	if p := r.byTid(tid); p != nil {
		return p
	}
	if tid <= 0 {
		return nil
	}
	p := unknownProcess(tid)
	r.forget()
	if !r.Table.Put(p) {
		return nil
	}
	r.stats.UnknownThreads++
	return p
}

// byTid is Table.ByTid with a one-entry cache: events come in runs from
// the same thread. Every change the replayer makes to the table forgets it.
func (r *Replayer) byTid(tid int64) *state.Process {
	if tid == r.lastTid && r.lastProc != nil {
		return r.lastProc
	}
	p := r.Table.ByTid(tid)
	r.lastTid, r.lastProc = tid, p
	return p
}

func (r *Replayer) forget() { r.lastProc = nil }

// unknownProcess stands in for a thread the capture has no record of:
// its user is unknown too (uid -1, as libsinsp has it), not root.
func unknownProcess(pid int64) *state.Process {
	return &state.Process{Pid: pid, Tid: pid, PPid: -1, LoginUID: -1, Root: "/", Sid: -1, VPgid: -1,
		UID: noLoginUID, GID: noLoginUID, EUID: noLoginUID, EGID: noLoginUID}
}

// setCwd sets the working directory as libsinsp keeps it: with a
// trailing slash.
func setCwd(p *state.Process, dir string) {
	if dir != "" && !strings.HasSuffix(dir, "/") {
		dir += "/"
	}
	p.Cwd = dir
}

// linkParent sets a process's parent from the parent thread id an event
// reports, when the table did not know it.
func (r *Replayer) linkParent(p *state.Process, ptid int64) {
	if ptid <= 0 || p.Parent != nil {
		return
	}
	if pp := r.Table.ByTid(ptid); pp != nil && pp != p {
		p.PPid = pp.Pid
		p.Parent = pp
		return
	}
	p.PPid = ptid
}

// apply updates state for an event, before the rules run, and returns the
// process the event belongs to.
func (r *Replayer) apply(sc *capture.Syscall) *state.Process {
	x := sc.Exit
	switch r.kindOf[x.Code] {
	case kNone:
		if !x.Info.IsExit() && sc.Enter == nil {
			// Context switches, signal deliveries and other events with
			// no exit half do not introduce threads, as in libsinsp.
			return r.byTid(x.Tid)
		}
		p := r.proc(x.Tid)
		r.attachFD(sc, p)
		return p
	case kContainer:
		return r.containerEvent(sc)
	case kUserAdded, kUserDeleted, kGroupAdded, kGroupDeleted:
		r.userEvent(sc, r.kindOf[x.Code])
		return nil
	case kClone:
		return r.clone(sc)
	}
	p := r.proc(x.Tid)
	if p == nil {
		return nil
	}
	ev := &r.ev
	ok := !ev.HasRes || ev.Res >= 0
	switch r.kindOf[x.Code] {
	case kExec:
		if ok {
			r.exec(sc, p)
		}
	case kProcExit:
		r.post = postAction{exit: true, pid: p.Pid, tid: x.Tid}
	case kOpen:
		r.open(sc, p)
		return p
	case kSocket:
		if ok {
			r.socket(sc, p)
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
		r.connect(sc, p)
		return p
	case kAccept:
		if ok {
			r.accept(sc, p)
			return p
		}
	case kBind:
		if ok {
			r.bind(sc, p)
		}
	case kClose:
		if n, found := intParam(sc, "fd"); found {
			ev.FD = r.fd(p, n)
			if ok {
				r.post = postAction{close: true, proc: p, fd: n}
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
				r.dup(p, old, ev.Res)
				return p
			}
		}
	case kFcntl:
		if cmd, found := intParam(sc, "cmd"); found && ok && ev.Res >= 0 && (cmd == fDupfd || cmd == fDupfdCloexec) {
			if old, found := intParam(sc, "fd"); found {
				r.dup(p, old, ev.Res)
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
			r.setUser(p, uint32(id), p.GID)
			p.EUID = uint32(id)
		}
	case kSetgid:
		if id, found := uintParam(sc, "gid"); found && ok {
			r.setUser(p, p.UID, uint32(id))
			p.EGID = uint32(id)
		}
	case kSetresuid:
		if id, found := uintParam(sc, "euid"); found && ok && uint32(id) != noLoginUID {
			r.setUser(p, uint32(id), p.GID)
			p.EUID = uint32(id)
		}
	case kSetresgid:
		if id, found := uintParam(sc, "egid"); found && ok && uint32(id) != noLoginUID {
			r.setUser(p, p.UID, uint32(id))
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
	case kMessage:
		r.message(sc, p)
	}
	r.attachFD(sc, p)
	return p
}

// noFD lists events with an fd parameter that libsinsp does not resolve
// to the fd table (their fd.* fields are missing in Falco too).
var noFD = map[string]bool{"mmap": true, "mmap2": true}

// attachFD points the event at the fd it uses.
func (r *Replayer) attachFD(sc *capture.Syscall, p *state.Process) {
	if p == nil || r.ev.FD != nil || noFD[sc.Exit.Info.Name] {
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
		r.ev.FD = r.fd(p, n)
	}
}

// fd returns a process's fd, or for an fd the capture never showed being
// opened a stand-in of which only the number is known (fd.num), as in
// libsinsp.
func (r *Replayer) fd(p *state.Process, n int64) *event.FD {
	if fd := p.FDs[n]; fd != nil {
		return fd
	}
	r.unknownFD = event.FD{Num: n}
	return &r.unknownFD
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
func resolvePath(p *state.Process, dirfd int64, name string) string {
	if name == "" {
		return ""
	}
	if name[0] == '/' {
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

func (r *Replayer) open(sc *capture.Syscall, p *state.Process) {
	ev := &r.ev
	n, ok := intParam(sc, "fd")
	if !ok {
		n = ev.Res
	}
	raw := stringParam(sc, "name")
	if raw == "" {
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
		r.failed = *fd
		ev.FD = &r.failed
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

func (r *Replayer) socket(sc *capture.Syscall, p *state.Process) {
	n := r.ev.Res
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
	r.ev.FD = fd
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

func (r *Replayer) connect(sc *capture.Syscall, p *state.Process) {
	ev := &r.ev
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
		r.unknownFD = *fd
		setTuple(&r.unknownFD, t, false)
		fd = &r.unknownFD
	}
	ev.FD = fd
}

func (r *Replayer) accept(sc *capture.Syscall, p *state.Process) {
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
	r.ev.FD = fd
}

func (r *Replayer) bind(sc *capture.Syscall, p *state.Process) {
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
func (r *Replayer) message(sc *capture.Syscall, p *state.Process) {
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

func (r *Replayer) dup(p *state.Process, old, n int64) {
	src := p.FDs[old]
	var fd event.FD
	if src != nil {
		fd = *src
	}
	fd.Num = n
	p.FDs[n] = &fd
	r.ev.FD = &fd
}

// clone creates the child of a clone, fork or vfork, from whichever half
// (parent's or child's) the capture shows first.
func (r *Replayer) clone(sc *capture.Syscall) *state.Process {
	x := sc.Exit
	ev := &r.ev
	res := ev.Res
	if res < 0 {
		return r.proc(x.Tid)
	}
	flags, _ := uintParam(sc, "flags")
	thread := flags&cloneThread != 0
	if res > 0 {
		// The parent's side: the parameters describe the parent.
		parent := r.proc(x.Tid)
		if parent == nil {
			return nil
		}
		if parent.Comm == "" {
			r.fillFromClone(sc, parent)
			if ptid, ok := intParam(sc, "ptid"); ok {
				r.linkParent(parent, ptid)
			}
		} else {
			r.learnUser(sc, parent)
		}
		r.forget()
		if thread {
			r.Table.Fork(parent.Pid, parent.Pid, res, true, x.Time)
		} else {
			r.Table.Fork(parent.Pid, res, res, false, x.Time)
		}
		return parent
	}
	// The child's side: tid, pid and ptid are the child's.
	tid := x.Tid
	pid, ok := intParam(sc, "pid")
	if !ok || pid <= 0 {
		pid = tid
	}
	if p := r.Table.ByTid(tid); p != nil {
		r.learnUser(sc, p)
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
		r.forget()
		p := r.Table.Get(pid)
		if p == nil {
			p = unknownProcess(pid)
			r.fillFromClone(sc, p)
			if !r.Table.Put(p) {
				return nil
			}
		}
		r.learnUser(sc, p)
		r.Table.Fork(pid, pid, tid, true, x.Time)
		return p
	}
	parentPid := ptid
	if pp := r.Table.ByTid(ptid); pp != nil {
		parentPid = pp.Pid
	}
	r.forget()
	child := r.Table.Fork(parentPid, pid, tid, false, x.Time)
	if child == nil {
		return nil
	}
	if child.FDs == nil {
		// A child of a parent the table does not have inherits no fds.
		child.FDs = map[int64]*event.FD{}
	}
	r.fillFromClone(sc, child)
	return child
}

// learnUser takes the user of a process the capture did not describe from
// a clone event, which reports it.
func (r *Replayer) learnUser(sc *capture.Syscall, p *state.Process) {
	if p.UID != noLoginUID {
		return
	}
	if uid, ok := uintParam(sc, "uid"); ok {
		gid, _ := uintParam(sc, "gid")
		r.setUser(p, uint32(uid), uint32(gid))
		p.EUID, p.EGID = uint32(uid), uint32(gid)
	}
}

// fillFromClone sets a process from a clone event's description of it.
func (r *Replayer) fillFromClone(sc *capture.Syscall, p *state.Process) {
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
		r.setUser(p, uint32(uid), uint32(gid))
		p.EUID, p.EGID = uint32(uid), uint32(gid)
	}
	if v, ok := intParam(sc, "vpid"); ok {
		p.VPid = v
	}
	if v, ok := intParam(sc, "vtid"); ok {
		p.VTid = v
	}
	if cg, ok := listParam(sc, "cgroups"); ok {
		r.setCgroups(p, cg)
	}
}

// exec applies a successful execve to the process image.
func (r *Replayer) exec(sc *capture.Syscall, p *state.Process) {
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
		r.linkParent(p, ptid)
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
		r.setLoginUID(p, uint32(v))
	}
	if uid, ok := uintParam(sc, "uid"); ok {
		gid := uint64(p.GID)
		if g, ok := uintParam(sc, "gid"); ok {
			gid = g
		}
		r.setUser(p, uint32(uid), uint32(gid))
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
		r.setCgroups(p, cg)
	}
	// The new image does not inherit descriptors opened close-on-exec.
	for n, fd := range p.FDs {
		if fd.Flags&oCloexec != 0 {
			delete(p.FDs, n)
		}
	}
}
