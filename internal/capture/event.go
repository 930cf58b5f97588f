package capture

import (
	"encoding/binary"
	"fmt"
)

// Event is one event block as the capture stores it: a header and the
// encoded parameters. Parameter bytes alias the reader's buffer and are
// valid until the next call to Reader.Next (Clone keeps them).
type Event struct {
	// Num counts the events of the capture from 1, as sysdig and Falco
	// number them (evt.num), including events they do not show.
	Num uint64
	// Offset is the byte offset of the block (uncompressed).
	Offset int64
	Code   uint16
	Info   *EventInfo
	CPU    uint16
	// Flags are the dump flags of an EVF block (DumpStateOnly, ...).
	Flags uint32
	Time  int64 // nanoseconds since the epoch
	Tid   int64
	// Preamble is set on container records that precede all activity in
	// the capture: the writer's dump of its container table, which
	// readers apply and do not show.
	Preamble bool

	NParams int
	// ends[i] is the end offset of parameter i in data; parameter i starts
	// where i-1 ends.
	ends  [maxEventParams]uint32
	start uint32 // offset of the first parameter in data
	data  []byte
}

// StateOnly reports whether the capture kept the event only for state
// tracking; sysdig and Falco do not show such events.
func (e *Event) StateOnly() bool { return e.Flags&DumpStateOnly != 0 }

// Shown reports whether sysdig and Falco show the event (and run rules on
// it): not internal bookkeeping, not kept only for state, not part of the
// capture's preamble.
func (e *Event) Shown() bool {
	return !e.Info.Internal() && !e.StateOnly() && !e.Preamble
}

// Param returns the encoded bytes of parameter i, or nil when the event
// has fewer parameters.
func (e *Event) Param(i int) []byte {
	if i < 0 || i >= e.NParams {
		return nil
	}
	s := e.start
	if i > 0 {
		s = e.ends[i-1]
	}
	return e.data[s:e.ends[i]]
}

// ParamInfo returns the name and type of parameter i from the event table.
func (e *Event) ParamInfo(i int) (ParamInfo, bool) {
	if e.Info == nil || i < 0 || i >= len(e.Info.Params) {
		return ParamInfo{}, false
	}
	return e.Info.Params[i], true
}

// TypeName returns the event type as sysdig prints it: for generic events
// the syscall's name.
func (e *Event) TypeName() string {
	if (e.Code == CodeGenericE || e.Code == CodeGenericX) && e.NParams > 0 {
		if p := e.Param(0); len(p) >= 2 {
			return SyscallName(binary.LittleEndian.Uint16(p))
		}
	}
	return e.Info.Name
}

// Clone returns a copy of the event that owns its bytes.
func (e *Event) Clone() *Event {
	c := *e
	c.data = append([]byte(nil), e.data...)
	return &c
}

// CopyFrom makes e a copy of src that owns its bytes, reusing e's buffer.
func (e *Event) CopyFrom(src *Event) {
	buf := append(e.data[:0], src.data...)
	*e = *src
	e.data = buf
}

// header is what decodeParams needs from decodeHeader.
type header struct {
	hdrLen, nparams, lenSize int
}

// decodeHeader reads an event block body (without the trailer) up to the
// parameter boundaries, which decodeParams finds. It returns false with an
// empty message for an event code newer than the table, false with a
// message for a malformed event. nparams is -1 for an old block, which
// does not store it.
func (e *Event) decodeHeader(typ uint32, body []byte) (header, bool, string) {
	off := 2
	e.Flags = 0
	switch typ {
	case blockEventFlags, blockEventFlagsV2, blockEventFlagsV2Large:
		off = 6
	}
	v2 := typ == blockEventV2 || typ == blockEventV2Large || typ == blockEventFlagsV2 || typ == blockEventFlagsV2Large
	hdrLen := evtHeaderV1
	if v2 {
		hdrLen = evtHeaderV2
	}
	if len(body) < off+hdrLen {
		return header{}, false, fmt.Sprintf("event block of %d bytes is shorter than an event header", len(body))
	}
	e.CPU = binary.LittleEndian.Uint16(body)
	if off == 6 {
		e.Flags = binary.LittleEndian.Uint32(body[2:])
	}
	hstart := off
	h := body[off:]
	e.Time = int64(binary.LittleEndian.Uint64(h))
	e.Tid = int64(binary.LittleEndian.Uint64(h[8:]))
	evLen := int(binary.LittleEndian.Uint32(h[16:]))
	e.Code = binary.LittleEndian.Uint16(h[20:])
	nparams := -1
	if v2 {
		nparams = int(binary.LittleEndian.Uint32(h[22:]))
	}
	e.Info = Info(e.Code)
	if e.Info == nil {
		return header{}, false, ""
	}
	if evLen < hdrLen || evLen > len(body)-hstart {
		return header{}, false, fmt.Sprintf("%s: event length %d does not fit its %d-byte block", e.Info.Const, evLen, len(body)-hstart)
	}
	e.data = body[hstart : hstart+evLen]
	e.NParams = 0
	lenSize := 2
	if e.Info.LargePayload() {
		lenSize = 4
	}
	return header{hdrLen: hdrLen, nparams: nparams, lenSize: lenSize}, true, ""
}

// decodeParams finds the parameter boundaries of an event whose header
// decodeHeader read.
func (e *Event) decodeParams(h header) (bool, string) {
	hdrLen, nparams, lenSize := h.hdrLen, h.nparams, h.lenSize
	evLen := len(e.data)
	if nparams < 0 {
		// Old blocks do not store the parameter count: it is the largest
		// count, up to the table's, whose lengths add up to the event.
		for n := min(len(e.Info.Params), maxEventParams); n >= 0; n-- {
			if !e.layout(hdrLen, n, lenSize) {
				continue
			}
			end := int(e.ends[max(n-1, 0)])
			if end < evLen {
				// libscap gives up here too: a table that fits and
				// leaves bytes over means the block is not what the
				// table says.
				break
			}
			if end == evLen {
				nparams = n
				break
			}
		}
		if nparams < 0 {
			return false, fmt.Sprintf("%s: cannot derive the parameter count of an old event block", e.Info.Const)
		}
	}
	if nparams > maxEventParams {
		return false, fmt.Sprintf("%s: %d parameters, at most %d allowed", e.Info.Const, nparams, maxEventParams)
	}
	if !e.layout(hdrLen, nparams, lenSize) {
		return false, fmt.Sprintf("%s: parameter lengths exceed the event's %d bytes", e.Info.Const, evLen)
	}
	e.NParams = nparams
	return true, ""
}

// layout computes parameter boundaries for n parameters and reports
// whether they fit in the event data.
func (e *Event) layout(hdrLen, n, lenSize int) bool {
	off := hdrLen + n*lenSize
	if off > len(e.data) {
		return false
	}
	e.start = uint32(off)
	for i := 0; i < n; i++ {
		var l int
		p := hdrLen + i*lenSize
		if lenSize == 2 {
			l = int(binary.LittleEndian.Uint16(e.data[p:]))
		} else {
			l = int(binary.LittleEndian.Uint32(e.data[p:]))
		}
		off += l
		if off > len(e.data) || l < 0 {
			return false
		}
		e.ends[i] = uint32(off)
	}
	if n == 0 {
		e.ends[0] = uint32(off)
	}
	return true
}
