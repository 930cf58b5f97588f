package state

import (
	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/event"
)

// Facts are what the live sensor knows of an event beyond the parameters
// the capture format gives it: the kernel's resolution of the file behind
// an fd, and the namespaces and root of a process. A capture file has no
// place for them, so replay goes without (nil), and the fields they feed
// fall back to what the parameters say.
type Facts struct {
	// File is the file behind the fd an open returned.
	File FileFacts
	// Task describes the process after an exec or a fork.
	Task *TaskFacts
	// Path is the text of the event's first path parameter, as the sensor
	// already holds it as a string (so it is not copied again); "" when
	// unknown. It never differs from the parameter.
	Path string
	// Generic is what the sensor read of a syscall that has no event of
	// its own in the format (truncate, ftruncate, sethostname...): a
	// generic event carries only the syscall's id.
	Generic GenericFacts
}

// GenericFacts are the result and the file arguments of a syscall the
// capture format records as a generic event.
type GenericFacts struct {
	Valid bool
	Res   int64
	// FD is the fd argument, -1 when there is none.
	FD int64
	// Path is the path argument as given, Dir the directory a relative one
	// is resolved against.
	Path, Dir string
}

// FileFacts is a file as the kernel resolved it.
type FileFacts struct {
	Valid bool
	// Path is absolute from the root of the mount namespace MntNS whose
	// mount holds the file: symlinks and /proc/<pid>/root/... resolved.
	Path  string
	MntNS uint32
}

// TaskFacts are a process's namespaces and root.
type TaskFacts struct {
	MntNS, PidNS, NetNS uint32
	// Root is the process's root as the host sees it ("/" for the host's,
	// and for a container's root, which lives in another mount namespace).
	Root             string
	RootDev, RootIno uint64
	// StartTime is when the process started, ns since the epoch.
	StartTime int64
}

// applyTask records a process's namespaces and root, and learns which
// container uses its mount namespace.
func (m *Machine) applyTask(p *Process, t *TaskFacts) {
	p.MntNS, p.PidNS, p.NetNS = uint64(t.MntNS), uint64(t.PidNS), uint64(t.NetNS)
	if t.Root != "" {
		p.Root = t.Root
	}
	p.RootDev, p.RootIno = t.RootDev, t.RootIno
	if t.StartTime != 0 {
		p.StartTime = t.StartTime
	}
	m.learnMntNS(t.MntNS, p.ContainerID)
}

// ApplyTask records the namespaces and root of a process the table holds
// (after seeding it from a kernel snapshot).
func (m *Machine) ApplyTask(pid int64, t *TaskFacts) {
	if p := m.Table.Get(pid); p != nil {
		m.applyTask(p, t)
	}
}

func (m *Machine) learnMntNS(ns uint32, containerID string) {
	// The host's namespace stays the host's: a runtime's helper (runc init)
	// execs in the container's cgroup before it enters the container's
	// mount namespace.
	if ns == 0 || ns == m.hostMntNS || containerID == "" {
		return
	}
	m.mntns[ns] = containerID
}

// applyFile records the kernel's resolution of an opened file: the path
// inside the root that holds it, and the container whose root that is.
func (m *Machine) applyFile(p *Process, fd *event.FD, f *FileFacts) {
	if !f.Valid {
		return
	}
	fd.TargetPath = f.Path
	fd.TargetContainer = m.mntns[f.MntNS]
	if fd.TargetContainer == "" && uint64(f.MntNS) == p.MntNS {
		fd.TargetContainer = p.ContainerID
		if fd.TargetContainer == "" {
			fd.TargetContainer = container.HostID
		}
	}
}

// markOwn marks the agent's own children, whose events are not judged.
func (m *Machine) markOwn(p *Process) {
	if m.Self > 0 && (p.PPid == m.Self || p.Parent != nil && p.Parent.Own) {
		p.Own = true
	}
}
