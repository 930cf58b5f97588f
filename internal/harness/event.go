package harness

import (
	"fmt"
	"net/netip"
	"path"
	"strings"
	"syscall"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
)

// atFDCWD is the dirfd of a path relative to the working directory.
const atFDCWD = -100

// newCtx returns an exit event of type typ made by process b at T0, with
// return value res, ready for matching.
func newCtx(b *P, typ string, res int64) *fields.Ctx {
	proc := b.Process()
	e := &event.Event{
		Num:    1,
		Time:   T0.UnixNano(),
		Type:   event.MustType(typ),
		Source: event.SourceSyscall,
		Tid:    proc.Tid,
		Pid:    proc.Pid,
		Res:    res,
		HasRes: true,
	}
	return &fields.Ctx{Evt: e, Proc: proc, Hostname: Hostname}
}

func num(e *event.Event, name string, n int64) { e.AddParam(name, itoa(n), n) }
func text(e *event.Event, name, s string)      { e.AddParam(name, s, 0) }

// Exec is the successful execve with which process b started its current
// program. Of the exit's parameters it carries those rules read, in the
// event table's order: res, exe, args, tid, pid, ptid, cwd, comm, tty,
// loginuid, flags (EXE_* names) and uid.
func Exec(b *P) *fields.Ctx { return execEvent(b, "execve") }

// ExecAt is Exec through execveat (fexecve and friends).
func ExecAt(b *P) *fields.Ctx { return execEvent(b, "execveat") }

func execEvent(b *P, typ string) *fields.Ctx {
	c := newCtx(b, typ, 0)
	p, e := c.Proc, c.Evt
	num(e, "res", 0)
	text(e, "exe", p.Exe)
	text(e, "args", p.ArgsText)
	num(e, "tid", p.Tid)
	num(e, "pid", p.Pid)
	num(e, "ptid", p.PPid)
	text(e, "cwd", p.Cwd)
	text(e, "comm", p.Comm)
	num(e, "tty", int64(p.TTY))
	num(e, "loginuid", p.LoginUID)
	var flags int64
	for i, set := range []bool{p.ExeWritable, p.ExeUpperLayer, p.ExeFromMemfd, p.ExeLowerLayer} {
		if set {
			flags |= 1 << uint(i)
		}
	}
	e.AddSym("flags", ExecFlagsText(p.ExeWritable, p.ExeUpperLayer, p.ExeFromMemfd, p.ExeLowerLayer), flags)
	num(e, "uid", int64(p.UID))
	return c
}

// resolve returns the absolute, cleaned path a process with working
// directory cwd names with p.
func resolve(cwd, p string) string {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	return path.Join(cwd, p)
}

// fileRoot is the container whose root filesystem a process's files are
// in: its own.
func fileRoot(b *P) string {
	if b.p.ContainerID == "" {
		return container.HostID
	}
	return b.p.ContainerID
}

// Open is a successful openat(AT_FDCWD, name, flags) by process b that
// returned fd 3. flags are the kernel's O_* bits (ORdOnly, OWrOnly|OCreat|
// OTrunc, ...). The event's fd is the opened file: fd.name is the resolved
// path, fd.nameraw the path as given.
func Open(b *P, name string, flags int) *fields.Ctx {
	c := newCtx(b, "openat", 3)
	mode := int64(0)
	if flags&syscall.O_CREAT != 0 {
		mode = 0o666
	}
	openParams(c.Evt, 3, name, flags, mode)
	resolved := resolve(c.Proc.Cwd, name)
	c.Evt.FD = &event.FD{
		Num: 3, Type: event.FDFile, Name: resolved, NameRaw: name, NameChanged: true,
		Flags: uint32(flags), Mode: uint32(mode), Dev: 0x803, Ino: 1048602, Exists: true,
		TargetContainer: fileRoot(b), TargetPath: resolved,
	}
	return c
}

// OpenFailed is an openat(AT_FDCWD, name, flags) by process b that failed
// with errno. As in Falco, the event's fd has number -1 and takes its name
// from the path argument.
func OpenFailed(b *P, name string, flags int, errno syscall.Errno) *fields.Ctx {
	c := newCtx(b, "openat", -int64(errno))
	openParams(c.Evt, -int64(errno), name, flags, 0)
	resolved := resolve(c.Proc.Cwd, name)
	c.Evt.FD = &event.FD{
		Num: -1, Type: event.FDFile, Name: resolved, NameRaw: name,
		Flags: uint32(flags), TargetContainer: fileRoot(b), TargetPath: resolved,
	}
	return c
}

func openParams(e *event.Event, fd int64, name string, flags int, mode int64) {
	num(e, "fd", fd)
	num(e, "dirfd", atFDCWD)
	text(e, "name", name)
	e.AddSym("flags", OpenFlagsText(flags), int64(flags))
	e.AddParam("mode", fmt.Sprintf("0%o", mode), mode)
	e.AddParam("dev", "803", 0x803)
	num(e, "ino", 1048602)
}

// TCP returns a connected TCP socket as file descriptor fd of the process
// at the client end local, talking to the server remote.
func TCP(fd int64, local, remote netip.AddrPort) *event.FD {
	t := event.FDIPv4
	if local.Addr().Is6() && !local.Addr().Is4In6() {
		t = event.FDIPv6
	}
	return &event.FD{
		Num: fd, Type: t, Name: local.String() + "->" + remote.String(), NameChanged: true,
		L4: event.L4TCP, Family: syscall.AF_INET,
		ClientIP: local.Addr(), ClientPort: local.Port(),
		ServerIP: remote.Addr(), ServerPort: remote.Port(),
		Connected: true, Role: event.RoleClient,
	}
}

// Pipe returns the read or write end of a pipe as file descriptor fd.
func Pipe(fd int64, ino uint64) *event.FD {
	return &event.FD{Num: fd, Type: event.FDPipe, Name: fmt.Sprintf("pipe:[%d]", ino), Ino: ino}
}

// Connect is a successful connect on TCP socket fd 3 of process b from
// local to remote.
func Connect(b *P, local, remote netip.AddrPort) *fields.Ctx {
	return ConnectErr(b, local, remote, 0)
}

// ConnectErr is Connect returning errno (0 for success), e.g. EINPROGRESS
// for a non-blocking connect.
func ConnectErr(b *P, local, remote netip.AddrPort, errno syscall.Errno) *fields.Ctx {
	c := newCtx(b, "connect", -int64(errno))
	fd := TCP(3, local, remote)
	num(c.Evt, "res", -int64(errno))
	text(c.Evt, "tuple", fd.Name)
	num(c.Evt, "fd", 3)
	text(c.Evt, "addr", remote.String())
	c.Evt.FD = fd
	return c
}

// Socket is a successful socket(domain, typ, proto) by process b that
// returned fd 3. domain is a name such as "AF_PACKET". Like Falco, the
// event carries no fd for families it does not track (packet sockets).
func Socket(b *P, domain string, typ, proto int64) *fields.Ctx {
	d, ok := socketDomains[domain]
	if !ok {
		panic("harness: unknown socket domain " + domain)
	}
	c := newCtx(b, "socket", 3)
	num(c.Evt, "fd", 3)
	c.Evt.AddSym("domain", domain, d)
	num(c.Evt, "type", typ)
	num(c.Evt, "proto", proto)
	num(c.Evt, "flags", 0)
	switch domain {
	case "AF_INET", "AF_INET6":
		fd := &event.FD{Num: 3, Type: event.FDIPv4, Family: uint16(d)}
		if domain == "AF_INET6" {
			fd.Type = event.FDIPv6
		}
		switch {
		case proto == syscall.IPPROTO_ICMP || proto == syscall.IPPROTO_ICMPV6:
			fd.L4 = event.L4ICMP
		case typ&0xff == syscall.SOCK_STREAM:
			fd.L4 = event.L4TCP
		case typ&0xff == syscall.SOCK_DGRAM:
			fd.L4 = event.L4UDP
		}
		c.Evt.FD = fd
	}
	return c
}

// Ptrace is a successful ptrace(request, pid) by process b; request is a
// name such as "PTRACE_ATTACH".
func Ptrace(b *P, request string, pid int64) *fields.Ctx {
	r, ok := ptraceRequests[request]
	if !ok {
		panic("harness: unknown ptrace request " + request)
	}
	c := newCtx(b, "ptrace", 0)
	num(c.Evt, "res", 0)
	num(c.Evt, "addr", 0)
	num(c.Evt, "data", 0)
	c.Evt.AddParam("request", request, r)
	num(c.Evt, "pid", pid)
	return c
}

// Symlink is a successful symlinkat(target, AT_FDCWD, linkpath) by b.
func Symlink(b *P, target, linkpath string) *fields.Ctx {
	c := newCtx(b, "symlinkat", 0)
	num(c.Evt, "res", 0)
	text(c.Evt, "target", target)
	num(c.Evt, "linkdirfd", atFDCWD)
	text(c.Evt, "linkpath", linkpath)
	return c
}

// Link is a successful linkat(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0) by b.
func Link(b *P, oldpath, newpath string) *fields.Ctx {
	c := newCtx(b, "linkat", 0)
	num(c.Evt, "res", 0)
	num(c.Evt, "olddir", atFDCWD)
	text(c.Evt, "oldpath", oldpath)
	num(c.Evt, "newdir", atFDCWD)
	text(c.Evt, "newpath", newpath)
	num(c.Evt, "flags", 0)
	return c
}

// Dup2 is a successful dup2(old.Num, newfd) by process b. As in Falco, the
// event's fd is the one duplicated and evt.rawres is newfd.
func Dup2(b *P, old *event.FD, newfd int64) *fields.Ctx {
	c := newCtx(b, "dup2", newfd)
	num(c.Evt, "res", newfd)
	num(c.Evt, "oldfd", old.Num)
	num(c.Evt, "newfd", newfd)
	c.Evt.FD = old
	return c
}

// FinitModule is finit_module on the kernel module file at path, opened
// as fd 3 by process b, returning errno (0 for success).
func FinitModule(b *P, file string, errno syscall.Errno) *fields.Ctx {
	c := newCtx(b, "finit_module", -int64(errno))
	num(c.Evt, "res", -int64(errno))
	num(c.Evt, "fd", 3)
	text(c.Evt, "uargs", "")
	num(c.Evt, "flags", 0)
	resolved := resolve(c.Proc.Cwd, file)
	c.Evt.FD = &event.FD{Num: 3, Type: event.FDFile, Name: resolved, NameRaw: file, TargetContainer: fileRoot(b), TargetPath: resolved}
	return c
}
