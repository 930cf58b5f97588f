package state

import (
	"sync/atomic"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/event"
)

// Process is one thread group as truesight knows it. Strings that fields
// read on every event (Cmdline, ArgsText) are built once, at exec, so that
// rule evaluation never allocates.
type Process struct {
	Pid    int64 // host thread-group id
	Tid    int64 // host thread id of the main thread
	PPid   int64 // host pid of the parent
	VPid   int64 // pid inside its own pid namespace
	VTid   int64
	Sid    int64
	VPgid  int64
	Parent *Process

	Comm     string   // kernel comm, 15 characters at most (proc.name)
	Exe      string   // argv[0] (proc.exe)
	ExePath  string   // resolved executable path (proc.exepath)
	Args     []string // argv[1:]
	ArgsText string   // Args joined by spaces (proc.args)
	Cmdline  string   // Comm + " " + ArgsText (proc.cmdline)
	Env      []string
	Cwd      string

	UID, GID, EUID, EGID uint32
	LoginUID             int64 // -1 when unset
	UserName             string
	LoginName            string
	GroupName            string
	UserHome             string
	UserShell            string

	TTY          uint32
	CapEffective uint64
	CapPermitted uint64
	CapInherit   uint64

	ExeFromMemfd  bool
	ExeUpperLayer bool
	ExeLowerLayer bool
	ExeWritable   bool
	ExeIno        uint64
	ExeCtime      int64
	ExeMtime      int64

	StartTime int64 // clone time, nanoseconds since the epoch
	ExitTime  int64

	Cgroup      string
	ContainerID string // full id, "" on the host
	MntNS       uint64
	PidNS       uint64
	NetNS       uint64
	Root        string // the process's root as seen from the host, "/" on the host
	RootDev     uint64
	RootIno     uint64
	PidNSStart  int64

	// Own marks the agent's own helpers (children of the agent, such as the
	// scanner's listings inside containers): their activity is not reported.
	Own bool

	// Container is filled in asynchronously when the runtime answers.
	Container atomic.Pointer[container.Info]

	// FDs is the process's fd table, for the fd types rules use.
	FDs map[int64]*event.FD
}

// ShortContainerID returns container.id as Falco prints it: 12 hex
// characters, or "host".
func (p *Process) ShortContainerID() string {
	if p.ContainerID == "" {
		return container.HostID
	}
	return container.ShortID(p.ContainerID)
}

// SetArgs sets argv and rebuilds the strings derived from it.
func (p *Process) SetArgs(exe string, args []string) {
	p.Exe = exe
	p.Args = args
	n := 0
	for _, a := range args {
		n += len(a) + 1
	}
	b := make([]byte, 0, n)
	for i, a := range args {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, a...)
	}
	p.ArgsText = string(b)
	p.rebuildCmdline()
}

// SetComm sets the kernel comm and rebuilds proc.cmdline.
func (p *Process) SetComm(comm string) {
	p.Comm = comm
	p.rebuildCmdline()
}

func (p *Process) rebuildCmdline() {
	if p.ArgsText == "" {
		p.Cmdline = p.Comm
		return
	}
	p.Cmdline = p.Comm + " " + p.ArgsText
}

// Ancestor returns the n-th ancestor: 0 is the process itself, 1 its parent.
func (p *Process) Ancestor(n int) *Process {
	q := p
	for i := 0; i < n && q != nil; i++ {
		q = q.Parent
	}
	return q
}
