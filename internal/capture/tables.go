package capture

import (
	"bytes"
	"fmt"
	"net/netip"
)

// MachineInfo is the capture's machine information block.
type MachineInfo struct {
	NumCPUs     uint32
	MemoryBytes uint64
	MaxPid      uint64
	Hostname    string
}

// ThreadInfo is one thread of the capture's process table: the state of
// the machine when the capture started (or when a later section began).
type ThreadInfo struct {
	Tid, Pid, PTid int64
	Sid, VPgid     int64 // -1 when the capture does not say
	Comm           string
	Exe            string // argv[0]
	ExePath        string // resolved executable path; empty in old captures
	Args           []string
	Cwd            string
	FDLimit        uint64
	Flags          uint32 // PPM_CL_* flags
	UID, GID       uint32
	VMSizeKB       uint32
	VMRSSKB        uint32
	VMSwapKB       uint32
	PFMajor        uint64
	PFMinor        uint64
	Env            []string
	VTid, VPid     int64 // -1 when unknown
	// Cgroups are "subsystem=path" entries.
	Cgroups        []string
	Root           string
	PidNSInitStart uint64
	TTY            uint32
	LoginUID       uint32 // 0xffffffff when unset
	ExeWritable    bool
	CapInheritable uint64
	CapPermitted   uint64
	CapEffective   uint64
	ExeUpperLayer  bool
	ExeIno         uint64
	ExeCtime       uint64
	ExeMtime       uint64
	ExeFromMemfd   bool

	// FDs are the thread's open files from the capture's fd list blocks.
	FDs []FDInfo
}

// FDType is a file descriptor type as the capture format numbers it.
type FDType uint8

// File descriptor types of fd list blocks (scap_fd_type).
const (
	FDUnknown     FDType = 0
	FDFile        FDType = 1
	FDDirectory   FDType = 2
	FDIPv4Sock    FDType = 3
	FDIPv6Sock    FDType = 4
	FDIPv4Server  FDType = 5
	FDIPv6Server  FDType = 6
	FDFifo        FDType = 7
	FDUnixSock    FDType = 8
	FDEvent       FDType = 9
	FDUnsupported FDType = 10
	FDSignalfd    FDType = 11
	FDEventPoll   FDType = 12
	FDInotify     FDType = 13
	FDTimerfd     FDType = 14
	FDNetlink     FDType = 15
	FDFileV2      FDType = 16
	FDBPF         FDType = 17
	FDUserfaultfd FDType = 18
	FDIOUring     FDType = 19
	FDMemfd       FDType = 20
	FDPidfd       FDType = 21
)

// L4 protocols of socket fds (scap_l4_proto).
const (
	L4Unknown = 0
	L4NA      = 1
	L4TCP     = 2
	L4UDP     = 3
	L4ICMP    = 4
	L4Raw     = 5
)

// FDInfo is one open file descriptor of a thread in the capture's tables.
type FDInfo struct {
	Num  int64
	Ino  uint64
	Type FDType
	// Name is the path for files, directories and other named objects,
	// the socket path for unix sockets.
	Name      string
	OpenFlags uint32 // PPM_O_* flags of FDFileV2 entries
	Dev       uint32
	// Sockets: for a connected socket Src/Dst as the kernel saw them,
	// for a server socket only Src (the listening address).
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	L4               uint8
	// Unix sockets: kernel addresses of the two ends.
	UnixSrc, UnixDst uint64
}

// User is an entry of the capture's user list.
type User struct {
	UID, GID    uint32
	Name, Home  string
	Shell       string
	ContainerID string
}

// Group is an entry of the capture's group list.
type Group struct {
	GID         uint32
	Name        string
	ContainerID string
}

// Interface is an address of a network interface at capture time.
type Interface struct {
	Name      string
	Addr      netip.Addr
	Netmask   netip.Addr
	Broadcast netip.Addr
	LinkSpeed uint64
}

func parseMachine(body []byte) (MachineInfo, error) {
	c := cursor{b: body}
	var m MachineInfo
	m.NumCPUs = c.u32()
	m.MemoryBytes = c.u64()
	m.MaxPid = c.u64()
	m.Hostname = cstring(c.take(128))
	if c.err != nil {
		return MachineInfo{}, c.err
	}
	return m, nil
}

// parseProcList reads the entries of a process list block of the given
// version and passes each to add.
func parseProcList(body []byte, typ uint32, add func(*ThreadInfo)) error {
	c := cursor{b: body}
	for c.left() >= 4 {
		start := c.off
		var subLen int
		if typ == blockProcV9 {
			subLen = int(c.u32())
		}
		t := &ThreadInfo{Sid: -1, VPgid: -1, VTid: -1, VPid: -1, LoginUID: 0xffffffff}
		t.Tid = c.i64()
		t.Pid = c.i64()
		t.PTid = c.i64()
		switch typ {
		case blockProcV6, blockProcV7, blockProcV8, blockProcV9:
			t.Sid = c.i64()
		}
		if typ == blockProcV8 || typ == blockProcV9 {
			t.VPgid = c.i64()
		}
		t.Comm = c.str16()
		t.Exe = c.str16()
		if typ == blockProcV7 || typ == blockProcV8 || typ == blockProcV9 {
			t.ExePath = c.str16()
		}
		t.Args = splitNUL(c.take(int(c.u16())))
		t.Cwd = c.str16()
		t.FDLimit = c.u64()
		t.Flags = c.u32()
		t.UID = c.u32()
		t.GID = c.u32()
		if typ != blockProcV1 && typ != blockProcV1Int {
			t.VMSizeKB = c.u32()
			t.VMRSSKB = c.u32()
			t.VMSwapKB = c.u32()
			t.PFMajor = c.u64()
			t.PFMinor = c.u64()
			if typ != blockProcV2 && typ != blockProcV2Int {
				t.Env = splitNUL(c.take(int(c.u16())))
			}
			switch typ {
			case blockProcV4, blockProcV5, blockProcV6, blockProcV7, blockProcV8, blockProcV9:
				t.VTid = c.i64()
				t.VPid = c.i64()
				t.Cgroups = splitNUL(c.take(int(c.u16())))
				if typ != blockProcV4 {
					t.Root = c.str16()
				}
			}
		}
		if c.err != nil {
			return fmt.Errorf("process entry at block offset %d: %w", start, c.err)
		}
		if subLen > 0 {
			read := func() int { return c.off - start }
			fits := func(n int) bool { return read()+n <= subLen }
			// Writers of libs 0.10 and later put two fields before the
			// older optional ones; an entry with no more than the older
			// fields' 29 bytes left predates them.
			if subLen-read() > 29 {
				if fits(8) {
					t.PidNSInitStart = c.u64()
				}
				if fits(4) {
					t.TTY = c.u32()
				}
			}
			if fits(4) {
				t.LoginUID = c.u32()
			}
			if fits(1) {
				t.ExeWritable = c.u8() != 0
			}
			if fits(8) {
				t.CapInheritable = c.u64()
			}
			if fits(8) {
				t.CapPermitted = c.u64()
			}
			if fits(8) {
				t.CapEffective = c.u64()
			}
			if fits(1) {
				t.ExeUpperLayer = c.u8() != 0
			}
			if fits(8) {
				t.ExeIno = c.u64()
			}
			if fits(8) {
				t.ExeCtime = c.u64()
			}
			if fits(8) {
				t.ExeMtime = c.u64()
			}
			if fits(1) {
				t.ExeFromMemfd = c.u8() != 0
			}
			if read() > subLen {
				return fmt.Errorf("process entry at block offset %d: read %d bytes of a %d-byte entry", start, read(), subLen)
			}
			c.take(subLen - read())
			if c.err != nil {
				return fmt.Errorf("process entry at block offset %d: %w", start, c.err)
			}
		}
		add(t)
	}
	return nil
}

// parseFDList reads a fd list block: the tid it belongs to and its fds.
func parseFDList(body []byte, typ uint32) (int64, []FDInfo, error) {
	c := cursor{b: body}
	tid := c.i64()
	var fds []FDInfo
	for c.err == nil && c.left() >= 4 {
		start := c.off
		var subLen int
		if typ == blockFDV2 {
			subLen = int(c.u32())
		}
		var f FDInfo
		f.Num = c.i64()
		f.Ino = c.u64()
		f.Type = FDType(c.u8())
		switch f.Type {
		case FDIPv4Sock:
			f.Src = ipv4(c.take(4))
			f.Dst = ipv4(c.take(4))
			f.SrcPort = c.u16()
			f.DstPort = c.u16()
			f.L4 = c.u8()
		case FDIPv4Server:
			f.Src = ipv4(c.take(4))
			f.SrcPort = c.u16()
			f.L4 = c.u8()
		case FDIPv6Sock:
			f.Src = ipv6(c.take(16))
			f.Dst = ipv6(c.take(16))
			f.SrcPort = c.u16()
			f.DstPort = c.u16()
			f.L4 = c.u8()
		case FDIPv6Server:
			f.Src = ipv6(c.take(16))
			f.SrcPort = c.u16()
			f.L4 = c.u8()
		case FDUnixSock:
			f.UnixSrc = c.u64()
			f.UnixDst = c.u64()
			f.Name = c.str16()
		case FDFileV2:
			f.OpenFlags = c.u32()
			f.Name = c.str16()
			if subLen > 0 && c.off-start+4 <= subLen {
				f.Dev = c.u32()
			}
		case FDFifo, FDFile, FDDirectory, FDUnsupported, FDEvent, FDSignalfd,
			FDEventPoll, FDInotify, FDTimerfd, FDNetlink, FDBPF, FDUserfaultfd,
			FDIOUring, FDMemfd, FDPidfd:
			f.Name = c.str16()
		default:
			// Unknown (or newer) type: nothing more is known about it.
		}
		if c.err != nil {
			return 0, nil, fmt.Errorf("fd entry at block offset %d: %w", start, c.err)
		}
		if subLen > 0 {
			read := c.off - start
			if read > subLen {
				return 0, nil, fmt.Errorf("fd entry at block offset %d: read %d bytes of a %d-byte entry", start, read, subLen)
			}
			c.take(subLen - read)
		}
		fds = append(fds, f)
	}
	if c.err != nil {
		return 0, nil, c.err
	}
	return tid, fds, nil
}

// parseUserList reads a user list block (users and groups).
func parseUserList(body []byte, typ uint32) ([]User, []Group, error) {
	c := cursor{b: body}
	var users []User
	var groups []Group
	for c.left() >= 4 {
		start := c.off
		var subLen int
		if typ == blockUserV2 {
			subLen = int(c.u32())
		}
		kind := c.u8()
		if kind == 0 {
			var u User
			u.UID = c.u32()
			u.GID = c.u32()
			u.Name = c.str16()
			u.Home = c.str16()
			u.Shell = c.str16()
			if subLen > 0 && c.off-start+2 <= subLen {
				u.ContainerID = c.str16()
			}
			users = append(users, u)
		} else {
			var g Group
			g.GID = c.u32()
			g.Name = c.str16()
			if subLen > 0 && c.off-start+2 <= subLen {
				g.ContainerID = c.str16()
			}
			groups = append(groups, g)
		}
		if c.err != nil {
			return nil, nil, fmt.Errorf("user entry at block offset %d: %w", start, c.err)
		}
		if subLen > 0 {
			read := c.off - start
			if read > subLen {
				return nil, nil, fmt.Errorf("user entry at block offset %d: read %d bytes of a %d-byte entry", start, read, subLen)
			}
			c.take(subLen - read)
			if c.err != nil {
				return nil, nil, fmt.Errorf("user entry at block offset %d: %w", start, c.err)
			}
		}
	}
	return users, groups, nil
}

// Interface entry types.
const (
	ifIPv4            = 1
	ifIPv6            = 2
	ifIPv4NoLinkSpeed = 3
	ifIPv6NoLinkSpeed = 4
)

func parseIfaceList(body []byte, typ uint32) ([]Interface, error) {
	c := cursor{b: body}
	var out []Interface
	for c.left() >= 4 {
		start := c.off
		var entry int
		if typ == blockIfaceV2 {
			entry = int(c.u32())
		}
		kind := c.u16()
		nameLen := int(c.u16())
		var ifc Interface
		switch kind {
		case ifIPv4, ifIPv4NoLinkSpeed:
			ifc.Addr = ipv4(c.take(4))
			ifc.Netmask = ipv4(c.take(4))
			ifc.Broadcast = ipv4(c.take(4))
		case ifIPv6, ifIPv6NoLinkSpeed:
			ifc.Addr = ipv6(c.take(16))
			ifc.Netmask = ipv6(c.take(16))
			ifc.Broadcast = ipv6(c.take(16))
		default:
			return nil, fmt.Errorf("interface entry at block offset %d: unknown type %d", start, kind)
		}
		if kind == ifIPv4 || kind == ifIPv6 {
			ifc.LinkSpeed = c.u64()
		}
		ifc.Name = cstring(c.take(nameLen))
		if c.err != nil {
			return nil, fmt.Errorf("interface entry at block offset %d: %w", start, c.err)
		}
		if entry > 0 {
			read := c.off - start
			if read > entry+4 {
				return nil, fmt.Errorf("interface entry at block offset %d: read %d bytes of a %d-byte entry", start, read, entry+4)
			}
			c.take(entry + 4 - read)
			if c.err != nil {
				return nil, fmt.Errorf("interface entry at block offset %d: %w", start, c.err)
			}
		}
		out = append(out, ifc)
	}
	return out, nil
}

func ipv4(b []byte) netip.Addr {
	if len(b) != 4 {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte(b))
}

func ipv6(b []byte) netip.Addr {
	if len(b) != 16 {
		return netip.Addr{}
	}
	return netip.AddrFrom16([16]byte(b))
}

// splitNUL splits NUL-separated strings (args, env, cgroups), dropping the
// terminator of the last one.
func splitNUL(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	b = bytes.TrimSuffix(b, []byte{0})
	parts := bytes.Split(b, []byte{0})
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = string(p)
	}
	return out
}
