package sensor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrMalformed is wrapped by every decoding error: the bytes are not a
// record the kernel side writes.
var ErrMalformed = errors.New("malformed sensor record")

// Wire layout, mirrored from bpf/sensor.h; layout_test.go checks every
// offset against the bpf2go-generated structs.
const (
	hdrSize      = 32
	scRecSize    = 152
	procRecSize  = 216
	forkRecSize  = 232
	exitRecSize  = 72
	fldHdrSize   = 4
	fileInfoSize = 64
	sockInfoSize = 48
	fdPairSize   = 16
	capInfoSize  = 24

	taskIDsOff  = 32 // task_ids in sc_rec
	procInfoOff = 32 // proc_info in proc_rec and fork_rec

	maxArgs = 4096 // MAX_ARGS
)

// Field types and slots of bpf/sensor.h.
const (
	ftPath     = 1
	ftFile     = 2
	ftFilePath = 3
	ftSock     = 4
	ftUnix     = 5
	ftSockaddr = 6
	ftStr      = 7
	ftUstruct  = 8
	ftFilename = 9
	ftInterp   = 10
	ftArgv     = 11
	ftEnv      = 12
	ftCgroup   = 13
	ftData     = 14
	ftFDs      = 15
	ftCaps     = 16

	slotFD   = 0
	slotDir0 = 1
	slotDir1 = 2
	slotExe  = 3
	slotCwd  = 4
	slotRoot = 5

	rfCompat    = 0x1
	rfTruncated = 0x2

	pfKthread = 0x00200000

	strTruncArgv = 0x1
	strTruncEnv  = 0x2

	afUnix  = 1
	afInet  = 2
	afInet6 = 10
)

var le = binary.LittleEndian

// Decoder turns the kernel's records into Records. It keeps a small cache of
// command names so that the per-event path does not allocate for them. A
// Decoder is not safe for concurrent use.
type Decoder struct {
	// BootOffset is added to the kernel's boot-time clock to get Unix time
	// in nanoseconds.
	BootOffset int64

	comms map[[16]byte]string
}

// NewDecoder returns a decoder that converts boot-clock timestamps with
// bootOffset (wall clock minus CLOCK_BOOTTIME, in nanoseconds).
func NewDecoder(bootOffset int64) *Decoder {
	return &Decoder{BootOffset: bootOffset, comms: make(map[[16]byte]string)}
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// Decode decodes one record into r, overwriting it. It never panics on bad
// input; it returns an error wrapping ErrMalformed instead.
func (d *Decoder) Decode(b []byte, r *Record) error {
	if len(b) < hdrSize {
		return malformed("%d bytes, shorter than a header", len(b))
	}
	size := int(le.Uint32(b[8:]))
	if size < hdrSize || size > len(b) {
		return malformed("size %d with %d bytes", size, len(b))
	}
	b = b[:size]
	kind := Kind(le.Uint16(b[12:]))
	flags := le.Uint16(b[14:])

	r.Syscall.reset()
	r.Process.reset()
	r.Kind = kind
	r.BootNS = le.Uint64(b[0:])
	r.Time = int64(r.BootNS) + d.BootOffset
	r.Tid = le.Uint32(b[16:])
	r.Tgid = le.Uint32(b[20:])
	r.CPU = le.Uint32(b[24:])
	r.Truncated = flags&rfTruncated != 0

	switch kind {
	case KindSyscall:
		return d.decodeSyscall(b, flags, r)
	case KindExec, KindTask:
		if len(b) < procRecSize {
			return malformed("%s record of %d bytes", kind, len(b))
		}
		p := &r.Process
		d.procInfo(b[procInfoOff:], p)
		p.Tid, p.Tgid = r.Tid, r.Tgid
		return d.fields(b, procRecSize, r)
	case KindFork:
		if len(b) < forkRecSize {
			return malformed("fork record of %d bytes", len(b))
		}
		p := &r.Process
		d.procInfo(b[procInfoOff:], p)
		p.Tid, p.Tgid = r.Tid, r.Tgid
		p.CloneFlags = le.Uint64(b[216:])
		p.CallerTid = le.Uint32(b[224:])
		p.CallerTgid = le.Uint32(b[228:])
		return d.fields(b, forkRecSize, r)
	case KindExit:
		if len(b) < exitRecSize {
			return malformed("exit record of %d bytes", len(b))
		}
		p := &r.Process
		p.Tid, p.Tgid = r.Tid, r.Tgid
		p.StartBootNS = le.Uint64(b[32:])
		p.StartTime = d.wall(p.StartBootNS)
		p.PPid = le.Uint32(b[40:])
		p.ExitCode = le.Uint32(b[44:])
		p.GroupDead = le.Uint32(b[48:]) != 0
		p.Comm = d.comm(b[56:72])
		return nil
	}
	return malformed("unknown kind %d", kind)
}

func (d *Decoder) wall(boot uint64) int64 {
	if boot == 0 {
		return 0
	}
	return int64(boot) + d.BootOffset
}

func (d *Decoder) decodeSyscall(b []byte, flags uint16, r *Record) error {
	if len(b) < scRecSize {
		return malformed("syscall record of %d bytes", len(b))
	}
	s := &r.Syscall
	t := b[taskIDsOff:]
	s.Task = TaskIDs{
		CgroupID: le.Uint64(t[0:]),
		PPid:     le.Uint32(t[8:]),
		UID:      le.Uint32(t[12:]),
		GID:      le.Uint32(t[16:]),
		EUID:     le.Uint32(t[20:]),
		EGID:     le.Uint32(t[24:]),
		LoginUID: le.Uint32(t[28:]),
		MntNS:    le.Uint32(t[32:]),
		PidNS:    le.Uint32(t[36:]),
		Comm:     d.comm(t[40:56]),
	}
	s.Ret = int64(le.Uint64(b[88:]))
	for i := range s.Args {
		s.Args[i] = le.Uint64(b[96+8*i:])
	}
	s.Nr = int(le.Uint32(b[144:]))
	s.RawNr = int(le.Uint32(b[148:]))
	s.Compat = flags&rfCompat != 0
	if err := d.fields(b, scRecSize, r); err != nil {
		return err
	}
	// The kernel resolves a shared base directory once.
	if !s.Dir[1].Valid && s.Dir[0].Valid && relative(s.Path[1]) {
		s.Dir[1] = s.Dir[0]
	}
	return nil
}

func relative(p string) bool { return p != "" && p[0] != '/' }

func (d *Decoder) procInfo(b []byte, p *ProcessRecord) {
	p.CapEffective = le.Uint64(b[0:])
	p.CapPermitted = le.Uint64(b[8:])
	p.CapInheritable = le.Uint64(b[16:])
	p.StartBootNS = le.Uint64(b[24:])
	p.StartTime = d.wall(p.StartBootNS)
	p.ParentStartTime = d.wall(le.Uint64(b[32:]))
	p.PidNSInitStart = d.wall(le.Uint64(b[40:]))
	p.CgroupID = le.Uint64(b[48:])
	p.PPid = le.Uint32(b[56:])
	p.VTid = le.Uint32(b[60:])
	p.VPid = le.Uint32(b[64:])
	p.VPgid = le.Uint32(b[68:])
	p.VSid = le.Uint32(b[72:])
	p.Pgid = le.Uint32(b[76:])
	p.Sid = le.Uint32(b[80:])
	p.UID = le.Uint32(b[84:])
	p.GID = le.Uint32(b[88:])
	p.EUID = le.Uint32(b[92:])
	p.EGID = le.Uint32(b[96:])
	p.SUID = le.Uint32(b[100:])
	p.SGID = le.Uint32(b[104:])
	p.FSUID = le.Uint32(b[108:])
	p.FSGID = le.Uint32(b[112:])
	p.LoginUID = le.Uint32(b[116:])
	p.SessionID = le.Uint32(b[120:])
	p.TTY = le.Uint32(b[124:])
	p.KernelThread = le.Uint32(b[128:])&pfKthread != 0
	p.OldTid = le.Uint32(b[132:])
	p.NS = Namespaces{
		Mnt:    le.Uint32(b[136:]),
		Pid:    le.Uint32(b[140:]),
		Net:    le.Uint32(b[144:]),
		User:   le.Uint32(b[148:]),
		UTS:    le.Uint32(b[152:]),
		IPC:    le.Uint32(b[156:]),
		Cgroup: le.Uint32(b[160:]),
	}
	trunc := le.Uint32(b[164:])
	p.ArgsTruncated = trunc&strTruncArgv != 0
	p.EnvTruncated = trunc&strTruncEnv != 0
	p.Comm = d.comm(b[168:184])
}

// comm returns the NUL-terminated name in b (16 bytes), from the cache.
func (d *Decoder) comm(b []byte) string {
	var key [16]byte
	copy(key[:], b)
	if s, ok := d.comms[key]; ok {
		return s
	}
	if d.comms == nil || len(d.comms) >= 4096 {
		d.comms = make(map[[16]byte]string)
	}
	s := cstring(key[:])
	d.comms[key] = s
	return s
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// fields decodes the fields after the fixed part. All strings of a record
// share one allocation: the field area is copied into one string once and
// sliced.
func (d *Decoder) fields(b []byte, start int, r *Record) error {
	var area string // b[start:] as a string, made on first use
	str := func(from, to int) string {
		if area == "" {
			area = string(b[start:])
		}
		return area[from-start : to-start]
	}
	cstr := func(from, to int) string {
		for to > from && b[to-1] == 0 {
			to--
		}
		if to == from {
			return ""
		}
		return str(from, to)
	}

	s := &r.Syscall
	p := &r.Process
	off := start
	for off < len(b) {
		if len(b)-off < fldHdrSize {
			return malformed("field header at %d cut off", off)
		}
		typ, slot := b[off], b[off+1]
		n := int(le.Uint16(b[off+2:]))
		from := off + fldHdrSize
		to := from + n
		if to > len(b) {
			return malformed("field %d at %d: %d bytes, record has %d", typ, off, n, len(b)-from)
		}
		data := b[from:to]
		off = to

		switch typ {
		case ftPath:
			if slot < 2 {
				s.Path[slot] = cstr(from, to)
			}
		case ftFile:
			f := r.file(slot)
			if f == nil || n < fileInfoSize {
				continue
			}
			decodeFileInfo(data, f, d)
		case ftFilePath:
			if f := r.file(slot); f != nil {
				f.Path = str(from, to)
			}
		case ftSock:
			if n < sockInfoSize {
				continue
			}
			decodeSock(data, &s.Sock)
		case ftUnix:
			switch slot {
			case 0:
				s.Sock.LocalPath = unixPath(data, cstr, from, to)
			case 1:
				s.Sock.PeerPath = unixPath(data, cstr, from, to)
			}
		case ftSockaddr:
			decodeSockaddr(data, &s.Addr, cstr, from)
		case ftStr:
			s.Str = cstr(from, to)
		case ftUstruct:
			s.StructLen = copy(s.Struct[:], data)
		case ftFilename:
			p.Filename = cstr(from, to)
		case ftInterp:
			p.Interp = cstr(from, to)
		case ftArgv:
			args := splitNUL(str, from, to, data)
			if r.Kind == KindSyscall {
				s.Argv = args
			} else {
				p.Args = args
			}
		case ftEnv:
			p.Env = splitNUL(str, from, to, data)
		case ftCgroup:
			p.Cgroup = str(from, to)
		case ftData:
			if n < 8 || r.Kind != KindSyscall {
				continue
			}
			s.HasData = true
			s.DataLen = int64(le.Uint64(data))
			s.Data = append([]byte{}, data[8:]...)
		case ftFDs:
			if n < fdPairSize || r.Kind != KindSyscall {
				continue
			}
			s.HasFDs = true
			s.FDs[0] = int64(int32(le.Uint32(data[0:])))
			s.FDs[1] = int64(int32(le.Uint32(data[4:])))
			s.PipeIno = le.Uint64(data[8:])
		case ftCaps:
			if n < capInfoSize || r.Kind != KindSyscall {
				continue
			}
			s.HasCaps = true
			s.Caps = Caps{
				Effective:   le.Uint64(data[0:]),
				Permitted:   le.Uint64(data[8:]),
				Inheritable: le.Uint64(data[16:]),
			}
		}
	}
	return nil
}

// file returns the File a slot names for this kind of record.
func (r *Record) file(slot uint8) *File {
	if r.Kind == KindSyscall {
		switch slot {
		case slotFD:
			return &r.Syscall.File
		case slotDir0:
			return &r.Syscall.Dir[0]
		case slotDir1:
			return &r.Syscall.Dir[1]
		case slotCwd:
			return &r.Syscall.Cwd
		}
		return nil
	}
	switch slot {
	case slotExe:
		return &r.Process.Exe
	case slotCwd:
		return &r.Process.Cwd
	case slotRoot:
		return &r.Process.Root
	}
	return nil
}

func decodeFileInfo(b []byte, f *File, d *Decoder) {
	f.Valid = true
	f.Ino = le.Uint64(b[0:])
	f.FSMagic = le.Uint64(b[8:])
	f.Ctime = int64(le.Uint64(b[16:]))
	f.Mtime = int64(le.Uint64(b[24:]))
	f.Dev = le.Uint32(b[32:])
	f.MntID = le.Uint32(b[36:])
	f.MntNS = le.Uint32(b[40:])
	f.OpenFlags = le.Uint32(b[44:])
	f.FMode = le.Uint32(b[48:])
	f.Mode = le.Uint32(b[52:])
	f.Nlink = le.Uint32(b[56:])
	f.Flags = FileFlags(le.Uint32(b[60:]))
}

func decodeSock(b []byte, s *Socket) {
	s.Valid = true
	s.Family = le.Uint16(b[32:])
	s.Type = le.Uint16(b[34:])
	s.Proto = le.Uint16(b[36:])
	lport := le.Uint16(b[38:])
	rport := le.Uint16(b[40:])
	s.State = b[42]
	switch s.Family {
	case afInet:
		s.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[0:4])), lport)
		s.Remote = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[16:20])), rport)
	case afInet6:
		s.Local = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[0:16])), lport)
		s.Remote = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[16:32])), rport)
	}
}

// unixPath renders a sun_path: abstract addresses (leading NUL) get "@".
func unixPath(b []byte, cstr func(int, int) string, from, to int) string {
	if len(b) == 0 {
		return ""
	}
	if b[0] == 0 {
		return "@" + strings.TrimRight(string(b[1:]), "\x00")
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		to = from + i
	}
	return cstr(from, to)
}

func decodeSockaddr(b []byte, a *SockAddr, cstr func(int, int) string, from int) {
	if len(b) < 2 {
		return
	}
	a.Valid = true
	a.Family = le.Uint16(b)
	switch a.Family {
	case afInet:
		if len(b) >= 8 {
			port := binary.BigEndian.Uint16(b[2:])
			a.AddrPort = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port)
		}
	case afInet6:
		if len(b) >= 24 {
			port := binary.BigEndian.Uint16(b[2:])
			a.AddrPort = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])), port)
		}
	case afUnix:
		a.Path = unixPath(b[2:], cstr, from+2, from+len(b))
	}
}

// splitNUL splits NUL-separated strings; a last string without its NUL was
// cut at the kernel's bound and is kept as it is.
func splitNUL(str func(int, int) string, from, to int, data []byte) []string {
	n := bytes.Count(data, []byte{0})
	if len(data) > 0 && data[len(data)-1] != 0 {
		n++
	}
	out := make([]string, 0, n)
	i := from
	for i < to {
		j := bytes.IndexByte(data[i-from:], 0)
		end := to
		if j >= 0 {
			end = i + j
		}
		out = append(out, str(i, end))
		i = end + 1
	}
	return out
}

func (s *SyscallRecord) reset() { *s = SyscallRecord{} }

func (p *ProcessRecord) reset() { *p = ProcessRecord{} }
