package fanotify

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// metadataLen is the size of struct fanotify_event_metadata.
const metadataLen = int(unsafe.Sizeof(unix.FanotifyEventMetadata{}))

// Event is one decoded event. Its information records point into the buffer
// it was parsed from; copy what must outlive the next Read.
type Event struct {
	Mask uint64
	// Fd is the event's open file descriptor, or unix.FAN_NOFD (groups
	// reporting file ids, queue overflow). The reader owns it: close it.
	Fd int32
	// Pid is the process (or, with FAN_REPORT_TID, thread) that caused the
	// event, in the listener's pid namespace; 0 when not visible.
	Pid int32
	// Info are the information records, in the order the kernel wrote them.
	Info []Info
	// info backs Info so parsing needs no allocation.
	info [4]Info
}

// Info is one information record that follows the metadata.
type Info struct {
	// Type is unix.FAN_EVENT_INFO_TYPE_*.
	Type uint8
	// Fsid and Handle: file id records (FID, DFID, DFID_NAME,
	// OLD_DFID_NAME, NEW_DFID_NAME). HandleType and Handle make a struct
	// file_handle for open_by_handle_at.
	Fsid       [2]int32
	HandleType int32
	Handle     []byte
	// Name is the directory entry of *_DFID_NAME records.
	Name []byte
	// Pidfd: FAN_EVENT_INFO_TYPE_PIDFD (a pidfd the reader must close, or
	// FAN_NOPIDFD / FAN_EPIDFD).
	Pidfd int32
	// Error and ErrorCount: FAN_EVENT_INFO_TYPE_ERROR.
	Error      int32
	ErrorCount uint32
	// Offset and Count: FAN_EVENT_INFO_TYPE_RANGE.
	Offset, Count uint64
}

// Parse decodes the first event in buf into ev and returns the rest of buf.
// A truncated or inconsistent event is an error and buf is not advanced
// further (the kernel never writes partial events, so this means the buffer
// is not what Read returned).
func Parse(buf []byte, ev *Event) ([]byte, error) {
	if len(buf) < metadataLen {
		return nil, fmt.Errorf("fanotify event: %d bytes, metadata needs %d", len(buf), metadataLen)
	}
	le := binary.NativeEndian
	eventLen := int(le.Uint32(buf[0:]))
	vers := buf[4]
	metaLen := int(le.Uint16(buf[6:]))
	if vers != unix.FANOTIFY_METADATA_VERSION {
		return nil, fmt.Errorf("fanotify event: metadata version %d, want %d", vers, unix.FANOTIFY_METADATA_VERSION)
	}
	if metaLen < metadataLen || eventLen < metaLen || eventLen > len(buf) {
		return nil, fmt.Errorf("fanotify event: length %d, metadata length %d, %d bytes left", eventLen, metaLen, len(buf))
	}
	ev.Mask = le.Uint64(buf[8:])
	ev.Fd = int32(le.Uint32(buf[16:]))
	ev.Pid = int32(le.Uint32(buf[20:]))
	ev.Info = ev.info[:0]
	recs := buf[metaLen:eventLen]
	for len(recs) > 0 {
		if len(recs) < 4 {
			return nil, fmt.Errorf("fanotify event: %d bytes of information record header", len(recs))
		}
		typ := recs[0]
		n := int(le.Uint16(recs[2:]))
		if n < 4 || n > len(recs) {
			return nil, fmt.Errorf("fanotify event: information record type %d of length %d, %d bytes left", typ, n, len(recs))
		}
		info, err := parseInfo(typ, recs[4:n])
		if err != nil {
			return nil, err
		}
		ev.Info = append(ev.Info, info)
		recs = recs[n:]
	}
	return buf[eventLen:], nil
}

func parseInfo(typ uint8, b []byte) (Info, error) {
	le := binary.NativeEndian
	in := Info{Type: typ}
	switch typ {
	case unix.FAN_EVENT_INFO_TYPE_FID, unix.FAN_EVENT_INFO_TYPE_DFID,
		unix.FAN_EVENT_INFO_TYPE_DFID_NAME, unix.FAN_EVENT_INFO_TYPE_OLD_DFID_NAME,
		unix.FAN_EVENT_INFO_TYPE_NEW_DFID_NAME:
		// fsid (8), handle_bytes (4), handle_type (4), f_handle, [name\0]
		if len(b) < 16 {
			return in, fmt.Errorf("fanotify event: file id record of %d bytes", len(b))
		}
		in.Fsid = [2]int32{int32(le.Uint32(b[0:])), int32(le.Uint32(b[4:]))}
		hb := int(le.Uint32(b[8:]))
		in.HandleType = int32(le.Uint32(b[12:]))
		if hb > len(b)-16 {
			return in, fmt.Errorf("fanotify event: file handle of %d bytes in a record of %d", hb, len(b))
		}
		in.Handle = b[16 : 16+hb]
		if typ == unix.FAN_EVENT_INFO_TYPE_DFID_NAME || typ == unix.FAN_EVENT_INFO_TYPE_OLD_DFID_NAME ||
			typ == unix.FAN_EVENT_INFO_TYPE_NEW_DFID_NAME {
			name := b[16+hb:]
			end := 0
			for end < len(name) && name[end] != 0 {
				end++
			}
			if end == len(name) {
				return in, fmt.Errorf("fanotify event: file name without terminating NUL")
			}
			in.Name = name[:end]
		}
	case unix.FAN_EVENT_INFO_TYPE_PIDFD:
		if len(b) < 4 {
			return in, fmt.Errorf("fanotify event: pidfd record of %d bytes", len(b))
		}
		in.Pidfd = int32(le.Uint32(b))
	case unix.FAN_EVENT_INFO_TYPE_ERROR:
		if len(b) < 8 {
			return in, fmt.Errorf("fanotify event: error record of %d bytes", len(b))
		}
		in.Error = int32(le.Uint32(b))
		in.ErrorCount = le.Uint32(b[4:])
	case unix.FAN_EVENT_INFO_TYPE_RANGE:
		if len(b) < 20 {
			return in, fmt.Errorf("fanotify event: range record of %d bytes", len(b))
		}
		in.Offset = le.Uint64(b[4:])
		in.Count = le.Uint64(b[12:])
	}
	// Unknown record types are kept with their type only: newer kernels may
	// add records a reader does not need to understand.
	return in, nil
}

// Record returns the first information record of type typ, if any.
func (ev *Event) Record(typ uint8) (*Info, bool) {
	for i := range ev.Info {
		if ev.Info[i].Type == typ {
			return &ev.Info[i], true
		}
	}
	return nil, false
}
