package capture

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
)

// ExitCode returns the code of the newest exit event of a syscall name, or
// of the event of that name that has no exit half (procexit); false when
// the format has none (the syscall is then a generic event).
func ExitCode(name string) (uint16, bool) {
	c, ok := codeForName[name]
	return c, ok
}

// SyscallID returns the id a generic event gives a syscall name.
func SyscallID(name string) (uint16, bool) {
	id, ok := syscallIDs[name]
	return id, ok
}

var codeForName = func() map[string]uint16 {
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

var syscallIDs = func() map[string]uint16 {
	m := map[string]uint16{}
	for id, name := range syscallNames {
		if name != "" && id != 0 {
			m[name] = uint16(id)
		}
	}
	return m
}()

// Begin makes e an empty event of code, to which the parameters are then
// added in the order of the event table (AddNum, AddText, AddBytes); the
// live agent builds its events this way. e's buffer is reused.
func (e *Event) Begin(code uint16, num uint64, cpu uint16, ts, tid int64) {
	e.Num, e.Offset, e.Code, e.Info = num, 0, code, Info(code)
	e.CPU, e.Flags, e.Time, e.Tid, e.Preamble = cpu, 0, ts, tid, false
	e.NParams, e.start = 0, 0
	e.data = e.data[:0]
}

// Next returns the name and type of the parameter to add next; false once
// every parameter of the event is there.
func (e *Event) Next() (ParamInfo, bool) {
	if e.Info == nil || e.NParams >= len(e.Info.Params) || e.NParams >= maxEventParams {
		return ParamInfo{}, false
	}
	return e.Info.Params[e.NParams], true
}

func (e *Event) end() {
	e.ends[e.NParams] = uint32(len(e.data))
	e.NParams++
}

// AddNum adds the next parameter, a number, in the width its type has.
func (e *Event) AddNum(v int64) {
	pi, ok := e.Next()
	if !ok {
		return
	}
	e.data = appendNum(e.data, pi.Type, v)
	e.end()
}

// AddText adds the next parameter, a string: NUL-terminated for the
// character-buffer and path types, as is for byte buffers.
func (e *Event) AddText(s string) {
	pi, ok := e.Next()
	if !ok {
		return
	}
	e.data = append(e.data, s...)
	switch pi.Type {
	case ParamCharBuf, ParamFSPath, ParamFSRelPath:
		e.data = append(e.data, 0)
	}
	e.end()
}

// AddBytes adds the next parameter as encoded bytes (socket tuples and
// addresses, byte buffers, lists).
func (e *Event) AddBytes(b []byte) {
	if _, ok := e.Next(); !ok {
		return
	}
	e.data = append(e.data, b...)
	e.end()
}

// AddEmpty adds the next parameter with no value: an empty buffer or
// address, zero for a number.
func (e *Event) AddEmpty() {
	pi, ok := e.Next()
	if !ok {
		return
	}
	switch pi.Type {
	case ParamCharBuf, ParamFSPath, ParamFSRelPath:
		e.data = append(e.data, 0)
	case ParamSockTuple, ParamSockAddr:
		e.data = append(e.data, 0)
	case ParamByteBuf, ParamCharBufArray, ParamDyn:
	case ParamFDList:
		e.data = binary.LittleEndian.AppendUint16(e.data, 0)
	case ParamIPv4Addr:
		e.data = append(e.data, 0, 0, 0, 0)
	case ParamIPv6Addr:
		e.data = append(e.data, make([]byte, 16)...)
	default:
		e.data = appendNum(e.data, pi.Type, 0)
	}
	e.end()
}

// appendNum encodes a number as a parameter of type t.
func appendNum(b []byte, t ParamType, num int64) []byte {
	switch t {
	case ParamInt8, ParamUint8, ParamSigType, ParamFlags8, ParamEnumFlags8, ParamL4Proto, ParamSockFamily:
		return append(b, byte(num))
	case ParamInt16, ParamUint16, ParamPort, ParamFlags16, ParamEnumFlags16, ParamSyscallID:
		return binary.LittleEndian.AppendUint16(b, uint16(num))
	case ParamInt32, ParamUint32, ParamFlags32, ParamEnumFlags32, ParamUID, ParamGID, ParamMode,
		ParamFD32, ParamPID32, ParamBool, ParamSigSet:
		return binary.LittleEndian.AppendUint32(b, uint32(num))
	case ParamDouble:
		return binary.LittleEndian.AppendUint64(b, math.Float64bits(float64(num)))
	case ParamDyn:
		// A tagged value: index 0, a 64-bit number.
		b = append(b, 0)
		return binary.LittleEndian.AppendUint64(b, uint64(num))
	}
	return binary.LittleEndian.AppendUint64(b, uint64(num))
}

// WriteBuilt writes an event made with Begin and the Add methods (or read
// from a capture) as it is. Unless the writer is ExitOnly, an exit event
// is preceded by its enter half with the parameters the old layout keeps
// there, taken from the exit half by name: readers of that layout
// (Debian's sysdig 0.29) take a close's or a bind's fd from it.
func (w *Writer) WriteBuilt(e *Event) error {
	if e.Info == nil {
		return fmt.Errorf("capture: event without a code")
	}
	if !w.opts.ExitOnly && e.Info.IsExit() && e.Code > 0 {
		if n := Info(e.Code - 1); n != nil && n.Name == e.Info.Name && !n.IsExit() && w.enterFrom(e, n) {
			if err := w.writeEvent(&w.enter); err != nil {
				return err
			}
		}
	}
	return w.writeEvent(e)
}

// enterFrom makes the enter half n of exit event e in w.enter, from the
// exit's parameters of the same names; false when the exit lacks one (the
// enter half would carry made-up values, so none is written).
func (w *Writer) enterFrom(e *Event, n *EventInfo) bool {
	en := &w.enter
	en.Begin(n.Code, 0, e.CPU, e.Time, e.Tid)
	if e.Code == CodeGenericX {
		en.AddBytes(e.Param(0))
		en.AddBytes(e.Param(1))
		return true
	}
	for pi, ok := en.Next(); ok; pi, ok = en.Next() {
		i := e.Info.ParamIndex(pi.Name)
		if i < 0 || i >= e.NParams || e.Info.Params[i].Type != pi.Type {
			return false
		}
		en.AddBytes(e.Param(i))
	}
	return true
}

func (w *Writer) writeEvent(e *Event) error {
	var params [maxEventParams][]byte
	for i := range e.NParams {
		params[i] = e.Param(i)
	}
	return w.WriteEvent(e.CPU, e.Flags, e.Time, e.Tid, e.Code, params[:e.NParams])
}

// AppendInetTuple appends a socket tuple of an IPv4 or IPv6 connection in
// the format's encoding: source (the client) then destination.
func AppendInetTuple(b []byte, src netip.Addr, sport uint16, dst netip.Addr, dport uint16) []byte {
	if src.Unmap().Is4() && (dst.Unmap().Is4() || !dst.IsValid()) || !src.IsValid() && dst.Unmap().Is4() {
		b = append(b, ppmAFInet)
		b = append4(b, src)
		b = binary.LittleEndian.AppendUint16(b, sport)
		b = append4(b, dst)
		return binary.LittleEndian.AppendUint16(b, dport)
	}
	b = append(b, ppmAFInet6)
	b = append16(b, src)
	b = binary.LittleEndian.AppendUint16(b, sport)
	b = append16(b, dst)
	return binary.LittleEndian.AppendUint16(b, dport)
}

// AppendUnixTuple appends the tuple of a unix socket: the kernel addresses
// of both ends and the path.
func AppendUnixTuple(b []byte, src, dst uint64, path string) []byte {
	b = append(b, ppmAFUnix)
	b = binary.LittleEndian.AppendUint64(b, src)
	b = binary.LittleEndian.AppendUint64(b, dst)
	b = append(b, path...)
	return append(b, 0)
}

// AppendInetAddr appends an IPv4 or IPv6 socket address.
func AppendInetAddr(b []byte, a netip.Addr, port uint16) []byte {
	if a.Unmap().Is4() {
		b = append(b, ppmAFInet)
		b = append4(b, a)
		return binary.LittleEndian.AppendUint16(b, port)
	}
	b = append(b, ppmAFInet6)
	b = append16(b, a)
	return binary.LittleEndian.AppendUint16(b, port)
}

// AppendUnixAddr appends a unix socket address.
func AppendUnixAddr(b []byte, path string) []byte {
	b = append(b, ppmAFUnix)
	b = append(b, path...)
	return append(b, 0)
}
