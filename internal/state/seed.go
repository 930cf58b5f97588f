package state

import (
	"strings"

	"github.com/truesightsec/truesight/internal/capture"
	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/event"
)

// noLoginUID is the loginuid of a process no login session started.
const noLoginUID = 0xffffffff

// seedUsers adds entries of the capture's user list.
func (m *Machine) SeedUsers(users []capture.User, groups []capture.Group) {
	for _, u := range users {
		if _, ok := m.users[u.UID]; !ok || u.ContainerID == "" {
			m.users[u.UID] = u
		}
	}
	for _, g := range groups {
		if _, ok := m.groups[g.GID]; !ok || g.ContainerID == "" {
			m.groups[g.GID] = g.Name
		}
	}
}

// seedThreads adds entries of the capture's process table, leaders first
// so that every thread finds its process, and links parents.
func (m *Machine) SeedThreads(threads []*capture.ThreadInfo) {
	if len(threads) == 0 {
		return
	}
	m.forget()
	for _, t := range threads {
		if t.Tid == t.Pid {
			p := &Process{Pid: t.Pid, Tid: t.Tid}
			m.fillFromThread(p, t)
			m.Table.Put(p)
		}
	}
	for _, t := range threads {
		if t.Tid == t.Pid {
			continue
		}
		if m.Table.Get(t.Pid) == nil {
			// A thread whose leader is not in the table: stand in for it.
			p := &Process{Pid: t.Pid, Tid: t.Pid}
			m.fillFromThread(p, t)
			m.Table.Put(p)
		}
		m.Table.Fork(t.Pid, t.Pid, t.Tid, true, 0)
	}
	// The capture records the parent's thread id; the table links by pid.
	for _, t := range threads {
		if t.Tid != t.Pid {
			continue
		}
		if p := m.Table.Get(t.Pid); p != nil {
			if pp := m.Table.ByTid(t.PTid); pp != nil {
				p.PPid = pp.Pid
			}
		}
	}
	m.Table.Link()
}

// fillFromThread sets a process from the capture's table entry.
func (m *Machine) fillFromThread(p *Process, t *capture.ThreadInfo) {
	p.PPid = t.PTid
	p.Sid = t.Sid
	p.VPgid = t.VPgid
	p.VPid = t.VPid
	p.VTid = t.VTid
	if p.VPid < 0 {
		p.VPid = 0
	}
	if p.VTid < 0 {
		p.VTid = 0
	}
	p.SetComm(t.Comm)
	p.SetArgs(t.Exe, t.Args)
	p.ExePath = t.ExePath
	setCwd(p, t.Cwd)
	p.Env = t.Env
	m.setUser(p, t.UID, t.GID)
	p.EUID, p.EGID = t.UID, t.GID
	m.setLoginUID(p, t.LoginUID)
	p.TTY = t.TTY
	p.CapInherit = t.CapInheritable
	p.CapPermitted = t.CapPermitted
	p.CapEffective = t.CapEffective
	p.ExeWritable = t.ExeWritable
	p.ExeUpperLayer = t.ExeUpperLayer
	p.ExeFromMemfd = t.ExeFromMemfd
	p.ExeIno = t.ExeIno
	p.ExeCtime = int64(t.ExeCtime)
	p.ExeMtime = int64(t.ExeMtime)
	p.PidNSStart = int64(t.PidNSInitStart)
	p.Root = t.Root
	if p.Root == "" {
		p.Root = "/"
	}
	m.setCgroups(p, t.Cgroups)
	if p.FDs == nil {
		p.FDs = make(map[int64]*event.FD, len(t.FDs))
	}
	for i := range t.FDs {
		fd := fdFromTable(&t.FDs[i])
		p.FDs[fd.Num] = fd
	}
}

// setUser sets the ids and the names they resolve to in the capture's
// user list.
func (m *Machine) setUser(p *Process, uid, gid uint32) {
	p.UID, p.GID = uid, gid
	if m.Resolve != nil {
		m.Resolve(p)
		return
	}
	if u, ok := m.users[uid]; ok {
		p.UserName, p.UserHome, p.UserShell = u.Name, u.Home, u.Shell
	} else {
		p.UserName, p.UserHome, p.UserShell = "", "", ""
	}
	p.GroupName = m.groups[gid]
}

func (m *Machine) setLoginUID(p *Process, uid uint32) {
	if uid == noLoginUID {
		p.LoginUID = -1
		p.LoginName = ""
		return
	}
	p.LoginUID = int64(uid)
	if m.Resolve != nil {
		m.Resolve(p)
		return
	}
	p.LoginName = m.users[uid].Name
}

// setCgroups records the process's cgroups and the container they name.
func (m *Machine) setCgroups(p *Process, cgroups []string) {
	if len(cgroups) == 0 {
		return
	}
	p.Cgroup = ""
	p.ContainerID = ""
	for _, cg := range cgroups {
		_, path, ok := strings.Cut(cg, "=")
		if !ok {
			path = cg
		}
		if p.Cgroup == "" {
			p.Cgroup = path
		}
		if id := container.IDFromCgroup(path); id != "" {
			p.ContainerID = id
			p.Cgroup = path
			break
		}
	}
	m.linkContainer(p)
}

// linkContainer attaches known runtime metadata to a process.
func (m *Machine) linkContainer(p *Process) {
	if p.ContainerID == "" {
		return
	}
	if m.OnContainer != nil {
		m.OnContainer(p.ContainerID)
	}
	if c := m.Container(p.ContainerID); c != nil {
		p.Container.Store(c)
	}
}

// fdFromTable converts an fd of the capture's tables.
func fdFromTable(f *capture.FDInfo) *event.FD {
	fd := &event.FD{Num: f.Num, Ino: f.Ino, Name: f.Name, NameRaw: f.Name}
	switch f.Type {
	case capture.FDFile, capture.FDFileV2:
		fd.Type = event.FDFile
		fd.Flags = capture.OpenFlagsToKernel(f.OpenFlags)
		fd.Dev = f.Dev
		fd.Exists = true
	case capture.FDDirectory:
		fd.Type = event.FDDirectory
	case capture.FDIPv4Sock, capture.FDIPv6Sock:
		fd.Type = event.FDIPv4
		fd.Family = 2
		if f.Type == capture.FDIPv6Sock {
			fd.Type, fd.Family = event.FDIPv6, 10
		}
		fd.ClientIP, fd.ClientPort = f.Src.Unmap(), f.SrcPort
		fd.ServerIP, fd.ServerPort = f.Dst.Unmap(), f.DstPort
		fd.Connected = true
		fd.Role = event.RoleClient
		fd.L4 = l4(f.L4)
		fd.Name = tupleName(fd)
		fd.NameRaw = fd.Name
	case capture.FDIPv4Server, capture.FDIPv6Server:
		fd.Type = event.FDIPv4
		fd.Family = 2
		if f.Type == capture.FDIPv6Server {
			fd.Type, fd.Family = event.FDIPv6, 10
		}
		fd.ServerIP, fd.ServerPort = f.Src.Unmap(), f.SrcPort
		fd.LocalIsServer = true
		fd.Role = event.RoleServer
		fd.L4 = l4(f.L4)
		fd.Name = event.AddrPortName(fd.ServerIP, fd.ServerPort)
		fd.NameRaw = fd.Name
	case capture.FDUnixSock:
		fd.Type = event.FDUnix
		fd.Family = 1
	case capture.FDFifo:
		fd.Type = event.FDPipe
	case capture.FDEvent:
		fd.Type = event.FDEvent
	case capture.FDSignalfd:
		fd.Type = event.FDSignalfd
	case capture.FDEventPoll:
		fd.Type = event.FDEventPoll
	case capture.FDInotify:
		fd.Type = event.FDInotify
	case capture.FDTimerfd:
		fd.Type = event.FDTimerfd
	case capture.FDNetlink:
		fd.Type = event.FDNetlink
	case capture.FDBPF:
		fd.Type = event.FDBPF
	case capture.FDUserfaultfd:
		fd.Type = event.FDUserfaultfd
	case capture.FDIOUring:
		fd.Type = event.FDIOUring
	case capture.FDMemfd:
		fd.Type = event.FDMemfd
	case capture.FDPidfd:
		fd.Type = event.FDPidfd
	}
	return fd
}

// l4Protos pairs the capture format's layer-4 protocols with truesight's.
var l4Protos = [...]struct {
	capture uint8
	event   event.L4Proto
}{{capture.L4TCP, event.L4TCP}, {capture.L4UDP, event.L4UDP}, {capture.L4ICMP, event.L4ICMP}, {capture.L4Raw, event.L4Raw}}

func l4(p uint8) event.L4Proto {
	for _, l := range l4Protos {
		if l.capture == p {
			return l.event
		}
	}
	return event.L4Unknown
}

// tupleName is fd.name of a connected socket: cip:cport->sip:sport.
func tupleName(fd *event.FD) string {
	return event.TupleName(fd.ClientIP, fd.ClientPort, fd.ServerIP, fd.ServerPort)
}
