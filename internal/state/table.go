package state

import (
	"sync"

	"github.com/truesightsec/truesight/internal/event"
)

// DefaultMaxProcesses bounds the table so a fork storm cannot exhaust
// memory; past it new processes are counted and not tracked.
const DefaultMaxProcesses = 1 << 18

// Table is the set of live processes keyed by host pid, with the thread
// ids that belong to each. One goroutine (the event loop) writes it; other
// goroutines may read through the locked accessors.
type Table struct {
	mu      sync.RWMutex
	procs   map[int64]*Process
	threads map[int64]int64 // tid -> pid, for threads other than the leader
	max     int

	// Dropped counts processes not tracked because the table was full.
	Dropped uint64
}

// NewTable returns an empty table bounded to max processes (0 means
// DefaultMaxProcesses).
func NewTable(max int) *Table {
	if max <= 0 {
		max = DefaultMaxProcesses
	}
	return &Table{procs: map[int64]*Process{}, threads: map[int64]int64{}, max: max}
}

// Len returns the number of tracked processes.
func (t *Table) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.procs)
}

// Get returns the process with host pid (thread-group id) pid.
func (t *Table) Get(pid int64) *Process {
	t.mu.RLock()
	p := t.procs[pid]
	t.mu.RUnlock()
	return p
}

// ByTid returns the process a thread belongs to.
func (t *Table) ByTid(tid int64) *Process {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if p := t.procs[tid]; p != nil {
		return p
	}
	if pid, ok := t.threads[tid]; ok {
		return t.procs[pid]
	}
	return nil
}

// Put adds or replaces a process (used when seeding from the kernel).
// Parent links are fixed up by Link once all processes are in.
func (t *Table) Put(p *Process) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, exists := t.procs[p.Pid]; !exists && len(t.procs) >= t.max {
		t.Dropped++
		return false
	}
	if p.FDs == nil {
		p.FDs = map[int64]*event.FD{}
	}
	t.procs[p.Pid] = p
	return true
}

// Link sets every process's Parent pointer from its PPid.
func (t *Table) Link() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.procs {
		if p.PPid != p.Pid {
			p.Parent = t.procs[p.PPid]
		}
	}
}

// Fork records a new thread or process. For a thread (thread set) the tid
// joins its process. For a process, the child starts as a copy of the
// parent, as the kernel makes it.
func (t *Table) Fork(parentPid, childPid, childTid int64, thread bool, ts int64) *Process {
	t.mu.Lock()
	defer t.mu.Unlock()
	parent := t.procs[parentPid]
	if thread {
		if childTid != parentPid {
			t.threads[childTid] = parentPid
		}
		return parent
	}
	if existing := t.procs[childPid]; existing != nil {
		return existing
	}
	if len(t.procs) >= t.max {
		t.Dropped++
		return nil
	}
	child := &Process{Pid: childPid, Tid: childPid, PPid: parentPid, Parent: parent, StartTime: ts, LoginUID: -1}
	if parent != nil {
		child.inherit(parent)
	} else {
		child.FDs = map[int64]*event.FD{}
	}
	t.procs[childPid] = child
	return child
}

// inherit copies what a forked child shares with its parent.
func (p *Process) inherit(parent *Process) {
	p.Comm, p.Exe, p.ExePath = parent.Comm, parent.Exe, parent.ExePath
	p.Args, p.ArgsText, p.Cmdline = parent.Args, parent.ArgsText, parent.Cmdline
	p.Env, p.Cwd = parent.Env, parent.Cwd
	p.UID, p.GID, p.EUID, p.EGID = parent.UID, parent.GID, parent.EUID, parent.EGID
	p.LoginUID, p.UserName, p.LoginName, p.GroupName = parent.LoginUID, parent.UserName, parent.LoginName, parent.GroupName
	p.UserHome, p.UserShell = parent.UserHome, parent.UserShell
	p.TTY, p.Sid, p.VPgid = parent.TTY, parent.Sid, parent.VPgid
	p.CapEffective, p.CapPermitted, p.CapInherit = parent.CapEffective, parent.CapPermitted, parent.CapInherit
	p.ExeFromMemfd, p.ExeUpperLayer, p.ExeLowerLayer, p.ExeWritable = parent.ExeFromMemfd, parent.ExeUpperLayer, parent.ExeLowerLayer, parent.ExeWritable
	p.ExeIno, p.ExeCtime, p.ExeMtime = parent.ExeIno, parent.ExeCtime, parent.ExeMtime
	p.Cgroup, p.ContainerID = parent.Cgroup, parent.ContainerID
	p.Own = parent.Own
	p.MntNS, p.PidNS, p.NetNS = parent.MntNS, parent.PidNS, parent.NetNS
	p.Root, p.RootDev, p.RootIno, p.PidNSStart = parent.Root, parent.RootDev, parent.RootIno, parent.PidNSStart
	if c := parent.Container.Load(); c != nil {
		p.Container.Store(c)
	}
	p.FDs = make(map[int64]*event.FD, len(parent.FDs))
	for k, v := range parent.FDs {
		p.FDs[k] = v
	}
}

// Exit removes a thread, or the whole process when its leader exits.
// Children keep their Parent pointer, so ancestry of running processes
// survives their parents.
func (t *Table) Exit(pid, tid int64, ts int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tid != pid {
		delete(t.threads, tid)
		return
	}
	if p := t.procs[pid]; p != nil {
		p.ExitTime = ts
		delete(t.procs, pid)
	}
}

// Each calls fn for every process, under the read lock.
func (t *Table) Each(fn func(p *Process)) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, p := range t.procs {
		fn(p)
	}
}
