package state

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/truesightsec/truesight/internal/capture"
	"github.com/truesightsec/truesight/internal/event"
)

// CaptureThread describes the process as an entry of a capture's process
// table, with its fds (capture.Writer.WriteThreads). Machine.SeedThreads
// reads such entries back into the same process.
func (p *Process) CaptureThread() *capture.ThreadInfo {
	t := &capture.ThreadInfo{
		Tid: p.Pid, Pid: p.Pid, PTid: p.PPid, Sid: p.Sid, VPgid: p.VPgid,
		Comm: p.Comm, Exe: p.Exe, ExePath: p.ExePath, Args: p.Args,
		Cwd: strings.TrimSuffix(p.Cwd, "/"), FDLimit: 1024,
		UID: p.UID, GID: p.GID, Env: p.Env, VTid: p.VTid, VPid: p.VPid,
		Root: p.Root, PidNSInitStart: uint64(p.PidNSStart), TTY: p.TTY,
		LoginUID: uint32(p.LoginUID), ExeWritable: p.ExeWritable,
		CapInheritable: p.CapInherit, CapPermitted: p.CapPermitted, CapEffective: p.CapEffective,
		ExeUpperLayer: p.ExeUpperLayer, ExeIno: p.ExeIno, ExeCtime: uint64(p.ExeCtime),
		ExeMtime: uint64(p.ExeMtime), ExeFromMemfd: p.ExeFromMemfd,
	}
	if t.Cwd == "" && p.Cwd != "" {
		t.Cwd = "/"
	}
	if p.LoginUID < 0 {
		t.LoginUID = 0xffffffff
	}
	if p.Cgroup != "" {
		t.Cgroups = []string{"cpu=" + p.Cgroup}
	}
	for _, fd := range p.FDs {
		t.FDs = append(t.FDs, captureFD(fd))
	}
	return t
}

func captureFD(fd *event.FD) capture.FDInfo {
	f := capture.FDInfo{Num: fd.Num, Ino: fd.Ino, Name: fd.Name}
	switch fd.Type {
	case event.FDFile:
		f.Type, f.OpenFlags, f.Dev = capture.FDFileV2, capture.KernelOpenFlags(fd.Flags), fd.Dev
	case event.FDDirectory:
		f.Type = capture.FDDirectory
	case event.FDIPv4, event.FDIPv6:
		v6 := fd.Type == event.FDIPv6
		f.L4 = captureL4(fd.L4)
		switch {
		case fd.LocalIsServer && !fd.Connected:
			f.Type, f.Src, f.SrcPort = capture.FDIPv4Server, fd.ServerIP, fd.ServerPort
			if v6 {
				f.Type = capture.FDIPv6Server
			}
		default:
			f.Type = capture.FDIPv4Sock
			if v6 {
				f.Type = capture.FDIPv6Sock
			}
			f.Src, f.SrcPort, f.Dst, f.DstPort = fd.ClientIP, fd.ClientPort, fd.ServerIP, fd.ServerPort
		}
		f.Name = ""
	case event.FDUnix:
		f.Type = capture.FDUnixSock
	default:
		f.Type = captureFDTypes[fd.Type]
		if f.Type == 0 {
			f.Type = capture.FDUnsupported
		}
	}
	return f
}

var captureFDTypes = map[event.FDType]capture.FDType{
	event.FDPipe: capture.FDFifo, event.FDEvent: capture.FDEvent, event.FDSignalfd: capture.FDSignalfd,
	event.FDEventPoll: capture.FDEventPoll, event.FDInotify: capture.FDInotify, event.FDTimerfd: capture.FDTimerfd,
	event.FDNetlink: capture.FDNetlink, event.FDBPF: capture.FDBPF, event.FDUserfaultfd: capture.FDUserfaultfd,
	event.FDIOUring: capture.FDIOUring, event.FDMemfd: capture.FDMemfd, event.FDPidfd: capture.FDPidfd,
}

func captureL4(p event.L4Proto) uint8 {
	for _, l := range l4Protos {
		if l.event == p {
			return l.capture
		}
	}
	return capture.L4Unknown
}

// CaptureAccounts reads the users and groups of a root's /etc/passwd and
// /etc/group ("" is the host's /) as a capture's user and group lists,
// sorted by id, so a replay names users as the live agent did.
func CaptureAccounts(root string) ([]capture.User, []capture.Group) {
	var users []capture.User
	var groups []capture.Group
	if data, err := os.ReadFile(filepath.Join("/", root, "etc/passwd")); err == nil {
		for id, a := range parsePasswd(data) {
			users = append(users, capture.User{UID: id, GID: a.gid, Name: a.Name, Home: a.Home, Shell: a.Shell})
		}
	}
	if data, err := os.ReadFile(filepath.Join("/", root, "etc/group")); err == nil {
		for id, a := range ParseAccounts(data, false) {
			groups = append(groups, capture.Group{GID: id, Name: a.Name})
		}
	}
	slices.SortFunc(users, func(a, b capture.User) int { return cmp.Compare(a.UID, b.UID) })
	slices.SortFunc(groups, func(a, b capture.Group) int { return cmp.Compare(a.GID, b.GID) })
	return users, groups
}

type passwdEntry struct {
	Account
	gid uint32
}

// parsePasswd is ParseAccounts for passwd with each user's primary group.
func parsePasswd(data []byte) map[uint32]passwdEntry {
	out := map[uint32]passwdEntry{}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 7 || strings.HasPrefix(line, "#") {
			continue
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		if _, dup := out[uint32(uid)]; !dup {
			out[uint32(uid)] = passwdEntry{Account{Name: f[0], Home: f[5], Shell: f[6]}, uint32(gid)}
		}
	}
	return out
}
