package capture

import (
	"encoding/binary"
	"math"
	"net/netip"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// paramTables holds, per event code and parameter, the name table of a
// flags or enum parameter (nil for other parameters).
var paramTables = func() [NumCodes][][]flagName {
	var t [NumCodes][][]flagName
	for code := range schema {
		info := &schema[code]
		for i, p := range info.Params {
			switch p.Type {
			case ParamFlags8, ParamFlags16, ParamFlags32, ParamEnumFlags8, ParamEnumFlags16, ParamEnumFlags32, ParamMode:
			default:
				continue
			}
			table := flagTableFor(info.Name, p.Name)
			if p.Type == ParamMode {
				table = modeBits
			}
			if table == nil {
				continue
			}
			if t[code] == nil {
				t[code] = make([][]flagName, len(info.Params))
			}
			t[code][i] = table
		}
	}
	return t
}()

// isOpenFlags reports whether parameter i of the event is an open's flags,
// whose number truesight carries in the kernel's encoding.
func (e *Event) isOpenFlags(i int) bool {
	tables := paramTables[e.Code]
	return tables != nil && i < len(tables) && len(tables[i]) > 0 && &tables[i][0] == &fileFlags[0]
}

// isCloneFlags reports whether parameter i is a clone's flags, whose
// number truesight carries in the kernel's encoding.
func (e *Event) isCloneFlags(i int) bool {
	tables := paramTables[e.Code]
	return tables != nil && i < len(tables) && len(tables[i]) > 0 && &tables[i][0] == &cloneFlags[0]
}

// Uint returns parameter i as an unsigned number of its encoded width
// (1, 2, 4 or 8 bytes), and false when it has another width.
func (e *Event) Uint(i int) (uint64, bool) {
	return leUint(e.Param(i))
}

// Int returns parameter i as a signed number of its encoded width.
func (e *Event) Int(i int) (int64, bool) {
	p := e.Param(i)
	switch len(p) {
	case 1:
		return int64(int8(p[0])), true
	case 2:
		return int64(int16(binary.LittleEndian.Uint16(p))), true
	case 4:
		return int64(int32(binary.LittleEndian.Uint32(p))), true
	case 8:
		return int64(binary.LittleEndian.Uint64(p)), true
	}
	return 0, false
}

// String returns a text parameter (CHARBUF, FSPATH) up to its NUL.
func (e *Event) String(i int) string { return cstring(e.Param(i)) }

func leUint(p []byte) (uint64, bool) {
	switch len(p) {
	case 1:
		return uint64(p[0]), true
	case 2:
		return uint64(binary.LittleEndian.Uint16(p)), true
	case 4:
		return uint64(binary.LittleEndian.Uint32(p)), true
	case 8:
		return binary.LittleEndian.Uint64(p), true
	}
	return 0, false
}

// ParamText returns parameter i rendered as Falco renders evt.arg.<name>
// and its numeric value (0 for text parameters).
func (e *Event) ParamText(i int) (string, int64) {
	b, n := e.AppendParam(nil, i)
	return string(b), n
}

// ParamNum returns the number AppendParam gives with parameter i's text,
// without rendering the text: open and clone flags in the kernel's
// encoding, 0 for parameters that are not numbers or are malformed. It
// reports false only when the event has no parameter i.
func (e *Event) ParamNum(i int) (int64, bool) {
	info, ok := e.ParamInfo(i)
	if !ok || i < 0 || i >= e.NParams {
		return 0, false
	}
	p := e.Param(i)
	switch info.Type {
	case ParamInt8, ParamInt16, ParamInt32, ParamInt64, ParamFD, ParamPID, ParamFD32, ParamPID32, ParamErrno:
		v, _ := e.Int(i)
		return v, true
	case ParamUint8, ParamUint16, ParamUint32, ParamUint64, ParamPort, ParamRelTime, ParamAbsTime,
		ParamUID, ParamGID, ParamSigSet, ParamBool, ParamL4Proto, ParamSockFamily, ParamSyscallID, ParamSigType:
		v, _ := leUint(p)
		return int64(v), true
	case ParamFlags8, ParamFlags16, ParamFlags32, ParamEnumFlags8, ParamEnumFlags16, ParamEnumFlags32, ParamMode:
		v, ok := leUint(p)
		if !ok {
			return 0, true
		}
		switch {
		case e.isOpenFlags(i):
			return int64(OpenFlagsToKernel(uint32(v))), true
		case e.isCloneFlags(i):
			return int64(CloneFlagsToKernel(uint32(v))), true
		}
		return int64(v), true
	}
	return 0, true
}

// AppendParam appends parameter i, rendered as Falco renders
// evt.arg.<name>, to dst and returns its numeric value: flags as their
// names (O_WRONLY|O_CREAT), errno values as names (ENOENT) when negative,
// fds and pids as numbers, paths as text, socket tuples as
// "sip:sport->dip:dport". The numbers of an open's and a clone's flags are
// converted to the kernel's encoding, as the live sensor reports them;
// other numbers are as captured.
func (e *Event) AppendParam(dst []byte, i int) ([]byte, int64) {
	p := e.Param(i)
	info, ok := e.ParamInfo(i)
	if !ok {
		return appendPrintable(dst, p), 0
	}
	switch info.Type {
	case ParamInt8, ParamInt16, ParamInt32, ParamInt64, ParamFD, ParamPID, ParamFD32, ParamPID32:
		v, ok := e.Int(i)
		if !ok {
			return dst, 0
		}
		return strconv.AppendInt(dst, v, 10), v
	case ParamErrno:
		v, ok := e.Int(i)
		if !ok {
			return dst, 0
		}
		if v < 0 {
			if name := unix.ErrnoName(syscall.Errno(-v)); name != "" {
				return append(dst, name...), v
			}
		}
		return strconv.AppendInt(dst, v, 10), v
	case ParamUint8, ParamUint16, ParamUint32, ParamUint64, ParamPort, ParamRelTime, ParamAbsTime,
		ParamUID, ParamGID, ParamSigSet, ParamBool, ParamL4Proto, ParamSockFamily:
		v, ok := leUint(p)
		if !ok {
			return dst, 0
		}
		if info.Type == ParamUint32 && info.Name == "mode" {
			return appendOctal(dst, v), int64(v)
		}
		return strconv.AppendUint(dst, v, 10), int64(v)
	case ParamFlags8, ParamFlags16, ParamFlags32, ParamEnumFlags8, ParamEnumFlags16, ParamEnumFlags32, ParamMode:
		v, ok := leUint(p)
		if !ok {
			return dst, 0
		}
		num := int64(v)
		if e.isOpenFlags(i) {
			num = int64(OpenFlagsToKernel(uint32(v)))
		} else if e.isCloneFlags(i) {
			num = int64(CloneFlagsToKernel(uint32(v)))
		}
		if tables := paramTables[e.Code]; tables != nil && tables[i] != nil {
			if out, ok := appendFlags(dst, tables[i], uint32(v)); ok {
				return out, num
			}
		}
		if info.Type == ParamMode {
			return appendOctal(dst, v), num
		}
		return strconv.AppendUint(dst, v, 10), num
	case ParamCharBuf, ParamFSPath, ParamFSRelPath:
		for j, c := range p {
			if c == 0 {
				p = p[:j]
				break
			}
		}
		return append(dst, p...), 0
	case ParamByteBuf, ParamCharBufArray, ParamCharBufPairArray:
		return appendPrintable(dst, p), 0
	case ParamSyscallID:
		v, ok := leUint(p)
		if !ok {
			return dst, 0
		}
		return append(dst, SyscallName(uint16(v))...), int64(v)
	case ParamSigType:
		v, ok := leUint(p)
		if !ok {
			return dst, 0
		}
		if name := unix.SignalName(syscall.Signal(v)); name != "" {
			return append(dst, name...), int64(v)
		}
		return strconv.AppendUint(dst, v, 10), int64(v)
	case ParamSockAddr:
		return appendSockAddr(dst, p), 0
	case ParamSockTuple:
		return appendSockTuple(dst, p), 0
	case ParamFDList:
		return appendFDList(dst, p), 0
	case ParamIPv4Addr, ParamIPv6Addr, ParamIPAddr:
		if a, ok := netip.AddrFromSlice(p); ok {
			return a.AppendTo(dst), 0
		}
		return dst, 0
	case ParamDouble:
		if len(p) == 8 {
			return strconv.AppendFloat(dst, math.Float64frombits(binary.LittleEndian.Uint64(p)), 'g', -1, 64), 0
		}
		return dst, 0
	case ParamDyn:
		// One byte selects the real type; the values in use are numbers.
		if len(p) >= 1 {
			if v, ok := leUint(p[1:]); ok {
				return strconv.AppendInt(dst, int64(v), 10), int64(v)
			}
			return appendPrintable(dst, p[1:]), 0
		}
		return dst, 0
	}
	return appendPrintable(dst, p), 0
}

// appendOctal appends a file mode as sysdig prints it: 0644, and 0.
func appendOctal(dst []byte, v uint64) []byte {
	if v == 0 {
		return append(dst, '0')
	}
	return strconv.AppendUint(append(dst, '0'), v, 8)
}

// appendPrintable appends bytes with unprintable ones shown as '.', as
// sysdig shows buffers.
func appendPrintable(dst, p []byte) []byte {
	for _, c := range p {
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		dst = append(dst, c)
	}
	return dst
}

// Socket families in the capture's encoding.
const (
	ppmAFUnix  = 1
	ppmAFInet  = 2
	ppmAFInet6 = 10
)

// SockAddr is a decoded PT_SOCKADDR parameter.
type SockAddr struct {
	Family uint8
	Addr   netip.Addr
	Port   uint16
	Path   string // unix sockets
}

// SockTuple is a decoded PT_SOCKTUPLE parameter: the two ends of a
// connection as the kernel saw them from the calling process (source is
// the local end for connect, the remote end for accept).
type SockTuple struct {
	Family           uint8
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	// Unix sockets: kernel addresses of the ends and the path.
	UnixSrc, UnixDst uint64
	Path             string
}

// DecodeSockAddr decodes a PT_SOCKADDR parameter.
func DecodeSockAddr(p []byte) (SockAddr, bool) {
	if len(p) < 1 {
		return SockAddr{}, false
	}
	s := SockAddr{Family: p[0]}
	switch p[0] {
	case ppmAFInet:
		if len(p) < 7 {
			return s, false
		}
		s.Addr = netip.AddrFrom4([4]byte(p[1:5]))
		s.Port = binary.LittleEndian.Uint16(p[5:])
	case ppmAFInet6:
		if len(p) < 19 {
			return s, false
		}
		s.Addr = netip.AddrFrom16([16]byte(p[1:17])).Unmap()
		s.Port = binary.LittleEndian.Uint16(p[17:])
	case ppmAFUnix:
		s.Path = cstring(p[1:])
	}
	return s, true
}

// DecodeSockTuple decodes a PT_SOCKTUPLE parameter.
func DecodeSockTuple(p []byte) (SockTuple, bool) {
	if len(p) < 1 {
		return SockTuple{}, false
	}
	t := SockTuple{Family: p[0]}
	switch p[0] {
	case ppmAFInet:
		if len(p) < 13 {
			return t, false
		}
		t.Src = netip.AddrFrom4([4]byte(p[1:5]))
		t.SrcPort = binary.LittleEndian.Uint16(p[5:])
		t.Dst = netip.AddrFrom4([4]byte(p[7:11]))
		t.DstPort = binary.LittleEndian.Uint16(p[11:])
	case ppmAFInet6:
		if len(p) < 37 {
			return t, false
		}
		t.Src = netip.AddrFrom16([16]byte(p[1:17])).Unmap()
		t.SrcPort = binary.LittleEndian.Uint16(p[17:])
		t.Dst = netip.AddrFrom16([16]byte(p[19:35])).Unmap()
		t.DstPort = binary.LittleEndian.Uint16(p[35:])
	case ppmAFUnix:
		if len(p) < 17 {
			return t, false
		}
		t.UnixSrc = binary.LittleEndian.Uint64(p[1:])
		t.UnixDst = binary.LittleEndian.Uint64(p[9:])
		t.Path = cstring(p[17:])
	default:
		return t, false
	}
	return t, true
}

func appendAddrPort(dst []byte, a netip.Addr, port uint16) []byte {
	dst = a.AppendTo(dst)
	dst = append(dst, ':')
	return strconv.AppendUint(dst, uint64(port), 10)
}

func appendSockAddr(dst, p []byte) []byte {
	s, ok := DecodeSockAddr(p)
	if !ok {
		return dst
	}
	switch s.Family {
	case ppmAFInet, ppmAFInet6:
		return appendAddrPort(dst, s.Addr, s.Port)
	case ppmAFUnix:
		return append(dst, s.Path...)
	}
	return dst
}

func appendSockTuple(dst, p []byte) []byte {
	t, ok := DecodeSockTuple(p)
	if !ok {
		return dst
	}
	if t.Family == ppmAFUnix {
		dst = strconv.AppendUint(dst, t.UnixSrc, 16)
		dst = append(dst, "->"...)
		dst = strconv.AppendUint(dst, t.UnixDst, 16)
		dst = append(dst, ' ')
		return append(dst, t.Path...)
	}
	dst = appendAddrPort(dst, t.Src, t.SrcPort)
	dst = append(dst, "->"...)
	return appendAddrPort(dst, t.Dst, t.DstPort)
}

func appendFDList(dst, p []byte) []byte {
	if len(p) < 2 {
		return dst
	}
	n := int(binary.LittleEndian.Uint16(p))
	p = p[2:]
	for i := 0; i < n && len(p) >= 10; i++ {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = strconv.AppendInt(dst, int64(binary.LittleEndian.Uint64(p)), 10)
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, uint64(binary.LittleEndian.Uint16(p[8:])), 10)
		p = p[10:]
	}
	return dst
}
