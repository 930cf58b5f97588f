package fanotify

import (
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// event builds one event the way the kernel lays it out.
func event(mask uint64, fd, pid int32, recs ...[]byte) []byte {
	le := binary.NativeEndian
	b := make([]byte, metadataLen)
	b[4] = unix.FANOTIFY_METADATA_VERSION
	le.PutUint16(b[6:], uint16(metadataLen))
	le.PutUint64(b[8:], mask)
	le.PutUint32(b[16:], uint32(fd))
	le.PutUint32(b[20:], uint32(pid))
	for _, r := range recs {
		b = append(b, r...)
	}
	le.PutUint32(b[0:], uint32(len(b)))
	return b
}

func record(typ uint8, body []byte) []byte {
	b := []byte{typ, 0, 0, 0}
	b = append(b, body...)
	binary.NativeEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

func fid(handle []byte, name string) []byte {
	le := binary.NativeEndian
	b := make([]byte, 16)
	le.PutUint32(b[0:], 7)
	le.PutUint32(b[4:], 9)
	le.PutUint32(b[8:], uint32(len(handle)))
	le.PutUint32(b[12:], 1)
	b = append(b, handle...)
	if name != "" {
		b = append(b, name...)
		b = append(b, 0, 0, 0) // NUL and padding
	}
	return b
}

func TestParseDecodesMetadataAndInformationRecords(t *testing.T) {
	pidfd := make([]byte, 4)
	binary.NativeEndian.PutUint32(pidfd, 12)
	buf := append(event(unix.FAN_OPEN_PERM, 5, 42),
		event(unix.FAN_MOVED_TO, unix.FAN_NOFD, 43,
			record(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, fid([]byte{1, 2, 3, 4}, "ld.so.preload")),
			record(unix.FAN_EVENT_INFO_TYPE_PIDFD, pidfd),
			record(99, []byte{1, 2, 3, 4}))...)
	var ev Event
	rest, err := Parse(buf, &ev)
	if err != nil || ev.Mask != unix.FAN_OPEN_PERM || ev.Fd != 5 || ev.Pid != 42 || len(ev.Info) != 0 {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	rest, err = Parse(rest, &ev)
	if err != nil || len(rest) != 0 {
		t.Fatalf("second event: %v, %d bytes left", err, len(rest))
	}
	if ev.Mask != unix.FAN_MOVED_TO || ev.Fd != unix.FAN_NOFD || ev.Pid != 43 || len(ev.Info) != 3 {
		t.Fatalf("second event %+v", ev)
	}
	d, ok := ev.Record(unix.FAN_EVENT_INFO_TYPE_DFID_NAME)
	if !ok || string(d.Name) != "ld.so.preload" || d.Fsid != [2]int32{7, 9} || d.HandleType != 1 || string(d.Handle) != "\x01\x02\x03\x04" {
		t.Errorf("dfid name record %+v", d)
	}
	if p, ok := ev.Record(unix.FAN_EVENT_INFO_TYPE_PIDFD); !ok || p.Pidfd != 12 {
		t.Errorf("pidfd record %+v", p)
	}
	if u, ok := ev.Record(99); !ok || u.Type != 99 {
		t.Errorf("unknown record not kept by type: %+v", ev.Info)
	}
}

func TestParseRefusesBrokenEvents(t *testing.T) {
	good := event(unix.FAN_CREATE, unix.FAN_NOFD, 1, record(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, fid([]byte{1}, "x")))
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, tc := range []struct {
		name string
		buf  []byte
		want string
	}{
		{"short metadata", good[:10], "metadata needs"},
		{"version", mut(func(b []byte) []byte { b[4] = 2; return b }), "metadata version 2"},
		{"event longer than buffer", good[:len(good)-1], "bytes left"},
		{"record length zero", mut(func(b []byte) []byte { b[metadataLen+2], b[metadataLen+3] = 0, 0; return b }), "information record type 2 of length 0"},
		{"handle longer than record", mut(func(b []byte) []byte { b[metadataLen+4+8] = 200; return b }), "file handle of 200 bytes"},
		{"name without NUL", mut(func(b []byte) []byte {
			for i := len(b) - 4; i < len(b); i++ {
				b[i] = 'a'
			}
			return b
		}), "without terminating NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev Event
			_, err := Parse(tc.buf, &ev)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(event(unix.FAN_OPEN_PERM, 3, 1))
	f.Add(event(unix.FAN_CREATE, unix.FAN_NOFD, 1, record(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, fid([]byte{1, 2}, "n"))))
	f.Fuzz(func(t *testing.T, b []byte) {
		var ev Event
		for len(b) > 0 {
			rest, err := Parse(b, &ev)
			if err != nil {
				return
			}
			if len(rest) >= len(b) {
				t.Fatalf("Parse did not advance: %d -> %d bytes", len(b), len(rest))
			}
			b = rest
		}
	})
}

func BenchmarkParse(b *testing.B) {
	buf := event(unix.FAN_CREATE, unix.FAN_NOFD, 1, record(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, fid(make([]byte, 8), "ld.so.preload")))
	var ev Event
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(buf, &ev); err != nil {
			b.Fatal(err)
		}
	}
}
