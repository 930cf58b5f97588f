package agent

import (
	"os"
	"strings"

	"github.com/truesightsec/truesight/internal/capture"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/sensor"
	"github.com/truesightsec/truesight/internal/state"
)

// Translator turns sensor records into events of the capture format's
// shape (internal/agent/records.go: one row per syscall) and hands them to
// the state machine that replay uses too, so live and replay keep one
// state and give the same field values. It is owned by the event loop
// goroutine.
type Translator struct {
	Table   *state.Table
	Users   *state.Users
	Machine *state.Machine

	// SelfPid is the agent's own pid: its children are marked Own. -1
	// disables the marking (tests that start their workload themselves).
	SelfPid int64
	// SeenContainer, when set, is told every container id a process is
	// found in, so metadata can be fetched before a rule needs it.
	SeenContainer func(fullID string)
	// Needs, when set, says which event types get their parameters and
	// paths rendered (those some rule or output reads); nil renders all.
	Needs []bool

	num     uint64
	built   capture.Event
	sc      capture.Syscall
	facts   state.Facts
	task    state.TaskFacts
	scratch []byte
	// pending is set between Apply and the next one: the machine's
	// after-rules changes wait until the loop is done with the event.
	pending bool
}

// NewTranslator returns a translator over a table. hostMntNS is the mount
// namespace inode of the host (the agent's own).
func NewTranslator(t *state.Table, u *state.Users, hostMntNS uint32) *Translator {
	tr := &Translator{Table: t, Users: u, SelfPid: int64(os.Getpid())}
	tr.Machine = state.NewMachineOn(t, hostMntNS)
	if u != nil {
		tr.Machine.Resolve = u.Resolve
	}
	tr.Machine.OnContainer = func(id string) {
		if tr.SeenContainer != nil {
			tr.SeenContainer(id)
		}
	}
	tr.sc.Exit = &tr.built
	return tr
}

// Built returns the capture event the last Apply built (what `truesight
// capture` writes), or nil when it built none.
func (t *Translator) Built() *capture.Event {
	if t.built.Info == nil {
		return nil
	}
	return &t.built
}

// Seed loads a kernel snapshot of every task into the table, through the
// capture format's process table entries (Threads returns them for a
// capture file).
func (t *Translator) Seed(tasks []sensor.ProcessInfo) []*capture.ThreadInfo {
	var threads []*capture.ThreadInfo
	for i := range tasks {
		if info := &tasks[i]; !info.KernelThread {
			threads = append(threads, threadInfo(info))
		}
	}
	t.Machine.Self = t.SelfPid
	t.Machine.SeedThreads(threads)
	for i := range tasks {
		info := &tasks[i]
		if info.Tid != info.Tgid || info.KernelThread {
			continue
		}
		t.Machine.ApplyTask(int64(info.Tgid), taskFacts(info, &t.task))
	}
	return threads
}

// threadInfo describes a task as an entry of a capture's process table.
func threadInfo(info *sensor.ProcessInfo) *capture.ThreadInfo {
	th := &capture.ThreadInfo{
		Tid: int64(info.Tid), Pid: int64(info.Tgid), PTid: int64(info.PPid), Sid: int64(info.VSid),
		VPgid: int64(info.VPgid), VTid: int64(info.VTid), VPid: int64(info.VPid), Comm: info.Comm,
		ExePath: info.Exe.Path, Cwd: strings.TrimSuffix(info.Cwd.Path, "/"), FDLimit: 1024,
		UID: info.UID, GID: info.GID, Env: info.Env, Root: info.Root.Path,
		PidNSInitStart: uint64(info.PidNSInitStart), TTY: info.TTY, LoginUID: info.LoginUID,
		CapInheritable: info.CapInheritable, CapPermitted: info.CapPermitted, CapEffective: info.CapEffective,
		ExeWritable:   exeWritable(info),
		ExeUpperLayer: info.Exe.Flags&sensor.FileUpper != 0, ExeFromMemfd: info.ExeFromMemfd(),
		ExeIno: info.Exe.Ino, ExeCtime: uint64(info.Exe.Ctime), ExeMtime: uint64(info.Exe.Mtime),
	}
	if th.Cwd == "" && info.Cwd.Path != "" {
		th.Cwd = "/"
	}
	if len(info.Args) > 0 {
		th.Exe, th.Args = info.Args[0], info.Args[1:]
	}
	if info.Cgroup != "" {
		th.Cgroups = []string{"cpu=" + info.Cgroup}
	}
	return th
}

func exeWritable(info *sensor.ProcessInfo) bool {
	return info.Exe.Mode&0o222 != 0 && (info.EUID == 0 || info.Exe.Mode&0o002 != 0)
}

func taskFacts(info *sensor.ProcessInfo, f *state.TaskFacts) *state.TaskFacts {
	*f = state.TaskFacts{MntNS: info.NS.Mnt, PidNS: info.NS.Pid, NetNS: info.NS.Net,
		Root: info.Root.Path, RootDev: uint64(info.Root.Dev), RootIno: info.Root.Ino, StartTime: info.StartTime}
	return f
}

// Apply folds one record into the state and returns the event it is and
// the process that made it; nil for records that are no event (the exit of
// an exec the sched_process_exec record already reported).
func (t *Translator) Apply(r *sensor.Record) (*event.Event, *state.Process) {
	t.Done()
	t.Machine.Self = t.SelfPid
	t.built.Info = nil
	t.facts = state.Facts{}
	if !t.build(r) {
		return nil, nil
	}
	e, p := t.Machine.Handle(&t.sc, &t.facts, t.needs())
	t.pending = true
	return e, p
}

// Done applies the state changes that wait until the rules have seen the
// event Apply returned (a close, an exit). Apply does it too, for the
// previous event, when it was not called.
func (t *Translator) Done() {
	if t.pending {
		t.Machine.Done()
		t.pending = false
	}
}

// needs reports whether the built event's type gets its parameters.
func (t *Translator) needs() bool {
	if t.Needs == nil {
		return true
	}
	typ := t.Machine.TypeOf(t.built.Code)
	if t.built.Code == capture.CodeGenericX {
		if id, ok := t.built.Uint(0); ok {
			typ, _ = t.Machine.GenericType(id)
		}
	}
	return int(typ) < len(t.Needs) && t.Needs[typ]
}

// build encodes a record as a capture event in t.built.
func (t *Translator) build(r *sensor.Record) bool {
	switch r.Kind {
	case sensor.KindFork:
		t.buildFork(r)
	case sensor.KindExec:
		t.buildExec(r, &r.Process.ProcessInfo, r.Process.Filename)
	case sensor.KindExit:
		t.begin(r, procexitCode)
		pr := &r.Process
		for pi, ok := t.built.Next(); ok; pi, ok = t.built.Next() {
			switch pi.Name {
			case "status":
				t.built.AddNum(int64(pr.ExitCode))
			case "ret":
				t.built.AddNum(int64(pr.ExitCode >> 8))
			case "sig":
				t.built.AddNum(int64(pr.ExitCode & 0x7f))
			case "core":
				t.built.AddNum(int64(pr.ExitCode >> 7 & 1))
			default:
				t.built.AddEmpty()
			}
		}
	case sensor.KindSyscall:
		return t.buildSyscall(r)
	default:
		return false
	}
	return true
}

var (
	procexitCode, _ = capture.ExitCode("procexit")
	cloneCode, _    = capture.ExitCode("clone")
	execveCode, _   = capture.ExitCode("execve")
)

func (t *Translator) begin(r *sensor.Record, code uint16) {
	t.num++
	t.built.Begin(code, t.num, uint16(r.CPU), r.Time, int64(r.Tid))
}

// buildFork makes the child's half of a clone: the kernel's
// sched_process_fork names the child and its parent.
func (t *Translator) buildFork(r *sensor.Record) {
	pr := &r.Process
	thread := pr.Tid != pr.Tgid
	parent := int64(pr.CallerTgid)
	if !thread && pr.PPid != 0 {
		parent = int64(pr.PPid)
	}
	flags := uint64(capture.KernelCloneFlags(pr.CloneFlags))
	if thread {
		flags |= cloneThreadFlag
	}
	t.begin(r, cloneCode)
	t.processParams(r, &pr.ProcessInfo, processParams{res: 0, ptid: parent, flags: flags, exe: false})
	if !thread {
		t.facts.Task = taskFacts(&pr.ProcessInfo, &t.task)
	}
}

// cloneThreadFlag is PPM_CL_CLONE_THREAD.
const cloneThreadFlag = 1 << 13

// buildExec makes a successful execve from the kernel's sched_process_exec
// record, which describes the new image in full.
func (t *Translator) buildExec(r *sensor.Record, info *sensor.ProcessInfo, filename string) {
	t.begin(r, execveCode)
	var flags uint64
	if exeWritable(info) {
		flags |= 1
	}
	if info.Exe.Flags&sensor.FileUpper != 0 {
		flags |= 2
	}
	if info.ExeFromMemfd() {
		flags |= 4
	}
	if info.Exe.Flags&sensor.FileOverlay != 0 && info.Exe.Flags&sensor.FileUpper == 0 {
		flags |= 8
	}
	t.processParams(r, info, processParams{ptid: int64(info.PPid), flags: flags, exe: true, filename: filename})
	t.facts.Task = taskFacts(info, &t.task)
}

type processParams struct {
	res      int64
	ptid     int64
	flags    uint64
	exe      bool // an exec: the image's own parameters
	filename string
}

// processParams adds the parameters of execve and clone events.
func (t *Translator) processParams(r *sensor.Record, info *sensor.ProcessInfo, pp processParams) {
	b := &t.built
	for pi, ok := b.Next(); ok; pi, ok = b.Next() {
		switch pi.Name {
		case "res":
			b.AddNum(pp.res)
		case "exe", "args":
			t.addArgv(pi.Name, info.Args, "")
		case "env":
			b.AddText(nulList(&t.scratch, info.Env))
		case "tid":
			b.AddNum(int64(r.Tid))
		case "pid":
			b.AddNum(int64(info.Tgid))
		case "ptid":
			b.AddNum(pp.ptid)
		case "cwd":
			if info.Cwd.Valid && pp.exe {
				b.AddText(info.Cwd.Path)
			} else {
				b.AddEmpty()
			}
		case "comm":
			b.AddText(info.Comm)
		case "cgroups":
			if info.Cgroup != "" {
				b.AddText("cpu=" + info.Cgroup + "\x00")
			} else {
				b.AddEmpty()
			}
		case "flags":
			b.AddNum(int64(pp.flags))
		case "uid":
			b.AddNum(int64(info.UID))
		case "gid":
			b.AddNum(int64(info.GID))
		case "vtid":
			b.AddNum(int64(info.VTid))
		case "vpid":
			b.AddNum(int64(info.VPid))
		case "vpgid", "pgid":
			b.AddNum(int64(info.VPgid))
		case "pidns_init_start_ts":
			b.AddNum(info.PidNSInitStart)
		case "tty":
			b.AddNum(int64(info.TTY))
		case "loginuid":
			b.AddNum(int64(info.LoginUID))
		case "cap_inheritable":
			b.AddNum(int64(info.CapInheritable))
		case "cap_permitted":
			b.AddNum(int64(info.CapPermitted))
		case "cap_effective":
			b.AddNum(int64(info.CapEffective))
		case "exe_ino":
			b.AddNum(int64(info.Exe.Ino))
		case "exe_ino_ctime":
			b.AddNum(info.Exe.Ctime)
		case "exe_ino_mtime":
			b.AddNum(info.Exe.Mtime)
		case "trusted_exepath":
			b.AddText(info.Exe.Path)
		case "filename":
			b.AddText(pp.filename)
		case "fdlimit":
			b.AddNum(1024)
		default:
			b.AddEmpty()
		}
	}
}

// addArgv adds the exe (argv[0], else fallback) or args (the rest, each
// NUL-ended) parameter of an argument vector.
func (t *Translator) addArgv(param string, argv []string, fallback string) {
	b := &t.built
	switch {
	case param == "exe" && len(argv) > 0:
		b.AddText(argv[0])
	case param == "exe" && fallback != "":
		b.AddText(fallback)
	case param == "args" && len(argv) > 1:
		b.AddText(nulList(&t.scratch, argv[1:]))
	default:
		b.AddEmpty()
	}
}

// nulList joins strings each ended by a NUL, as the format's lists are.
func nulList(buf *[]byte, list []string) string {
	b := (*buf)[:0]
	for _, s := range list {
		b = append(b, s...)
		b = append(b, 0)
	}
	*buf = b
	return string(b)
}
