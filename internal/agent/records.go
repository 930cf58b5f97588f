package agent

import (
	"encoding/binary"
	"strings"
	"syscall"

	"github.com/truesightsec/truesight/internal/capture"
	"github.com/truesightsec/truesight/internal/sensor"
	"github.com/truesightsec/truesight/internal/state"
)

// syscallArgs is the translation table from the sensor's syscall records
// to the capture format's events: one row per syscall, naming its
// arguments in the kernel's order with the names Falco's event table
// gives the event's parameters. A parameter takes the argument of its
// name; a path argument takes the path the sensor copied for it; the
// parameters no argument gives (results, the file behind an fd, socket
// tuples) come from the record by name (paramValue). A syscall without a
// row, or without an event of its own in the format, becomes a generic
// event. Adding a syscall is adding a row.
var syscallArgs = map[string][]string{
	"open":         {"name", "flags", "mode"},
	"openat":       {"dirfd", "name", "flags", "mode"},
	"openat2":      {"dirfd", "name", "-how"},
	"creat":        {"name", "mode"},
	"close":        {"fd"},
	"dup":          {"oldfd"},
	"dup2":         {"oldfd", "newfd"},
	"dup3":         {"oldfd", "newfd", "flags"},
	"fcntl":        {"fd", "cmd", "arg"},
	"socket":       {"domain", "type", "proto"},
	"connect":      {"fd", "addr"},
	"accept":       {"-fd"},
	"accept4":      {"-fd", "-addr", "-len", "flags"},
	"bind":         {"fd", "addr"},
	"listen":       {"fd", "backlog"},
	"sendto":       {"fd", "data", "size", "-flags", "addr"},
	"recvfrom":     {"fd", "data", "size", "-flags", "addr"},
	"read":         {"fd", "data", "size"},
	"write":        {"fd", "data", "size"},
	"pread64":      {"fd", "data", "size", "pos"}, // event pread
	"pwrite64":     {"fd", "data", "size", "pos"}, // event pwrite
	"readv":        {"fd", "-iov", "-iovcnt"},
	"writev":       {"fd", "-iov", "-iovcnt"},
	"preadv":       {"fd", "-iov", "-iovcnt", "pos"},
	"pwritev":      {"fd", "-iov", "-iovcnt", "pos"},
	"sendmsg":      {"fd", "-msg", "-flags"},
	"recvmsg":      {"fd", "-msg", "-flags"},
	"shutdown":     {"fd", "how"},
	"symlink":      {"target", "linkpath"},
	"symlinkat":    {"target", "linkdirfd", "linkpath"},
	"link":         {"oldpath", "newpath"},
	"linkat":       {"olddir", "oldpath", "newdir", "newpath", "flags"},
	"rename":       {"oldpath", "newpath"},
	"renameat":     {"olddirfd", "oldpath", "newdirfd", "newpath"},
	"renameat2":    {"olddirfd", "oldpath", "newdirfd", "newpath", "flags"},
	"unlink":       {"path"},
	"unlinkat":     {"dirfd", "name", "flags"},
	"mkdir":        {"path", "mode"},
	"mkdirat":      {"dirfd", "path", "mode"},
	"rmdir":        {"path"},
	"chmod":        {"filename", "mode"},
	"fchmodat":     {"dirfd", "filename", "mode"},
	"fchmod":       {"fd", "mode"},
	"truncate":     {"path", "length"},
	"ftruncate":    {"fd", "length"},
	"chdir":        {"path"},
	"fchdir":       {"fd"},
	"chroot":       {"path"},
	"mknod":        {"path", "mode", "dev"},
	"mknodat":      {"dirfd", "path", "mode", "dev"},
	"init_module":  {"-img", "length", "uargs"},
	"finit_module": {"fd", "uargs", "flags"},
	"ptrace":       {"request", "pid", "addr", "data"},
	"kill":         {"pid", "sig"},
	"memfd_create": {"name", "flags"},
	"mmap":         {"addr", "length", "prot", "flags", "fd", "offset"},
	"mprotect":     {"addr", "length", "prot"},
	"setuid":       {"uid"},
	"setgid":       {"gid"},
	"setresuid":    {"ruid", "euid", "suid"},
	"setresgid":    {"rgid", "egid", "sgid"},
	"setreuid":     {"ruid", "euid"},
	"setregid":     {"rgid", "egid"},
	"setsid":       {},
	"pipe":         {"-fds"},
	"pipe2":        {"-fds", "flags"},
	"socketpair":   {"domain", "type", "proto", "-fds"},
	"execve":       {"filename"},
	"execveat":     {"dirfd", "filename"},
	"clone":        {"flags"},
	"clone3":       {},
	"fork":         {},
	"vfork":        {},
}

// eventOfSyscall names the event of syscalls Falco's event table calls
// otherwise.
var eventOfSyscall = map[string]string{"pread64": "pread", "pwrite64": "pwrite"}

// row is a syscall's translation, made from the table and the event
// table on first use.
type row struct {
	known   bool
	code    uint16 // exit event code; generic events have CodeGenericX
	generic uint16 // the syscall id of a generic event
	name    string
	// arg[i] is the argument index of the event's parameter i, -1 when no
	// argument gives it; path[i] the index of the sensor's path copy.
	arg  []int8
	path []int8
}

var rows [512]row

func rowOf(nr int) *row {
	if nr < 0 || nr >= len(rows) {
		return nil
	}
	r := &rows[nr]
	if r.known {
		return r
	}
	r.known = true
	r.name = sensor.SyscallName(nr)
	event := r.name
	if alias, ok := eventOfSyscall[r.name]; ok {
		event = alias
	}
	code, ok := capture.ExitCode(event)
	if !ok || r.name == "" {
		r.code = capture.CodeGenericX
		r.generic, _ = capture.SyscallID(r.name)
		return r
	}
	r.code = code
	info := capture.Info(code)
	args := syscallArgs[r.name]
	r.arg = make([]int8, len(info.Params))
	r.path = make([]int8, len(info.Params))
	for i, p := range info.Params {
		r.arg[i], r.path[i] = -1, -1
		paths := int8(0)
		for a, name := range args {
			isPath := isPathArg(r.name, name)
			if name == p.Name {
				r.arg[i] = int8(a)
				if isPath {
					r.path[i] = paths
				}
				break
			}
			if isPath {
				paths++
			}
		}
	}
	return r
}

// isPathArg reports whether an argument is one of the (at most two) paths
// the sensor copies from the caller, in argument order.
func isPathArg(syscallName, arg string) bool {
	switch arg {
	case "name", "path", "filename", "oldpath", "newpath", "target", "linkpath":
		return syscallName != "memfd_create"
	}
	return false
}

// buildSyscall encodes a syscall record. A successful execve was already
// reported by the kernel's sched_process_exec record, so its exit is no
// event of its own.
func (t *Translator) buildSyscall(r *sensor.Record) bool {
	sc := &r.Syscall
	rw := rowOf(sc.Nr)
	if rw == nil || rw.name == "" {
		return false
	}
	if (rw.name == "execve" || rw.name == "execveat") && sc.Ret >= 0 {
		return false
	}
	t.begin(r, rw.code)
	b := &t.built
	if rw.code == capture.CodeGenericX {
		b.AddNum(int64(rw.generic))
		b.AddNum(int64(sc.RawNr))
		t.genericFacts(rw, sc)
		return true
	}
	if sc.File.Valid && sc.Ret >= 0 {
		t.facts.File = stateFile(&sc.File)
	}
	t.facts.Path = sc.Path[0] // what the first path parameter is made of
	switch rw.name {
	case "execve", "execveat":
		t.failedExec(r, rw)
		return true
	case "clone", "clone3", "fork", "vfork":
		t.cloneParent(r, rw)
		return true
	}
	for i := 0; ; i++ {
		pi, ok := b.Next()
		if !ok {
			break
		}
		t.param(r, rw, i, pi)
	}
	return true
}

// param adds parameter i of a syscall's event.
func (t *Translator) param(r *sensor.Record, rw *row, i int, pi capture.ParamInfo) {
	sc := &r.Syscall
	b := &t.built
	if a := rw.arg[i]; a >= 0 {
		if p := rw.path[i]; p >= 0 && p < 2 {
			b.AddText(sc.Path[p])
			return
		}
		v := sc.Args[a]
		switch pi.Type {
		case capture.ParamFD, capture.ParamFD32, capture.ParamPID, capture.ParamPID32, capture.ParamInt32, capture.ParamInt64:
			b.AddNum(int64(int32(v)))
			return
		case capture.ParamSockAddr:
			t.addSockAddr(sc)
			return
		case capture.ParamByteBuf:
			t.addData(sc, pi)
			return
		case capture.ParamCharBuf:
			b.AddText(sc.Str)
			return
		}
		b.AddNum(int64(t.convert(rw.name, pi.Name, v, sc)))
		return
	}
	switch pi.Name {
	case "res", "fd":
		if i == 0 || pi.Name == "fd" && (rw.name == "accept" || rw.name == "accept4") {
			b.AddNum(sc.Ret)
			return
		}
	case "dev":
		if sc.File.Valid && sc.Ret >= 0 {
			b.AddNum(int64(sc.File.Dev))
			return
		}
	case "ino":
		if rw.name == "pipe" || rw.name == "pipe2" {
			if sc.HasFDs {
				b.AddNum(int64(sc.PipeIno))
				return
			}
			break
		}
		if sc.File.Valid && sc.Ret >= 0 {
			b.AddNum(int64(sc.File.Ino))
			return
		}
	case "flags", "mode", "resolve":
		if rw.name == "openat2" && sc.StructLen >= 24 {
			off := map[string]int{"flags": 0, "mode": 8, "resolve": 16}[pi.Name]
			v := binary.LittleEndian.Uint64(sc.Struct[off:])
			b.AddNum(int64(t.convert(rw.name, pi.Name, v, sc)))
			return
		}
		if rw.name == "creat" && pi.Name == "flags" {
			b.AddNum(int64(t.convert("open", "flags", syscall.O_CREAT|syscall.O_WRONLY|syscall.O_TRUNC, sc)))
			return
		}
	case "creat_flags":
		b.AddNum(int64(capture.KernelOpenFlags(syscall.O_CREAT | syscall.O_WRONLY | syscall.O_TRUNC)))
		return
	case "tuple":
		t.addTuple(rw.name, sc)
		return
	case "addr":
		if pi.Type == capture.ParamSockAddr {
			t.addSockAddr(sc)
			return
		}
	case "size":
		if sc.Ret >= 0 {
			b.AddNum(sc.Ret)
			return
		}
	case "fd1", "fd2":
		// The fds a pipe or socketpair wrote to the caller's memory; when
		// the sensor has none (a failed call), unknown, so no fd is made up.
		if sc.HasFDs {
			n := sc.FDs[0]
			if pi.Name == "fd2" {
				n = sc.FDs[1]
			}
			b.AddNum(n)
			return
		}
		b.AddNum(-1)
		return
	case "cap_inheritable", "cap_permitted", "cap_effective":
		// The sets as the caller's credentials hold them at exit. Without
		// them the parameter is left without a value, not 0: the state
		// machine then keeps the caps it knows instead of clearing them.
		if !sc.HasCaps {
			b.AddBytes(nil)
			return
		}
		switch pi.Name {
		case "cap_inheritable":
			b.AddNum(int64(sc.Caps.Inheritable))
		case "cap_permitted":
			b.AddNum(int64(sc.Caps.Permitted))
		default:
			b.AddNum(int64(sc.Caps.Effective))
		}
		return
	case "uargs":
		b.AddText(sc.Str)
		return
	case "data":
		t.addData(sc, pi)
		return
	}
	b.AddEmpty()
}

// convert turns a kernel value into the format's encoding of a parameter.
func (t *Translator) convert(syscallName, param string, v uint64, sc *sensor.SyscallRecord) uint64 {
	switch param {
	case "flags":
		switch syscallName {
		case "open", "openat", "openat2", "creat":
			f := uint64(capture.KernelOpenFlags(uint32(v)))
			// The layer of the opened file, as the kernel driver reports it.
			if sc.File.Valid && sc.Ret >= 0 && sc.File.Flags&sensor.FileOverlay != 0 {
				if sc.File.Flags&sensor.FileUpper != 0 {
					f |= capture.OpenUpperLayer
				} else {
					f |= capture.OpenLowerLayer
				}
			}
			return f
		case "dup3", "pipe2":
			return uint64(capture.KernelOpenFlags(uint32(v)))
		case "mmap":
			return capture.KernelMmapFlags(v)
		case "clone":
			return uint64(capture.KernelCloneFlags(v))
		}
	case "cmd":
		if syscallName == "fcntl" {
			return capture.KernelFcntlCmd(v)
		}
	case "request":
		if syscallName == "ptrace" {
			return capture.KernelPtraceRequest(v)
		}
	}
	return v
}

// addTuple adds a socket's ends, as the format orients them: source the
// client, destination the server (an accepted connection's peer is the
// source; a receive names the peer as the source, as libsinsp guesses the
// side of an unconnected socket from its first transfer).
func (t *Translator) addTuple(syscallName string, sc *sensor.SyscallRecord) {
	b := &t.built
	s := &sc.Sock
	if !s.Valid {
		b.AddEmpty()
		return
	}
	switch s.Family {
	case syscall.AF_INET, syscall.AF_INET6:
		local, remote := s.Local, s.Remote
		if !remote.IsValid() && sc.Addr.Valid {
			remote = sc.Addr.AddrPort
		}
		if !local.IsValid() && !remote.IsValid() {
			b.AddEmpty()
			return
		}
		peerFirst := syscallName == "accept" || syscallName == "accept4" || syscallName == "recvfrom" || syscallName == "recvmsg"
		if peerFirst {
			local, remote = remote, local
		}
		t.scratch = capture.AppendInetTuple(t.scratch[:0], local.Addr(), local.Port(), remote.Addr(), remote.Port())
	case syscall.AF_UNIX:
		path := s.PeerPath
		if path == "" {
			path = s.LocalPath
		}
		if path == "" && sc.Addr.Valid {
			path = sc.Addr.Path
		}
		t.scratch = capture.AppendUnixTuple(t.scratch[:0], 0, 0, path)
	default:
		b.AddEmpty()
		return
	}
	b.AddBytes(t.scratch)
}

// addSockAddr adds the address the process passed (connect, bind, sendto).
func (t *Translator) addSockAddr(sc *sensor.SyscallRecord) {
	b := &t.built
	a := &sc.Addr
	switch {
	case !a.Valid:
		b.AddEmpty()
		return
	case a.Family == syscall.AF_UNIX:
		t.scratch = capture.AppendUnixAddr(t.scratch[:0], a.Path)
	case a.Family == syscall.AF_INET || a.Family == syscall.AF_INET6:
		t.scratch = capture.AppendInetAddr(t.scratch[:0], a.AddrPort.Addr(), a.AddrPort.Port())
	default:
		b.AddEmpty()
		return
	}
	b.AddBytes(t.scratch)
}

// failedExec reports an execve that failed: what was attempted.
func (t *Translator) failedExec(r *sensor.Record, rw *row) {
	sc := &r.Syscall
	b := &t.built
	for pi, ok := b.Next(); ok; pi, ok = b.Next() {
		switch pi.Name {
		case "res":
			b.AddNum(sc.Ret)
		case "exe", "args":
			t.addArgv(pi.Name, sc.Argv, sc.Path[0])
		case "filename":
			b.AddText(sc.Path[0])
		case "tid":
			b.AddNum(int64(r.Tid))
		case "pid":
			b.AddNum(int64(r.Tgid))
		case "ptid":
			b.AddNum(int64(sc.Task.PPid))
		case "comm":
			b.AddText(sc.Task.Comm)
		case "uid":
			b.AddNum(int64(sc.Task.UID))
		case "gid":
			b.AddNum(int64(sc.Task.GID))
		case "loginuid":
			b.AddNum(int64(sc.Task.LoginUID))
		default:
			b.AddEmpty()
		}
	}
}

// cloneParent reports the parent's half of a clone: the child's pid, and
// the parent as the process table has it.
func (t *Translator) cloneParent(r *sensor.Record, rw *row) {
	sc := &r.Syscall
	b := &t.built
	p := t.Table.ByTid(int64(r.Tid))
	var flags uint64
	if rw.name == "clone" {
		flags = uint64(capture.KernelCloneFlags(sc.Args[0]))
	} else if rw.name == "clone3" && sc.StructLen >= 8 {
		flags = uint64(capture.KernelCloneFlags(binary.LittleEndian.Uint64(sc.Struct[0:])))
	}
	for pi, ok := b.Next(); ok; pi, ok = b.Next() {
		switch {
		case pi.Name == "res":
			b.AddNum(sc.Ret)
		case pi.Name == "tid":
			b.AddNum(int64(r.Tid))
		case pi.Name == "pid":
			b.AddNum(int64(r.Tgid))
		case pi.Name == "ptid":
			b.AddNum(int64(sc.Task.PPid))
		case pi.Name == "flags":
			b.AddNum(int64(flags))
		case pi.Name == "uid":
			b.AddNum(int64(sc.Task.UID))
		case pi.Name == "gid":
			b.AddNum(int64(sc.Task.GID))
		case pi.Name == "comm":
			b.AddText(sc.Task.Comm)
		case p != nil && pi.Name == "exe":
			b.AddText(p.Exe)
		case p != nil && pi.Name == "args":
			b.AddText(nulList(&t.scratch, p.Args))
		case p != nil && pi.Name == "cwd":
			b.AddText(strings.TrimSuffix(p.Cwd, "/"))
		case p != nil && pi.Name == "vtid":
			b.AddNum(p.VTid)
		case p != nil && pi.Name == "vpid":
			b.AddNum(p.VPid)
		case pi.Name == "fdlimit":
			b.AddNum(1024)
		default:
			b.AddEmpty()
		}
	}
}

// stateFile is the kernel's resolution of a file, for the state machine.
func stateFile(f *sensor.File) state.FileFacts {
	return state.FileFacts{Valid: f.Valid, Path: f.Path, MntNS: f.MntNS}
}

// genericFacts keeps what a generic event cannot carry: the result, and
// the file the syscall's row names as its fd or path argument.
func (t *Translator) genericFacts(rw *row, sc *sensor.SyscallRecord) {
	g := &t.facts.Generic
	*g = state.GenericFacts{Valid: true, Res: sc.Ret, FD: -1}
	paths := 0
	for a, name := range syscallArgs[rw.name] {
		switch {
		case name == "fd":
			g.FD = int64(int32(sc.Args[a]))
		case isPathArg(rw.name, name) && paths == 0:
			g.Path = sc.Path[0]
			if sc.Dir[0].Valid {
				g.Dir = sc.Dir[0].Path
			}
			paths++
		}
	}
}

// addData adds the I/O data the sensor copied (the first snaplen bytes),
// or an empty buffer.
func (t *Translator) addData(sc *sensor.SyscallRecord, pi capture.ParamInfo) {
	if pi.Name == "data" && sc.HasData {
		t.built.AddBytes(sc.Data)
		return
	}
	t.built.AddEmpty()
}
