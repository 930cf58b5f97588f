package enginetest

import (
	"net/netip"
	"path"
	"strings"
	"syscall"

	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/sensor"
)

// Each function here applies the records of one thing a process does and
// returns the event the translator made of the last, ready for matching.
// The event belongs to the translator of the process's tree: it is valid
// until the next event of that tree, as in the agent's loop.

// atFDCWD is the dirfd of a path relative to the working directory, as a
// syscall argument register holds it.
const atFDCWD = ^uint64(99) // -100

// Exec is the successful execve with which process b started its current
// program: the kernel's sched_process_exec record, after b's fork (and
// setsid) records. The process must not have started yet; for a process
// made by Proc it is the first the agent sees of it, so its parent is
// unknown.
func Exec(b *P) *fields.Ctx {
	if b.kind == kindFork {
		panic("enginetest: Exec of a forked process that executed nothing; use Child")
	}
	b.set("Exec")
	if b.parent != nil {
		b.parent.start()
	}
	b.resolve()
	if b.kind == kindExec {
		b.fork()
	}
	return b.w.ctx(b.execRecord())
}

// resolve returns the absolute, cleaned path a process with working
// directory cwd names with p, as the kernel resolves it.
func resolve(cwd, p string) string {
	if strings.HasPrefix(p, "/") {
		return path.Clean(p)
	}
	return path.Join(cwd, p)
}

// Open is a successful openat(AT_FDCWD, name, flags) by process b, which
// returns the lowest free fd. flags are the kernel's O_* bits (ORdOnly,
// OWrOnly|OCreat|OTrunc, ...). The sensor reports the path as given and
// the kernel's resolution of the opened file.
func Open(b *P, name string, flags int) *fields.Ctx {
	b.start()
	fd := b.newFD(flags&syscall.O_CLOEXEC != 0)
	return b.w.ctx(b.openRecord(name, flags, fd))
}

// OpenFailed is an openat(AT_FDCWD, name, flags) by process b that failed
// with errno: no file behind it.
func OpenFailed(b *P, name string, flags int, errno syscall.Errno) *fields.Ctx {
	b.start()
	return b.w.ctx(b.openRecord(name, flags, -int64(errno)))
}

func (b *P) openRecord(name string, flags int, ret int64) *sensor.Record {
	var mode uint64
	if flags&syscall.O_CREAT != 0 {
		mode = 0o666
	}
	r := b.syscall("openat", ret, atFDCWD, 0, uint64(flags), mode)
	info := b.info()
	r.Syscall.Path[0] = name
	r.Syscall.Dir[0] = info.Cwd
	if ret >= 0 {
		r.Syscall.File = sensor.File{Valid: true, Path: resolve(b.img.cwd, name), Dev: 8<<20 | 3, Ino: 1048602,
			MntNS: info.NS.Mnt, OpenFlags: uint32(flags), Mode: 0o100644, Nlink: 1}
	}
	return r
}

// inetFamily is the address family of an address.
func inetFamily(a netip.Addr) uint16 {
	if a.Is4() || a.Is4In6() {
		return syscall.AF_INET
	}
	return syscall.AF_INET6
}

// Connect is a TCP socket made by process b (the lowest free fd) and its
// successful connect from local to remote.
func Connect(b *P, local, remote netip.AddrPort) *fields.Ctx {
	return ConnectErr(b, local, remote, 0)
}

// ConnectErr is Connect returning errno (0 for success), e.g. EINPROGRESS
// for a non-blocking connect, whose ends the kernel has already set.
func ConnectErr(b *P, local, remote netip.AddrPort, errno syscall.Errno) *fields.Ctx {
	family := inetFamily(remote.Addr())
	fd := tcpSocket(b, family)
	r := b.syscall("connect", -int64(errno), uint64(fd), 0, 16)
	r.Syscall.Sock = sensor.Socket{Valid: true, Family: family, Type: syscall.SOCK_STREAM, Proto: syscall.IPPROTO_TCP,
		Local: local, Remote: remote}
	r.Syscall.Addr = sensor.SockAddr{Valid: true, Family: family, AddrPort: remote}
	return b.w.ctx(r)
}

// tcpSocket applies socket(family, SOCK_STREAM, 0) by b and returns its fd.
func tcpSocket(b *P, family uint16) int64 {
	b.start()
	fd := b.newFD(false)
	r := b.syscall("socket", fd, uint64(family), syscall.SOCK_STREAM, 0)
	r.Syscall.Sock = sensor.Socket{Valid: true, Family: family, Type: syscall.SOCK_STREAM, Proto: syscall.IPPROTO_TCP}
	b.w.ctx(r)
	return fd
}

// Socket is a successful socket(domain, typ, proto) by process b, which
// returns the lowest free fd. domain is a name such as "AF_PACKET".
func Socket(b *P, domain string, typ, proto int64) *fields.Ctx {
	d, ok := socketDomains[domain]
	if !ok {
		panic("enginetest: unknown socket domain " + domain)
	}
	b.start()
	fd := b.newFD(typ&syscall.SOCK_CLOEXEC != 0)
	r := b.syscall("socket", fd, uint64(d), uint64(typ), uint64(proto))
	r.Syscall.Sock = sensor.Socket{Valid: true, Family: d, Type: uint16(typ & 0xf), Proto: uint16(proto)}
	return b.w.ctx(r)
}

// Pipe is a successful pipe2(fds, 0) by process b. The kernel gives it the
// two lowest free fds (read end first); the sensor does not read them from
// the caller's memory, so the state does not learn them.
func Pipe(b *P) *fields.Ctx {
	b.start()
	b.newFD(false)
	b.newFD(false)
	return b.w.ctx(b.syscall("pipe2", 0, 0, 0))
}

// Dup2 is a successful dup2(oldfd, newfd) by process b. As in Falco, the
// event's fd is the duplicate, a copy of oldfd, and evt.rawres is newfd.
func Dup2(b *P, oldfd, newfd int64) *fields.Ctx {
	b.start()
	b.fds[newfd] = false
	return b.w.ctx(b.syscall("dup2", newfd, uint64(oldfd), uint64(newfd)))
}

// Ptrace is a successful ptrace(request, pid) by process b; request is a
// name such as "PTRACE_ATTACH".
func Ptrace(b *P, request string, pid int64) *fields.Ctx {
	r, ok := ptraceRequests[request]
	if !ok {
		panic("enginetest: unknown ptrace request " + request)
	}
	b.start()
	return b.w.ctx(b.syscall("ptrace", 0, r, uint64(pid), 0, 0))
}

// Symlink is a successful symlinkat(target, AT_FDCWD, linkpath) by b.
func Symlink(b *P, target, linkpath string) *fields.Ctx {
	b.start()
	r := b.syscall("symlinkat", 0, 0, atFDCWD, 0)
	r.Syscall.Path = [2]string{target, linkpath}
	r.Syscall.Dir[1] = b.info().Cwd
	return b.w.ctx(r)
}

// Link is a successful linkat(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0) by b.
func Link(b *P, oldpath, newpath string) *fields.Ctx {
	b.start()
	r := b.syscall("linkat", 0, atFDCWD, 0, atFDCWD, 0, 0)
	r.Syscall.Path = [2]string{oldpath, newpath}
	cwd := b.info().Cwd
	r.Syscall.Dir = [2]sensor.File{cwd, cwd}
	return b.w.ctx(r)
}

// FinitModule is process b opening the kernel module file at path
// (O_RDONLY|O_CLOEXEC) and loading it with finit_module, which returns
// errno (0 for success).
func FinitModule(b *P, file string, errno syscall.Errno) *fields.Ctx {
	b.start()
	fd := b.newFD(true)
	open := b.openRecord(file, syscall.O_RDONLY|syscall.O_CLOEXEC, fd)
	b.w.ctx(open)
	r := b.syscall("finit_module", -int64(errno), uint64(fd), 0, 0)
	r.Syscall.File = open.Syscall.File
	return b.w.ctx(r)
}
