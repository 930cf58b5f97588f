package capture

import (
	"encoding/binary"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/state"
)

// codeForType maps truesight event type names to the code they are
// written as: the newest exit event of that name, or the event that has
// no exit half (procexit, container). Types the format has no event for
// are written as generic syscall events.
var codeForType = func() map[string]uint16 {
	m := map[string]uint16{}
	for code := range schema {
		info := &schema[code]
		if info.Old() || info.Name == "NA" || info.Name == "syscall" {
			continue
		}
		if info.IsExit() || info.Standalone() {
			m[info.Name] = info.Code // later codes are newer versions
		}
	}
	return m
}()

// syscallIDs maps syscall names to the codes of generic events.
var syscallIDs = func() map[string]uint16 {
	m := map[string]uint16{}
	for id, name := range syscallNames {
		if name != "" && id != 0 {
			m[name] = uint16(id)
		}
	}
	return m
}()

// WriteTruesightEvent writes one of truesight's events (as the live sensor
// makes them, exit-only with all parameters) as event blocks of the
// current layout, so that sysdig and Falco read it. Unless the writer is
// ExitOnly, the syscall's enter half goes first with the parameters the
// old layout keeps there: readers of that layout (Debian's sysdig 0.29)
// take a close's or a bind's fd from it. p is the event's process after
// the event, for the process parameters of execve and clone (nil when
// unknown). Parameters the event lacks are written as zero values.
func (w *Writer) WriteTruesightEvent(ev *event.Event, p *state.Process) error {
	if ev.Source != event.SourceSyscall {
		return nil // findings have no place in a syscall capture
	}
	name := ev.Type.String()
	code, ok := codeForType[name]
	if !ok {
		id, known := syscallIDs[name]
		if !known {
			return nil
		}
		if !w.opts.ExitOnly {
			w.enc = binary.LittleEndian.AppendUint16(w.enc[:0], id)
			if err := w.WriteEvent(ev.CPU, 0, ev.Time, ev.Tid, CodeGenericE, [][]byte{w.enc[:2], {0, 0}}); err != nil {
				return err
			}
		}
		w.enc = binary.LittleEndian.AppendUint16(w.enc[:0], id)
		return w.WriteEvent(ev.CPU, 0, ev.Time, ev.Tid, CodeGenericX, [][]byte{w.enc[:2], {0, 0}})
	}
	info := Info(code)
	if info.IsExit() && !w.opts.ExitOnly {
		if err := w.writeEncoded(ev, p, Info(code-1)); err != nil {
			return err
		}
	}
	return w.writeEncoded(ev, p, info)
}

// writeEncoded writes ev as an event of the given code.
func (w *Writer) writeEncoded(ev *event.Event, p *state.Process, info *EventInfo) error {
	var params [maxEventParams][]byte
	var ends [maxEventParams]int
	w.enc = w.enc[:0]
	n := min(len(info.Params), maxEventParams)
	for i := range n {
		w.enc = encodeParam(w.enc, ev, p, info, info.Params[i])
		ends[i] = len(w.enc)
	}
	// Slice only now: appends may have moved the buffer.
	start := 0
	for i := range n {
		params[i] = w.enc[start:ends[i]]
		start = ends[i]
	}
	return w.WriteEvent(ev.CPU, 0, ev.Time, ev.Tid, info.Code, params[:n])
}

// encodeParam appends one parameter of an event in the encoding its type
// has in the format.
func encodeParam(b []byte, ev *event.Event, p *state.Process, info *EventInfo, pi ParamInfo) []byte {
	num, text, have := paramValue(ev, p, info, pi)
	switch pi.Type {
	case ParamInt8, ParamUint8, ParamSigType, ParamFlags8, ParamEnumFlags8, ParamL4Proto, ParamSockFamily:
		return append(b, byte(num))
	case ParamInt16, ParamUint16, ParamPort, ParamFlags16, ParamEnumFlags16, ParamSyscallID:
		return binary.LittleEndian.AppendUint16(b, uint16(num))
	case ParamInt32, ParamUint32, ParamFlags32, ParamEnumFlags32, ParamUID, ParamGID, ParamMode,
		ParamFD32, ParamPID32, ParamBool, ParamSigSet:
		if pi.Type == ParamFlags32 && pi.Name == "flags" && isOpenName(info.Name) {
			num = int64(KernelOpenFlags(uint32(num)))
			// The layer of the opened file, as the kernel driver reports it.
			if fd := ev.FD; fd != nil && fd.Upper {
				num |= OpenUpperLayer
			} else if fd != nil && fd.Lower {
				num |= OpenLowerLayer
			}
		}
		if pi.Type == ParamFlags32 && pi.Name == "flags" && isCloneName(info.Name) {
			num = int64(KernelCloneFlags(uint64(num)))
		}
		return binary.LittleEndian.AppendUint32(b, uint32(num))
	case ParamInt64, ParamUint64, ParamErrno, ParamFD, ParamPID, ParamRelTime, ParamAbsTime:
		return binary.LittleEndian.AppendUint64(b, uint64(num))
	case ParamDouble:
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(float64(num)))
	case ParamCharBuf, ParamFSPath, ParamFSRelPath:
		b = append(b, text...)
		return append(b, 0)
	case ParamByteBuf, ParamCharBufArray:
		return append(b, text...)
	case ParamSockTuple:
		return appendFDTuple(b, ev.FD)
	case ParamSockAddr:
		return appendFDSockAddr(b, ev.FD)
	case ParamIPv4Addr:
		return append(b, 0, 0, 0, 0)
	case ParamIPv6Addr:
		return append(b, make([]byte, 16)...)
	case ParamFDList:
		return binary.LittleEndian.AppendUint16(b, 0)
	case ParamDyn:
		if have {
			b = append(b, 0)
			return binary.LittleEndian.AppendUint64(b, uint64(num))
		}
		return b
	}
	return b
}

// paramValue finds a parameter's value in the event, or for the process
// parameters of execve and clone in the process.
func paramValue(ev *event.Event, p *state.Process, info *EventInfo, pi ParamInfo) (int64, string, bool) {
	procEvent := p != nil && (info.Name == "execve" || info.Name == "execveat" || isCloneName(info.Name))
	if procEvent && ev.Res >= 0 {
		switch pi.Name {
		case "exe":
			return 0, p.Exe, true
		case "args":
			return 0, nulList(p.Args), true
		case "env":
			return 0, nulList(p.Env), true
		case "cwd":
			return 0, strings.TrimSuffix(p.Cwd, "/"), p.Cwd != ""
		case "comm":
			return 0, p.Comm, true
		case "cgroups":
			if p.Cgroup != "" {
				return 0, "cpu=" + p.Cgroup + "\x00", true
			}
		case "trusted_exepath":
			return 0, p.ExePath, true
		case "uid":
			return int64(p.UID), "", true
		case "gid":
			return int64(p.GID), "", true
		case "loginuid":
			return p.LoginUID, "", true
		case "tty":
			return int64(p.TTY), "", true
		case "vtid":
			// Unknown means the host's: no pid namespace of its own.
			if p.VTid == 0 {
				return ev.Tid, "", true
			}
			return p.VTid, "", true
		case "vpid":
			if p.VPid == 0 {
				return p.Pid, "", true
			}
			return p.VPid, "", true
		case "cap_inheritable":
			return int64(p.CapInherit), "", true
		case "cap_permitted":
			return int64(p.CapPermitted), "", true
		case "cap_effective":
			return int64(p.CapEffective), "", true
		case "flags":
			if info.Name == "execve" || info.Name == "execveat" {
				var f int64
				if p.ExeWritable {
					f |= 1
				}
				if p.ExeUpperLayer {
					f |= 2
				}
				if p.ExeFromMemfd {
					f |= 4
				}
				if p.ExeLowerLayer {
					f |= 8
				}
				return f, "", true
			}
		case "exe_ino":
			return int64(p.ExeIno), "", true
		case "exe_ino_ctime":
			return p.ExeCtime, "", true
		case "exe_ino_mtime":
			return p.ExeMtime, "", true
		case "pgid", "vpgid":
			return p.VPgid, "", true
		}
	}
	if q, ok := ev.Param(pi.Name); ok {
		return q.Num, q.Text, true
	}
	switch pi.Name {
	case "res":
		return ev.Res, "", ev.HasRes
	case "fd":
		if ev.FD != nil {
			return ev.FD.Num, "", true
		}
		if info.Params[0].Name == "fd" && ev.HasRes {
			return ev.Res, "", true
		}
	case "tid":
		return ev.Tid, "", true
	case "pid":
		return ev.Pid, "", true
	case "ptid":
		if p != nil {
			return p.PPid, "", true
		}
	case "name", "path", "filename", "pathname":
		if ev.FD != nil && ev.FD.NameRaw != "" {
			return 0, ev.FD.NameRaw, true
		}
	}
	return 0, "", false
}

func isOpenName(n string) bool {
	return n == "open" || n == "openat" || n == "openat2" || n == "creat" || n == "open_by_handle_at"
}

func isCloneName(n string) bool {
	return n == "clone" || n == "clone3" || n == "fork" || n == "vfork"
}

func nulList(list []string) string {
	var b strings.Builder
	for _, s := range list {
		b.WriteString(s)
		b.WriteByte(0)
	}
	return b.String()
}

// KernelOpenFlags converts Linux O_* open flags to the capture's PPM_O_*
// encoding; it is OpenFlagsToKernel's inverse.
func KernelOpenFlags(k uint32) uint32 {
	var f uint32
	switch k & 3 {
	case 0:
		f |= ppmORdonly
	case oWronly:
		f |= ppmOWronly
	case oRdwr:
		f |= ppmORdwr
	}
	pairs := [...][2]uint32{
		{ppmOCreat, oCreat}, {ppmOExcl, oExcl}, {ppmOTrunc, oTrunc}, {ppmOAppend, oAppend},
		{ppmONonblock, oNonblock}, {ppmODirect, oDirect}, {ppmOLargefile, oLargefile},
		{ppmODirectory, oDirectory}, {ppmOCloexec, oCloexec},
	}
	for _, p := range pairs {
		if k&p[1] == p[1] {
			f |= p[0]
		}
	}
	switch {
	case k&oTmpfile == oTmpfile:
		f |= ppmOTmpfile
		f &^= ppmODirectory
	case k&oSync == oSync:
		f |= ppmOSync
	case k&oDsync == oDsync:
		f |= ppmODsync
	}
	return f
}

// Linux clone flags and their PPM_CL_* counterparts.
var cloneFlagPairs = [...][2]uint64{
	{0x400, 1 << 0},      // CLONE_FILES
	{0x200, 1 << 1},      // CLONE_FS
	{0x80000000, 1 << 2}, // CLONE_IO
	{0x8000000, 1 << 3},  // CLONE_NEWIPC
	{0x40000000, 1 << 4}, // CLONE_NEWNET
	{0x20000, 1 << 5},    // CLONE_NEWNS
	{0x20000000, 1 << 6}, // CLONE_NEWPID
	{0x4000000, 1 << 7},  // CLONE_NEWUTS
	{0x8000, 1 << 8},     // CLONE_PARENT
	{0x100000, 1 << 9},   // CLONE_PARENT_SETTID
	{0x2000, 1 << 10},    // CLONE_PTRACE
	{0x800, 1 << 11},     // CLONE_SIGHAND
	{0x40000, 1 << 12},   // CLONE_SYSVSEM
	{0x10000, ppmCloneThread},
	{0x800000, 1 << 14},   // CLONE_UNTRACED
	{0x100, 1 << 15},      // CLONE_VM
	{0x10000000, 1 << 20}, // CLONE_NEWUSER
	{0x200000, 1 << 23},   // CLONE_CHILD_CLEARTID
	{0x1000000, 1 << 24},  // CLONE_CHILD_SETTID
	{0x80000, 1 << 25},    // CLONE_SETTLS
	{0x4000, 1 << 27},     // CLONE_VFORK
	{0x2000000, 1 << 28},  // CLONE_NEWCGROUP
}

// CloneFlagsToKernel converts the capture's PPM_CL_* clone flags to Linux
// CLONE_* flags; it is KernelCloneFlags's inverse for the flags both have.
func CloneFlagsToKernel(f uint32) uint64 {
	var k uint64
	for _, p := range cloneFlagPairs {
		if uint64(f)&p[1] != 0 {
			k |= p[0]
		}
	}
	return k
}

// KernelCloneFlags converts Linux CLONE_* flags to the capture's PPM_CL_*
// encoding.
func KernelCloneFlags(k uint64) uint32 {
	var f uint64
	for _, p := range cloneFlagPairs {
		if k&p[0] != 0 {
			f |= p[1]
		}
	}
	return uint32(f)
}

func appendFDTuple(b []byte, fd *event.FD) []byte {
	if fd == nil {
		return append(b, 0)
	}
	switch fd.Type {
	case event.FDIPv4:
		b = append(b, ppmAFInet)
		b = append4(b, fd.ClientIP)
		b = binary.LittleEndian.AppendUint16(b, fd.ClientPort)
		b = append4(b, fd.ServerIP)
		return binary.LittleEndian.AppendUint16(b, fd.ServerPort)
	case event.FDIPv6:
		b = append(b, ppmAFInet6)
		b = append16(b, fd.ClientIP)
		b = binary.LittleEndian.AppendUint16(b, fd.ClientPort)
		b = append16(b, fd.ServerIP)
		return binary.LittleEndian.AppendUint16(b, fd.ServerPort)
	case event.FDUnix:
		src, dst, path := unixEnds(fd.NameRaw)
		b = append(b, ppmAFUnix)
		b = binary.LittleEndian.AppendUint64(b, src)
		b = binary.LittleEndian.AppendUint64(b, dst)
		b = append(b, path...)
		return append(b, 0)
	}
	return append(b, 0)
}

// unixEnds splits libsinsp's name of a connected unix socket,
// "0->ffff94dc817b9400 /var/run/nscd/socket", into its parts; other names
// are a path alone.
func unixEnds(name string) (src, dst uint64, path string) {
	ends, p, ok := strings.Cut(name, " ")
	s, d, ok2 := strings.Cut(ends, "->")
	if !ok || !ok2 {
		return 0, 0, name
	}
	sv, err1 := strconv.ParseUint(s, 16, 64)
	dv, err2 := strconv.ParseUint(d, 16, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, name
	}
	return sv, dv, p
}

func appendFDSockAddr(b []byte, fd *event.FD) []byte {
	if fd == nil {
		return append(b, 0)
	}
	switch fd.Type {
	case event.FDIPv4:
		b = append(b, ppmAFInet)
		b = append4(b, fd.ServerIP)
		return binary.LittleEndian.AppendUint16(b, fd.ServerPort)
	case event.FDIPv6:
		b = append(b, ppmAFInet6)
		b = append16(b, fd.ServerIP)
		return binary.LittleEndian.AppendUint16(b, fd.ServerPort)
	case event.FDUnix:
		_, _, path := unixEnds(fd.NameRaw)
		b = append(b, ppmAFUnix)
		b = append(b, path...)
		return append(b, 0)
	}
	return append(b, 0)
}

func append4(b []byte, a netip.Addr) []byte {
	if a.Is4() || a.Is4In6() {
		s := a.Unmap().As4()
		return append(b, s[:]...)
	}
	return append(b, 0, 0, 0, 0)
}

func append16(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(b, make([]byte, 16)...)
	}
	s := a.As16()
	return append(b, s[:]...)
}

// ThreadFromProcess describes a process of truesight's state as an entry
// of a capture's process table, with its fds, for WriteThreads.
func ThreadFromProcess(p *state.Process) *ThreadInfo {
	t := &ThreadInfo{
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
		t.FDs = append(t.FDs, fdInfoFrom(fd))
	}
	return t
}

func fdInfoFrom(fd *event.FD) FDInfo {
	f := FDInfo{Num: fd.Num, Ino: fd.Ino, Name: fd.Name}
	switch fd.Type {
	case event.FDFile:
		f.Type, f.OpenFlags, f.Dev = FDFileV2, KernelOpenFlags(fd.Flags), fd.Dev
	case event.FDDirectory:
		f.Type = FDDirectory
	case event.FDIPv4, event.FDIPv6:
		v6 := fd.Type == event.FDIPv6
		f.L4 = kernelL4(fd.L4)
		switch {
		case fd.LocalIsServer && !fd.Connected:
			f.Type, f.Src, f.SrcPort = FDIPv4Server, fd.ServerIP, fd.ServerPort
			if v6 {
				f.Type = FDIPv6Server
			}
		default:
			f.Type = FDIPv4Sock
			if v6 {
				f.Type = FDIPv6Sock
			}
			f.Src, f.SrcPort, f.Dst, f.DstPort = fd.ClientIP, fd.ClientPort, fd.ServerIP, fd.ServerPort
		}
		f.Name = ""
	case event.FDUnix:
		f.Type = FDUnixSock
	case event.FDPipe:
		f.Type = FDFifo
	case event.FDEvent:
		f.Type = FDEvent
	case event.FDSignalfd:
		f.Type = FDSignalfd
	case event.FDEventPoll:
		f.Type = FDEventPoll
	case event.FDInotify:
		f.Type = FDInotify
	case event.FDTimerfd:
		f.Type = FDTimerfd
	case event.FDNetlink:
		f.Type = FDNetlink
	case event.FDBPF:
		f.Type = FDBPF
	case event.FDUserfaultfd:
		f.Type = FDUserfaultfd
	case event.FDIOUring:
		f.Type = FDIOUring
	case event.FDMemfd:
		f.Type = FDMemfd
	case event.FDPidfd:
		f.Type = FDPidfd
	default:
		f.Type = FDUnsupported
	}
	return f
}

func kernelL4(p event.L4Proto) uint8 {
	switch p {
	case event.L4TCP:
		return L4TCP
	case event.L4UDP:
		return L4UDP
	case event.L4ICMP:
		return L4ICMP
	case event.L4Raw:
		return L4Raw
	}
	return L4Unknown
}
