package scan

import (
	"fmt"
	"strings"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/state"
)

// processState describes a process for the proc.* and container.* fields
// of its findings, from /proc.
func (s *Scanner) processState(p *proc) *state.Process {
	sp := &state.Process{Pid: int64(p.Pid), Tid: int64(p.Pid), PPid: int64(p.Stat.PPid), LoginUID: -1}
	sp.SetComm(p.Stat.Comm)
	if argv := readCmdline(s.procfd, p.Pid); len(argv) > 0 {
		sp.SetArgs(argv[0], argv[1:])
	}
	sp.ExePath = p.Exe
	if p.Stat.StartTicks != 0 {
		sp.StartTime = s.boot + int64(p.Stat.StartTicks)*(1e9/clockTicks)
	}
	if st, err := readStatus(s.procfd, p.Pid); err == nil {
		sp.UID, sp.GID, sp.EUID, sp.EGID = uint32(st.UID), uint32(st.GID), uint32(st.UID), uint32(st.GID)
		if n := len(st.NSpid); n > 0 {
			sp.VPid, sp.VTid = int64(st.NSpid[n-1]), int64(st.NSpid[n-1])
		}
	}
	sp.Cgroup, sp.ContainerID = s.cgroupOf(p.Pid)
	s.describeContainer(sp)
	dir := fmt.Sprint(p.Pid)
	sp.MntNS, _ = nsInode(s.procfd, dir+"/ns/mnt")
	sp.PidNS, _ = nsInode(s.procfd, dir+"/ns/pid")
	sp.NetNS, _ = nsInode(s.procfd, dir+"/ns/net")
	if root, err := readlinkAt(s.procfd, dir+"/root"); err == nil {
		sp.Root = root
	}
	sp.RootDev, sp.RootIno = p.Root.Dev, p.Root.Ino
	s.resolveUser(sp)
	return sp
}

// cgroupOf returns a process's cgroup path that names a container (or its
// first one) and the container's full id.
func (s *Scanner) cgroupOf(pid int) (string, string) {
	b, err := readAt(s.procfd, fmt.Sprintf("%d/cgroup", pid), make([]byte, 0, 1024), maxSmall)
	if err != nil {
		return "", ""
	}
	first := ""
	for _, line := range strings.Split(string(b), "\n") {
		// hierarchy-id:controllers:path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if first == "" {
			first = parts[2]
		}
		if id := container.IDFromCgroup(parts[2]); id != "" {
			return parts[2], id
		}
	}
	return first, ""
}

// resolveUser names the process's user and group from the passwd and group
// files of its own root, read without following links out of it.
func (s *Scanner) resolveUser(sp *state.Process) {
	rootfd, err := openRoot(s.procfd, int(sp.Pid))
	if err != nil {
		return
	}
	defer closeFD(rootfd)
	if b, _, err := readInRoot(rootfd, "/etc/passwd", maxConfigFile); err == nil {
		if a, ok := state.ParseAccounts(b, true)[sp.UID]; ok {
			sp.UserName, sp.UserHome, sp.UserShell = a.Name, a.Home, a.Shell
		}
	}
	if b, _, err := readInRoot(rootfd, "/etc/group", maxConfigFile); err == nil {
		if a, ok := state.ParseAccounts(b, false)[sp.GID]; ok {
			sp.GroupName = a.Name
		}
	}
}

// containerFromCgroup sets a process's cgroup and container from a cgroup
// path learnt elsewhere (the kernel's task view).
func (s *Scanner) containerFromCgroup(sp *state.Process, cgroup string) {
	sp.Cgroup, sp.ContainerID = cgroup, container.IDFromCgroup(cgroup)
	s.describeContainer(sp)
}

// describeContainer adds the runtime's metadata of the process's
// container.
func (s *Scanner) describeContainer(sp *state.Process) {
	if s.opts.Containers != nil && sp.ContainerID != "" {
		if info := s.opts.Containers(sp.ContainerID); info != nil {
			sp.Container.Store(info)
		}
	}
}
