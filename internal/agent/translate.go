package agent

import (
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/sensor"
	"github.com/truesightsec/truesight/internal/state"
)

// Translator applies sensor records to the process table and builds one
// event per syscall record. It is owned by the event loop goroutine.
type Translator struct {
	Table *state.Table
	Users *state.Users

	num uint64
	ev  event.Event
	fd  event.FD

	// mntns maps a mount namespace inode to the full id of the container
	// using it ("host" for the host's), learned from processes: it is how
	// a file reached through /proc/<pid>/root is attributed to the
	// container whose root holds it.
	mntns map[uint32]string
	// hostMntNS is the agent's own mount namespace.
	hostMntNS uint32

	types map[int]event.Type

	// SelfPid is the agent's own pid: its children are marked Own. -1
	// disables the marking (tests that start their workload themselves).
	SelfPid int64
	// SeenContainer, when set, is told every container id a process is
	// found in, so metadata can be fetched before a rule needs it.
	SeenContainer func(fullID string)
}

// NewTranslator returns a translator over a table. hostMntNS is the mount
// namespace inode of the host (the agent's own).
func NewTranslator(t *state.Table, u *state.Users, hostMntNS uint32) *Translator {
	tr := &Translator{Table: t, Users: u, mntns: map[uint32]string{}, hostMntNS: hostMntNS, types: map[int]event.Type{}, SelfPid: int64(os.Getpid())}
	if hostMntNS != 0 {
		tr.mntns[hostMntNS] = container.HostID
	}
	return tr
}

// Seed loads a kernel snapshot of every task into the table.
func (t *Translator) Seed(tasks []sensor.ProcessInfo) {
	for i := range tasks {
		info := &tasks[i]
		if info.Tid != info.Tgid || info.KernelThread {
			continue
		}
		p := &state.Process{Pid: int64(info.Tgid), Tid: int64(info.Tid)}
		t.fill(p, info)
		t.Table.Put(p)
	}
	t.Table.Link()
}

// fill copies what the kernel says about a process into p.
func (t *Translator) fill(p *state.Process, info *sensor.ProcessInfo) {
	p.PPid = int64(info.PPid)
	p.VPid, p.VTid = int64(info.VPid), int64(info.VTid)
	p.Sid, p.VPgid = int64(info.VSid), int64(info.VPgid)
	exe := ""
	var args []string
	if len(info.Args) > 0 {
		exe, args = info.Args[0], info.Args[1:]
	}
	p.SetArgs(exe, args)
	p.SetComm(info.Comm)
	p.ExePath = info.Exe.Path
	p.Env = info.Env
	p.Cwd = dirPath(info.Cwd.Path)
	p.UID, p.GID, p.EUID, p.EGID = info.UID, info.GID, info.EUID, info.EGID
	p.LoginUID = loginUID(info.LoginUID)
	p.TTY = info.TTY
	p.CapEffective, p.CapPermitted, p.CapInherit = info.CapEffective, info.CapPermitted, info.CapInheritable
	p.ExeFromMemfd = info.ExeFromMemfd()
	p.ExeUpperLayer = info.Exe.Flags&sensor.FileUpper != 0
	p.ExeLowerLayer = info.Exe.Flags&sensor.FileOverlay != 0 && !p.ExeUpperLayer
	p.ExeIno, p.ExeCtime, p.ExeMtime = info.Exe.Ino, info.Exe.Ctime, info.Exe.Mtime
	p.ExeWritable = info.Exe.Mode&0o222 != 0 && (info.EUID == 0 || info.Exe.Mode&0o002 != 0)
	if info.StartTime != 0 {
		p.StartTime = info.StartTime
	}
	p.PidNSStart = info.PidNSInitStart
	p.Cgroup = info.Cgroup
	p.ContainerID = container.IDFromCgroup(info.Cgroup)
	if p.ContainerID != "" && t.SeenContainer != nil {
		t.SeenContainer(p.ContainerID)
	}
	p.MntNS, p.PidNS, p.NetNS = uint64(info.NS.Mnt), uint64(info.NS.Pid), uint64(info.NS.Net)
	p.Root = info.Root.Path
	p.RootDev, p.RootIno = uint64(info.Root.Dev), info.Root.Ino
	if p.FDs == nil {
		p.FDs = map[int64]*event.FD{}
	}
	t.learnMntNS(info.NS.Mnt, p.ContainerID)
	if t.Users != nil {
		t.Users.Resolve(p)
	}
}

func (t *Translator) learnMntNS(ns uint32, containerID string) {
	// The host's namespace stays the host's: a runtime's helper (runc init)
	// execs in the container's cgroup before it enters the container's
	// mount namespace.
	if ns == 0 || ns == t.hostMntNS {
		return
	}
	if containerID == "" {
		if _, known := t.mntns[ns]; !known && ns == t.hostMntNS {
			t.mntns[ns] = container.HostID
		}
		return
	}
	t.mntns[ns] = containerID
}

// containerOfMntNS returns the container whose mount namespace holds a
// file, "host" for the host's, "" when unknown.
func (t *Translator) containerOfMntNS(ns uint32) string {
	if ns == 0 {
		return ""
	}
	return t.mntns[ns]
}

func loginUID(u uint32) int64 {
	if u == 0xffffffff {
		return -1
	}
	return int64(u)
}

func dirPath(p string) string {
	if p == "" {
		return ""
	}
	if !strings.HasSuffix(p, "/") {
		return p + "/"
	}
	return p
}

// Apply folds one record into the table. For a syscall record it returns
// the event and the process that made it; for process records it returns
// nil (procexit excepted).
func (t *Translator) Apply(r *sensor.Record) (*event.Event, *state.Process) {
	switch r.Kind {
	case sensor.KindFork:
		pr := &r.Process
		thread := pr.Tid != pr.Tgid
		parent := int64(pr.CallerTgid)
		if !thread {
			parent = int64(pr.PPid)
			if parent == 0 {
				parent = int64(pr.CallerTgid)
			}
		}
		child := t.Table.Fork(parent, int64(pr.Tgid), int64(pr.Tid), thread, r.Time)
		if child != nil && !thread && parent == t.SelfPid {
			child.Own = true
		}
		if child != nil && !thread && pr.Comm != "" {
			child.VPid, child.VTid = int64(pr.VPid), int64(pr.VTid)
		}
		return nil, nil
	case sensor.KindExec:
		pr := &r.Process
		p := t.Table.Get(int64(pr.Tgid))
		if p == nil {
			p = &state.Process{Pid: int64(pr.Tgid), Tid: int64(pr.Tgid), StartTime: r.Time}
			if parent := t.Table.Get(int64(pr.PPid)); parent != nil {
				p.Parent = parent
			}
			t.Table.Put(p)
		}
		// exec resets the fd table's close-on-exec entries; we cannot see
		// which, so keep them (fd numbers are re-described on use).
		t.fill(p, &pr.ProcessInfo)
		if parent := t.Table.Get(p.PPid); parent != nil && p.Parent != parent {
			p.Parent = parent
		}
		// The sensor does not report the agent's own forks, so its
		// children first appear here.
		if p.PPid == t.SelfPid || (p.Parent != nil && p.Parent.Own) {
			p.Own = true
		}
		return nil, nil
	case sensor.KindExit:
		pr := &r.Process
		p := t.Table.Get(int64(pr.Tgid))
		t.Table.Exit(int64(pr.Tgid), int64(pr.Tid), r.Time)
		if p == nil || !pr.GroupDead {
			return nil, nil
		}
		e := t.begin(r, event.MustType("procexit"))
		e.HasRes = false
		e.AddParam("status", strconv.FormatUint(uint64(pr.ExitCode), 10), int64(pr.ExitCode))
		return e, p
	case sensor.KindSyscall:
		return t.syscall(r)
	}
	return nil, nil
}

func (t *Translator) begin(r *sensor.Record, typ event.Type) *event.Event {
	t.num++
	e := &t.ev
	*e = event.Event{Num: t.num, Time: r.Time, Type: typ, Source: event.SourceSyscall,
		CPU: uint16(r.CPU), Tid: int64(r.Tid), Pid: int64(r.Tgid)}
	return e
}

// typeOf maps an x86_64 syscall number to its event type.
func (t *Translator) typeOf(nr int) event.Type {
	if typ, ok := t.types[nr]; ok {
		return typ
	}
	typ, _ := event.TypeByName(sensor.SyscallName(nr))
	t.types[nr] = typ
	return typ
}

// process returns the process that made a syscall, creating a minimal
// entry from the record when the table has none (a process that started
// before the snapshot and was missed, or a dropped fork).
func (t *Translator) process(r *sensor.Record) *state.Process {
	if p := t.Table.ByTid(int64(r.Tid)); p != nil {
		return p
	}
	if p := t.Table.Get(int64(r.Tgid)); p != nil {
		return p
	}
	task := &r.Syscall.Task
	p := &state.Process{Pid: int64(r.Tgid), Tid: int64(r.Tgid), PPid: int64(task.PPid),
		UID: task.UID, GID: task.GID, EUID: task.EUID, EGID: task.EGID, LoginUID: loginUID(task.LoginUID),
		MntNS: uint64(task.MntNS), PidNS: uint64(task.PidNS), FDs: map[int64]*event.FD{}}
	p.SetComm(task.Comm)
	p.Parent = t.Table.Get(p.PPid)
	p.Own = p.PPid == t.SelfPid || (p.Parent != nil && p.Parent.Own)
	if t.Table.Put(p) && t.Users != nil {
		t.Users.Resolve(p)
	}
	return p
}

func (t *Translator) syscall(r *sensor.Record) (*event.Event, *state.Process) {
	sc := &r.Syscall
	typ := t.typeOf(sc.Nr)
	if typ == event.Unknown {
		return nil, nil
	}
	p := t.process(r)
	e := t.begin(r, typ)
	e.Res, e.HasRes = sc.Ret, true
	ok := sc.Ret >= 0
	name := typ.String()
	switch name {
	case "open", "openat", "openat2", "creat":
		fdNum := sc.Ret
		if !ok {
			fdNum = -1
		}
		e.AddParam("fd", strconv.FormatInt(fdNum, 10), fdNum)
		var flags, mode uint64
		switch name {
		case "open":
			flags, mode = sc.Args[1], sc.Args[2]
		case "openat":
			e.AddParam("dirfd", event.FDText(int64(int32(sc.Args[0]))), int64(int32(sc.Args[0])))
			flags, mode = sc.Args[2], sc.Args[3]
		case "openat2":
			e.AddParam("dirfd", event.FDText(int64(int32(sc.Args[0]))), int64(int32(sc.Args[0])))
			if sc.StructLen >= 16 {
				flags = le64(sc.Struct[0:8])
				mode = le64(sc.Struct[8:16])
			}
		case "creat":
			flags, mode = syscall.O_CREAT|syscall.O_WRONLY|syscall.O_TRUNC, sc.Args[1]
		}
		e.AddParam("name", sc.Path[0], 0)
		e.AddSym("flags", event.OpenFlagsText(uint32(flags)), int64(flags))
		e.AddParam("mode", modeText(mode), int64(mode))
		if ok && sc.File.Valid {
			e.AddParam("dev", strconv.FormatUint(uint64(sc.File.Dev), 16), int64(sc.File.Dev))
			e.AddParam("ino", strconv.FormatUint(sc.File.Ino, 10), int64(sc.File.Ino))
		}
		e.FD = t.fileFD(p, sc, fdNum, 0, true)
		if ok {
			e.Paths[0] = e.FD.Name
		}
	case "execve", "execveat":
		t.execParams(e, p, sc)
	case "close":
		fd := int64(int32(sc.Args[0]))
		e.AddParam("res", strconv.FormatInt(sc.Ret, 10), sc.Ret)
		e.AddParam("fd", strconv.FormatInt(fd, 10), fd)
		if f := p.FDs[fd]; f != nil {
			e.FD = f
			if ok {
				delete(p.FDs, fd)
			}
		}
	case "dup", "dup2", "dup3":
		old := int64(int32(sc.Args[0]))
		e.AddParam("res", strconv.FormatInt(sc.Ret, 10), sc.Ret)
		e.AddParam("oldfd", strconv.FormatInt(old, 10), old)
		if name != "dup" {
			nfd := int64(int32(sc.Args[1]))
			e.AddParam("newfd", strconv.FormatInt(nfd, 10), nfd)
		}
		if ok {
			var f event.FD
			if src := p.FDs[old]; src != nil {
				f = *src
			} else if sc.File.Valid {
				f = *t.fileFD(p, sc, sc.Ret, 0, true)
			} else if sc.Sock.Valid {
				f = *t.sockFD(sc, sc.Ret, false)
			}
			f.Num = sc.Ret
			nf := &f
			p.FDs[sc.Ret] = nf
			e.FD = nf
		}
	case "socket":
		fdNum := sc.Ret
		e.AddParam("fd", strconv.FormatInt(fdNum, 10), fdNum)
		e.AddSym("domain", event.SocketFamilyText(sc.Args[0]), int64(sc.Args[0]))
		e.AddParam("type", strconv.FormatUint(sc.Args[1], 10), int64(sc.Args[1]))
		e.AddParam("proto", strconv.FormatUint(sc.Args[2], 10), int64(sc.Args[2]))
		if ok {
			f := t.sockFD(sc, fdNum, false)
			f.Role = event.RoleNone // until a connect, bind, accept or transfer
			if f.Type == event.FDUnknown {
				f.Type = socketType(uint16(sc.Args[0]))
			}
			p.FDs[fdNum] = f
			e.FD = f
		}
	case "connect", "sendto", "sendmsg", "recvfrom", "recvmsg", "shutdown", "bind", "listen", "accept", "accept4":
		t.socketParams(e, p, sc, name)
	case "symlink", "symlinkat":
		e.AddParam("res", strconv.FormatInt(sc.Ret, 10), sc.Ret)
		e.AddParam("target", sc.Path[0], 0)
		if name == "symlinkat" {
			e.AddParam("linkdirfd", event.FDText(int64(int32(sc.Args[1]))), int64(int32(sc.Args[1])))
		}
		e.AddParam("linkpath", sc.Path[1], 0)
		e.Paths[1] = resolve(sc.Dir[1], sc.Path[1])
	case "link", "linkat", "rename", "renameat", "renameat2":
		e.AddParam("res", strconv.FormatInt(sc.Ret, 10), sc.Ret)
		at := name == "linkat" || name == "renameat" || name == "renameat2"
		if at {
			dn := "olddirfd"
			if name == "linkat" {
				dn = "olddir"
			}
			e.AddParam(dn, event.FDText(int64(int32(sc.Args[0]))), int64(int32(sc.Args[0])))
		}
		e.AddParam("oldpath", sc.Path[0], 0)
		if at {
			dn := "newdirfd"
			if name == "linkat" {
				dn = "newdir"
			}
			e.AddParam(dn, event.FDText(int64(int32(sc.Args[2]))), int64(int32(sc.Args[2])))
		}
		e.AddParam("newpath", sc.Path[1], 0)
		if name == "linkat" || name == "renameat2" {
			e.AddParam("flags", strconv.FormatUint(sc.Args[4], 10), int64(sc.Args[4]))
		}
		e.Paths[0] = resolve(sc.Dir[0], sc.Path[0])
		e.Paths[1] = resolve(sc.Dir[1], sc.Path[1])
	case "unlink", "unlinkat", "mkdir", "mkdirat", "chmod", "fchmodat", "truncate", "rmdir", "mknod", "mknodat":
		e.AddParam("res", strconv.FormatInt(sc.Ret, 10), sc.Ret)
		pname := "path"
		switch name {
		case "unlinkat":
			pname = "name"
		case "chmod", "fchmodat":
			pname = "filename"
		}
		if strings.HasSuffix(name, "at") {
			e.AddParam("dirfd", event.FDText(int64(int32(sc.Args[0]))), int64(int32(sc.Args[0])))
		}
		e.AddParam(pname, sc.Path[0], 0)
		e.Paths[0] = resolve(sc.Dir[0], sc.Path[0])
	case "ftruncate", "fchmod", "fchdir", "finit_module":
		fd := int64(int32(sc.Args[0]))
		e.AddParam("res", strconv.FormatInt(sc.Ret, 10), sc.Ret)
		e.AddParam("fd", strconv.FormatInt(fd, 10), fd)
		if name == "finit_module" {
			e.AddParam("uargs", sc.Str, 0)
			e.AddParam("flags", strconv.FormatUint(sc.Args[2], 10), int64(sc.Args[2]))
		}
		if f := p.FDs[fd]; f != nil {
			e.FD = f
		} else if sc.File.Valid {
			e.FD = t.fileFD(p, sc, fd, -1, false)
		}
		if e.FD != nil {
			e.Paths[0] = e.FD.Name
		}
		if name == "fchdir" && ok && sc.Cwd.Valid {
			p.Cwd = dirPath(sc.Cwd.Path)
		}
	case "chdir":
		e.AddParam("res", strconv.FormatInt(sc.Ret, 10), sc.Ret)
		e.AddParam("path", sc.Path[0], 0)
		if ok && sc.Cwd.Valid {
			p.Cwd = dirPath(sc.Cwd.Path)
		}
	case "init_module":
		e.AddParam("res", strconv.FormatInt(sc.Ret, 10), sc.Ret)
		e.AddParam("length", strconv.FormatUint(sc.Args[1], 10), int64(sc.Args[1]))
		e.AddParam("uargs", sc.Str, 0)
	case "ptrace":
		e.AddParam("res", strconv.FormatInt(sc.Ret, 10), sc.Ret)
		e.AddSym("request", event.PtraceRequestText(sc.Args[0]), int64(sc.Args[0]))
		e.AddParam("pid", strconv.FormatInt(int64(int32(sc.Args[1])), 10), int64(int32(sc.Args[1])))
	case "kill":
		e.AddParam("res", strconv.FormatInt(sc.Ret, 10), sc.Ret)
		e.AddParam("pid", strconv.FormatInt(int64(int32(sc.Args[0])), 10), int64(int32(sc.Args[0])))
		e.AddSym("sig", event.SignalText(sc.Args[1]), int64(sc.Args[1]))
	case "memfd_create":
		e.AddParam("fd", strconv.FormatInt(sc.Ret, 10), sc.Ret)
		e.AddParam("name", sc.Str, 0)
		e.AddParam("flags", strconv.FormatUint(sc.Args[1], 10), int64(sc.Args[1]))
		if ok {
			f := &event.FD{Num: sc.Ret, Type: event.FDMemfd, Name: "memfd:" + sc.Str}
			p.FDs[sc.Ret] = f
			e.FD = f
		}
	case "mmap", "mprotect":
		e.AddParam("res", strconv.FormatInt(sc.Ret, 10), sc.Ret)
		e.AddParam("addr", strconv.FormatUint(sc.Args[0], 16), int64(sc.Args[0]))
		e.AddParam("length", strconv.FormatUint(sc.Args[1], 10), int64(sc.Args[1]))
		e.AddSym("prot", event.ProtText(sc.Args[2]), int64(sc.Args[2]))
		if name == "mmap" {
			e.AddSym("flags", event.MmapFlagsText(sc.Args[3]), int64(sc.Args[3]))
			e.AddParam("fd", strconv.FormatInt(int64(int32(sc.Args[4])), 10), int64(int32(sc.Args[4])))
		}
		if sc.File.Valid {
			e.FD = t.fileFD(p, sc, int64(int32(sc.Args[4])), -1, false)
			e.Paths[0] = e.FD.Name
		}
	case "setuid", "setgid", "setresuid", "setresgid", "setreuid", "setregid":
		e.AddParam("res", strconv.FormatInt(sc.Ret, 10), sc.Ret)
		for i, n := range idParamNames[name] {
			e.AddParam(n, strconv.FormatInt(int64(int32(sc.Args[i])), 10), int64(int32(sc.Args[i])))
		}
		if ok {
			task := &sc.Task
			p.UID, p.GID, p.EUID, p.EGID = task.UID, task.GID, task.EUID, task.EGID
			if t.Users != nil {
				t.Users.Resolve(p)
			}
		}
	case "clone", "clone3", "fork", "vfork":
		e.AddParam("res", strconv.FormatInt(sc.Ret, 10), sc.Ret)
		e.AddParam("exe", p.Exe, 0)
		e.AddParam("args", p.ArgsText, 0)
		e.AddParam("tid", strconv.FormatInt(e.Tid, 10), e.Tid)
		e.AddParam("pid", strconv.FormatInt(e.Pid, 10), e.Pid)
		e.AddParam("ptid", strconv.FormatInt(p.PPid, 10), p.PPid)
		e.AddParam("cwd", p.Cwd, 0)
		e.AddParam("comm", p.Comm, 0)
		if name == "clone" {
			e.AddParam("flags", strconv.FormatUint(sc.Args[0], 10), int64(sc.Args[0]))
		}
	default:
		e.AddParam("res", strconv.FormatInt(sc.Ret, 10), sc.Ret)
	}
	return e, p
}

var idParamNames = map[string][]string{
	"setuid": {"uid"}, "setgid": {"gid"},
	"setresuid": {"ruid", "euid", "suid"}, "setresgid": {"rgid", "egid", "sgid"},
	"setreuid": {"ruid", "euid"}, "setregid": {"rgid", "egid"},
}

// modeTexts are the octal texts of the permission modes, rendered once:
// every open carries one.
var modeTexts = func() (t [0o1000]string) {
	for m := range t {
		t[m] = "0" + strconv.FormatUint(uint64(m), 8)
	}
	return t
}()

// modeText renders a mode in octal with a leading 0, as Falco does.
func modeText(m uint64) string {
	if m < uint64(len(modeTexts)) {
		return modeTexts[m]
	}
	return "0" + strconv.FormatUint(m, 8)
}

func le64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// resolve joins a relative path to the directory the kernel resolved for
// it; absolute paths are cleaned. Falco does the same for fd.name.
func resolve(dir sensor.File, p string) string {
	if p == "" {
		return ""
	}
	if p[0] == '/' {
		return path.Clean(p)
	}
	if !dir.Valid || dir.Path == "" {
		return ""
	}
	return path.Join(dir.Path, p)
}

// fileFD describes the file of a syscall as an fd. store puts it in the
// process's fd table. slot 0 uses the raw path argument for fd.nameraw.
func (t *Translator) fileFD(p *state.Process, sc *sensor.SyscallRecord, num int64, rawSlot int, store bool) *event.FD {
	f := &t.fd
	*f = event.FD{Num: num}
	if rawSlot >= 0 {
		f.NameRaw = sc.Path[rawSlot]
	}
	if sc.Ret < 0 || !sc.File.Valid {
		// A failed open: Falco names the fd after the path argument,
		// made absolute against the directory it was relative to.
		f.Type = event.FDFile
		f.Name = resolve(sc.Dir[0], f.NameRaw)
		if f.Name == "" {
			f.Name = f.NameRaw
		}
		return f
	}
	file := &sc.File
	f.Type = event.FDFile
	switch {
	case file.Flags&sensor.FileMemfd != 0:
		f.Type = event.FDMemfd
	case file.Mode&syscall.S_IFMT == syscall.S_IFDIR:
		f.Type = event.FDDirectory
	}
	f.Name = file.Path
	f.Flags = file.OpenFlags
	f.Mode = file.Mode
	f.Dev = file.Dev
	f.Ino = file.Ino
	f.Upper = file.Flags&sensor.FileUpper != 0
	f.Lower = file.Flags&sensor.FileOverlay != 0 && !f.Upper
	f.TargetPath = file.Path
	f.TargetContainer = t.containerOfMntNS(file.MntNS)
	if f.TargetContainer == "" && uint64(file.MntNS) == p.MntNS {
		f.TargetContainer = p.ContainerID
		if f.TargetContainer == "" {
			f.TargetContainer = container.HostID
		}
	}
	if store {
		stored := *f
		p.FDs[num] = &stored
		return &stored
	}
	out := *f
	return &out
}

func socketType(family uint16) event.FDType {
	switch family {
	case syscall.AF_INET:
		return event.FDIPv4
	case syscall.AF_INET6:
		return event.FDIPv6
	case syscall.AF_UNIX:
		return event.FDUnix
	case syscall.AF_NETLINK:
		return event.FDNetlink
	}
	return event.FDUnknown
}

// sockFD describes a socket; server says the local end is the server
// (accept, bind/listen).
func (t *Translator) sockFD(sc *sensor.SyscallRecord, num int64, server bool) *event.FD {
	s := &sc.Sock
	f := &event.FD{Num: num, Type: socketType(s.Family)}
	switch s.Type {
	case syscall.SOCK_STREAM:
		f.L4 = event.L4TCP
	case syscall.SOCK_DGRAM:
		f.L4 = event.L4UDP
		if s.Proto == syscall.IPPROTO_ICMP || s.Proto == syscall.IPPROTO_ICMPV6 {
			f.L4 = event.L4ICMP
		}
	case syscall.SOCK_RAW:
		f.L4 = event.L4Raw
		if s.Proto == syscall.IPPROTO_ICMP || s.Proto == syscall.IPPROTO_ICMPV6 {
			f.L4 = event.L4ICMP
		}
	}
	f.Family = s.Family
	local, remote := s.Local, s.Remote
	if !remote.IsValid() && sc.Addr.Valid {
		remote = sc.Addr.AddrPort
	}
	f.LocalIsServer = server
	f.Role = event.RoleClient
	if server {
		f.Role = event.RoleServer
	}
	if server {
		f.ServerIP, f.ServerPort = local.Addr().Unmap(), local.Port()
		f.ClientIP, f.ClientPort = remote.Addr().Unmap(), remote.Port()
	} else {
		f.ClientIP, f.ClientPort = local.Addr().Unmap(), local.Port()
		f.ServerIP, f.ServerPort = remote.Addr().Unmap(), remote.Port()
	}
	f.Connected = remote.IsValid() && remote.Port() != 0
	switch f.Type {
	case event.FDIPv4, event.FDIPv6:
		switch {
		case !local.IsValid() && !remote.IsValid():
			// A new socket: no name until it has an end (libsinsp).
		case server && !remote.IsValid():
			// Bound or listening: named by its own address.
			f.Name = event.AddrPortName(f.ServerIP, f.ServerPort)
		default:
			f.Name = event.TupleName(f.ClientIP, f.ClientPort, f.ServerIP, f.ServerPort)
		}
	case event.FDUnix:
		f.Name = s.PeerPath
		if f.Name == "" {
			f.Name = s.LocalPath
		}
		if f.Name == "" && sc.Addr.Valid {
			f.Name = sc.Addr.Path
		}
	}
	return f
}

func (t *Translator) socketParams(e *event.Event, p *state.Process, sc *sensor.SyscallRecord, name string) {
	ok := sc.Ret >= 0
	switch name {
	case "accept", "accept4":
		e.AddParam("fd", strconv.FormatInt(sc.Ret, 10), sc.Ret)
	default:
		e.AddParam("res", strconv.FormatInt(sc.Ret, 10), sc.Ret)
	}
	fd := int64(int32(sc.Args[0]))
	if name == "accept" || name == "accept4" {
		fd = sc.Ret
	} else {
		e.AddParam("fd", strconv.FormatInt(fd, 10), fd)
	}
	if !sc.Sock.Valid {
		if f := p.FDs[fd]; f != nil {
			e.FD = f
		}
		return
	}
	server := name == "accept" || name == "accept4" || name == "bind" || name == "listen"
	switch name {
	case "sendto", "sendmsg", "recvfrom", "recvmsg", "shutdown":
		// A transfer keeps the side the socket has; one without a side
		// yet takes it from the direction, as libsinsp guesses: the first
		// to receive is the server.
		if old := p.FDs[fd]; old != nil && old.Role != event.RoleNone {
			server = old.LocalIsServer
		} else {
			server = name == "recvfrom" || name == "recvmsg"
		}
	}
	f := t.sockFD(sc, fd, server)
	e.AddParam("tuple", f.Name, 0)
	if sc.Addr.Valid {
		e.AddParam("addr", sc.Addr.AddrPort.String(), 0)
	}
	if ok || name == "connect" {
		if old := p.FDs[fd]; old == nil || old.Name != f.Name {
			f.NameChanged = old != nil
		}
		if fd >= 0 {
			p.FDs[fd] = f
		}
	}
	e.FD = f
}

func (t *Translator) execParams(e *event.Event, p *state.Process, sc *sensor.SyscallRecord) {
	e.AddParam("res", strconv.FormatInt(sc.Ret, 10), sc.Ret)
	if sc.Ret < 0 {
		// A failed exec changes nothing: report what was attempted.
		exe, args := sc.Path[0], ""
		if len(sc.Argv) > 0 {
			exe = sc.Argv[0]
			args = strings.Join(sc.Argv[1:], " ")
		}
		e.AddParam("exe", exe, 0)
		e.AddParam("args", args, 0)
		e.Paths[0] = resolve(sc.Dir[0], sc.Path[0])
		return
	}
	e.AddParam("exe", p.Exe, 0)
	e.AddParam("args", p.ArgsText, 0)
	e.AddParam("tid", strconv.FormatInt(e.Tid, 10), e.Tid)
	e.AddParam("pid", strconv.FormatInt(e.Pid, 10), e.Pid)
	e.AddParam("ptid", strconv.FormatInt(p.PPid, 10), p.PPid)
	e.AddParam("cwd", p.Cwd, 0)
	e.AddParam("comm", p.Comm, 0)
	e.AddParam("tty", strconv.FormatUint(uint64(p.TTY), 10), int64(p.TTY))
	e.AddParam("loginuid", strconv.FormatInt(p.LoginUID, 10), p.LoginUID)
	e.Paths[0] = p.ExePath
}
