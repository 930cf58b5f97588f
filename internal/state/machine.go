package state

import (
	"path"
	"strconv"
	"strings"
	"unsafe"

	"github.com/truesightsec/truesight/internal/capture"
	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/event"
)

// Machine applies events in the capture format's shape (an event code
// with typed parameters by name, as Falco's event table defines them) to
// the process table, and builds the truesight event each one becomes. It
// is the one owner of every state transition: the live sensor's records
// are encoded into this shape (internal/agent), and capture files are
// read in it (internal/replay), so the same activity gives the same state
// and the same field values in both.
//
// A Machine is driven by one goroutine. Handle returns an event that is
// valid until the next Handle; Done applies what must wait until the rules
// have seen the event (a close, an exit).
type Machine struct {
	// Table is the process state.
	Table *Table

	// Resolve, when set, fills in the user, login and group names of a
	// process from its ids (the live agent reads the process's own root);
	// otherwise names come from the capture's user and group lists.
	Resolve func(p *Process)
	// OnContainer, when set, is told every container id a process is found
	// in (so metadata can be fetched before a rule needs it).
	OnContainer func(fullID string)
	// OnThreadExit, when set, is told each thread whose exit was applied.
	OnThreadExit func(tid int64)
	// Self is the pid whose children are marked Own (the agent itself);
	// 0 or less marks none.
	Self int64

	// UnknownThreads counts threads first seen in an event rather than in
	// a table or a clone; an empty process stands in for each, as libsinsp
	// does.
	UnknownThreads uint64

	users      map[uint32]capture.User
	groups     map[uint32]string
	containers map[string]*container.Info
	// mntns maps a mount namespace inode to the id of the container using
	// it (container.HostID for the host's), learned from process facts: it
	// attributes a file reached through /proc/<pid>/root to the container
	// whose root holds it.
	mntns     map[uint32]string
	hostMntNS uint32

	typeOf [capture.NumCodes]event.Type
	kindOf [capture.NumCodes]kind
	// genericType maps the syscall id of a generic event to the event type
	// of that name, when truesight has one, else syscall.
	genericType []event.Type

	ev        event.Event
	lazy      lazyParams
	arena     []byte
	failed    event.FD
	unknownFD event.FD
	lastTid   int64
	lastProc  *Process
	post      postAction
}

// NewMachine returns a Machine over an empty table bounded to maxProcs
// processes (0: DefaultMaxProcesses). hostMntNS is the host's mount
// namespace inode (0 when unknown, as in replay).
func NewMachine(maxProcs int, hostMntNS uint32) *Machine {
	return NewMachineOn(NewTable(maxProcs), hostMntNS)
}

// NewMachineOn returns a Machine that keeps its state in t.
func NewMachineOn(t *Table, hostMntNS uint32) *Machine {
	m := &Machine{
		Table:      t,
		users:      map[uint32]capture.User{},
		groups:     map[uint32]string{},
		containers: map[string]*container.Info{},
		mntns:      map[uint32]string{},
		hostMntNS:  hostMntNS,
	}
	if hostMntNS != 0 {
		m.mntns[hostMntNS] = container.HostID
	}
	syscallType, _ := event.TypeByName("syscall")
	for code := 0; code < capture.NumCodes; code++ {
		info := capture.Info(uint16(code))
		t, ok := event.TypeByName(info.Name)
		if !ok {
			t = syscallType
		}
		m.typeOf[code] = t
		m.kindOf[code] = kindByName[info.Name]
	}
	for id := 0; id < capture.NumSyscalls; id++ {
		t, ok := event.TypeByName(capture.SyscallName(uint16(id)))
		if !ok {
			t = syscallType
		}
		m.genericType = append(m.genericType, t)
	}
	m.lazy.m = m
	return m
}

// ChangesState reports whether events of a code change process state, so
// a reader must not pass them over.
func (m *Machine) ChangesState(code uint16) bool { return m.kindOf[code] != kNone }

// TypeOf returns the event type of an event code (generic events: syscall).
func (m *Machine) TypeOf(code uint16) event.Type { return m.typeOf[code] }

// GenericType returns the event type of a generic event's syscall id.
func (m *Machine) GenericType(id uint64) (event.Type, bool) {
	if id >= uint64(len(m.genericType)) {
		return 0, false
	}
	return m.genericType[id], true
}

// Event returns the event being handled (the one Handle last returned).
func (m *Machine) Event() *event.Event { return &m.ev }

// Handle applies one joined event to state, before the rules see it, and
// returns the truesight event it is and the process it belongs to (nil
// when unknown). facts, when not nil, are what the live sensor knows
// beyond the parameters. With params set the event's parameters are
// rendered on first use (event.Loader) and its paths resolved; the rules
// of its type, or an output, need them.
func (m *Machine) Handle(sc *capture.Syscall, facts *Facts, params bool) (*event.Event, *Process) {
	x := sc.Exit
	ev := &m.ev
	// Set every field rather than Reset: this runs for every event.
	ev.NParams, ev.FD, ev.Finding, ev.Loader = 0, nil, nil, nil
	ev.Paths = [2]string{}
	ev.Res, ev.HasRes = 0, false
	m.arena = m.arena[:0]
	ev.Num = x.Num
	ev.Time = x.Time
	ev.Type = m.typeOf[x.Code]
	ev.Source = event.SourceSyscall
	ev.CPU = x.CPU
	ev.Tid = x.Tid
	if x.Info.IsExit() && x.NParams > 0 {
		switch p := x.Info.Params[0]; {
		case p.Type == capture.ParamErrno, p.Type == capture.ParamFD, p.Type == capture.ParamPID,
			p.Type == capture.ParamFD32, p.Type == capture.ParamPID32, p.Name == "res":
			ev.Res, ev.HasRes = x.Int(0)
		}
	}
	generic := x.Code == capture.CodeGenericE || x.Code == capture.CodeGenericX
	if generic {
		if id, ok := x.Uint(0); ok && int(id) < len(m.genericType) {
			ev.Type = m.genericType[id]
		}
		if facts != nil && facts.Generic.Valid {
			ev.Res, ev.HasRes = facts.Generic.Res, true
		}
	}
	proc := m.apply(sc, facts)
	if generic && facts != nil && facts.Generic.Valid && proc != nil {
		g := &facts.Generic
		if g.FD >= 0 {
			ev.FD = m.fd(proc, g.FD)
		}
		if g.Path != "" {
			ev.Paths[0] = resolvePath(proc, atFDCWD, g.Path)
			if g.Path[0] != '/' && g.Dir != "" {
				ev.Paths[0] = path.Join(g.Dir, g.Path)
			}
		}
	}
	if proc != nil {
		ev.Pid = proc.Pid
	} else {
		ev.Pid = x.Tid
	}
	if params {
		// Most events fail every rule before a parameter's text is read:
		// render them on first use.
		m.lazy.sc = sc
		ev.Loader = &m.lazy
		m.paths(sc, proc)
	}
	if fd := ev.FD; fd != nil && fd.TargetContainer == "" && proc != nil && fd.Type == event.FDFile {
		m.fileRoot(proc, fd)
	}
	return ev, proc
}

// Done applies the state changes that wait until the rules have seen the
// event Handle returned, and detaches its parameter loader.
func (m *Machine) Done() {
	m.ev.Loader = nil
	m.afterRules()
}

// Container returns the metadata a capture's container events recorded.
func (m *Machine) Container(id string) *container.Info {
	if c := m.containers[id]; c != nil {
		return c
	}
	return m.containers[container.ShortID(id)]
}

// lazyParams renders the parameters of the event being handled when a
// rule or output first reads one.
type lazyParams struct {
	m  *Machine
	sc *capture.Syscall
}

func (l *lazyParams) LoadParams(*event.Event) { l.m.params(l.sc) }

func (l *lazyParams) ParamNum(name string) (int64, bool) {
	e, i := l.sc.Param(name)
	if e == nil {
		return 0, false
	}
	return e.ParamNum(i)
}

// params renders the event's parameters into ev. Text lives in the arena,
// reset for every event: nothing may keep it past the event (alerts are
// detached before they leave).
func (m *Machine) params(sc *capture.Syscall) {
	ev := &m.ev
	total := 0
	sc.Each(func(*capture.Event, int, capture.ParamInfo) bool { total++; return true })
	if total <= event.MaxParams {
		sc.Each(func(e *capture.Event, i int, p capture.ParamInfo) bool {
			m.addParam(e, i, p.Name)
			return true
		})
		return
	}
	// Too many to keep all: the ones rules and outputs use come first.
	for _, name := range preferredParams {
		if e, i := sc.Param(name); e != nil {
			m.addParam(e, i, name)
		}
	}
	sc.Each(func(e *capture.Event, i int, p capture.ParamInfo) bool {
		if ev.NParams >= event.MaxParams {
			return false
		}
		if _, dup := ev.Param(p.Name); !dup {
			m.addParam(e, i, p.Name)
		}
		return true
	})
}

// preferredParams are kept first when an event has more parameters than
// an event.Event holds (execve has 30).
var preferredParams = []string{"res", "fd", "exe", "args", "flags", "filename", "trusted_exepath",
	"cwd", "comm", "tid", "pid", "ptid", "uid", "gid", "loginuid", "name", "path"}

func (m *Machine) addParam(e *capture.Event, i int, name string) {
	start := len(m.arena)
	var n int64
	m.arena, n = e.AppendParam(m.arena, i)
	text := m.arena[start:]
	s := unsafe.String(unsafe.SliceData(text), len(text))
	switch e.Info.Params[i].Type {
	case capture.ParamByteBuf:
		m.ev.AddParam(name, s, n)
		if p, ok := m.ev.ParamAt(m.ev.NParams - 1); ok && p.Name == name {
			raw := e.Param(i)
			start := len(m.arena)
			m.arena = append(m.arena, raw...)
			p.Raw = unsafe.String(unsafe.SliceData(m.arena[start:]), len(raw))
		}
	case capture.ParamFlags8, capture.ParamFlags16, capture.ParamFlags32, capture.ParamEnumFlags8,
		capture.ParamEnumFlags16, capture.ParamEnumFlags32, capture.ParamSigType, capture.ParamMode:
		// Names of a number: evt.args prints num(NAMES), as Falco does;
		// a number no name resolves prints alone.
		if isDigits(s) {
			m.ev.AddParam(name, s, n)
		} else {
			m.ev.AddSym(name, s, n)
		}
	case capture.ParamErrno:
		if n < 0 && (len(s) == 0 || s[0] != '-') {
			m.ev.AddSym(name, s, n) // -2(ENOENT)
		} else {
			m.ev.AddParam(name, s, n)
		}
	default:
		m.ev.AddParam(name, s, n)
	}
}

// paths sets the resolved forms of the event's path parameters (ev.Paths):
// the source or only path in the first slot, the target of a rename, link
// or symlink in the second; relative paths against the directory fd that
// precedes them, or the cwd.
func (m *Machine) paths(sc *capture.Syscall, p *Process) {
	if p == nil {
		return
	}
	dirfd := int64(atFDCWD)
	for _, e := range [2]*capture.Event{sc.Exit, sc.Enter} {
		if e == nil {
			continue
		}
		for i := 0; i < e.NParams && i < len(e.Info.Params); i++ {
			pi := e.Info.Params[i]
			if e == sc.Enter && sc.Exit.Info.ParamIndex(pi.Name) >= 0 {
				continue // the exit half has it
			}
			switch pi.Type {
			case capture.ParamFD, capture.ParamFD32:
				if pi.Name != "fd" && pi.Name != "res" {
					dirfd, _ = e.Int(i)
				}
			case capture.ParamFSPath, capture.ParamFSRelPath:
				d := int64(atFDCWD)
				if pi.Type == capture.ParamFSRelPath {
					d = dirfd
				}
				slot := 0
				if pi.Name == "newpath" || pi.Name == "linkpath" {
					slot = 1
				}
				if m.ev.Paths[slot] != "" {
					continue
				}
				if fd := m.ev.FD; slot == 0 && fd != nil && fd.Type == event.FDFile && paramIs(e, i, fd.NameRaw) {
					// An open's path: its fd is named by it already.
					m.ev.Paths[0] = fd.Name
					continue
				}
				m.ev.Paths[slot] = resolvePath(p, d, e.String(i))
			}
		}
	}
}

// paramIs reports whether string parameter i of e is s, without making a
// string of it.
func paramIs(e *capture.Event, i int, s string) bool {
	b := e.Param(i)
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return string(b) == s
}

// fileRoot decides, without the kernel's word, which root holds a file:
// through /proc/<pid>/root/... the root of that process (found by its pid
// in the caller's pid namespace), else the process's own, as Falco
// assumes.
func (m *Machine) fileRoot(p *Process, fd *event.FD) {
	owner, rest := p, fd.Name
	if pid, tail, ok := procRoot(fd.Name); ok {
		if q := m.inPidNS(p, pid); q != nil {
			owner, rest = q, tail
		}
	}
	fd.TargetContainer = owner.ContainerID
	if fd.TargetContainer == "" {
		fd.TargetContainer = container.HostID
	}
	if fd.TargetPath == "" {
		fd.TargetPath = rest
	}
}

// procRoot splits /proc/<pid>/root/<rest> ("self" is pid 0); rest keeps
// its leading slash.
func procRoot(name string) (pid int64, rest string, ok bool) {
	after, found := strings.CutPrefix(name, "/proc/")
	if !found {
		return 0, "", false
	}
	num, tail, found := strings.Cut(after, "/")
	if !found || !strings.HasPrefix(tail, "root") || len(tail) > 4 && tail[4] != '/' {
		return 0, "", false
	}
	rest = tail[4:]
	if rest == "" {
		rest = "/"
	}
	if num == "self" || num == "thread-self" {
		return 0, rest, true
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, "", false
	}
	return n, rest, true
}

// samePidNS reports whether two processes share a pid namespace: by its
// inode when the kernel said (live), else by when its init started, which
// the sensor converts from the kernel's boot-time clock with a few
// nanoseconds of jitter between records.
func samePidNS(p, q *Process) bool {
	if p.PidNS != 0 && q.PidNS != 0 {
		return p.PidNS == q.PidNS
	}
	d := p.PidNSStart - q.PidNSStart
	return p.PidNSStart != 0 && d > -pidNSStartJitter && d < pidNSStartJitter
}

// pidNSStartJitter bounds how far apart two records may put the start of
// one pid namespace's init.
const pidNSStartJitter = 1e6 // 1 ms

// inPidNS finds the process that pid names for p: in p's own pid
// namespace, told apart by the start of the namespace's init (the
// capture format's pidns_init_start_ts); pid 0 is p itself.
func (m *Machine) inPidNS(p *Process, pid int64) *Process {
	if pid == 0 {
		return p
	}
	if p.VPid == 0 || p.VPid == p.Pid {
		// The host's pid namespace: pids are the table's.
		return m.Table.Get(pid)
	}
	var found *Process
	m.Table.Each(func(q *Process) {
		if found == nil && q.VPid == pid && samePidNS(p, q) {
			found = q
		}
	})
	return found
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
