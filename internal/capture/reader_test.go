package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// le returns the little-endian encoding of integers of the given sizes.
func le(vals ...any) []byte {
	var b []byte
	for _, v := range vals {
		switch x := v.(type) {
		case int8:
			b = append(b, byte(x))
		case uint8:
			b = append(b, x)
		case uint16:
			b = binary.LittleEndian.AppendUint16(b, x)
		case uint32:
			b = binary.LittleEndian.AppendUint32(b, x)
		case int64:
			b = binary.LittleEndian.AppendUint64(b, uint64(x))
		case uint64:
			b = binary.LittleEndian.AppendUint64(b, x)
		case string:
			b = append(b, x...)
		default:
			panic("le: unsupported type")
		}
	}
	return b
}

func cstr(s string) []byte { return append([]byte(s), 0) }

var (
	codeOpenX    = codeOf("PPME_SYSCALL_OPEN_X")
	codeOpenE    = codeOf("PPME_SYSCALL_OPEN_E")
	codeConnectX = codeOf("PPME_SOCKET_CONNECT_X")
	codeSocketE  = codeOf("PPME_SOCKET_SOCKET_E")
	codeCloseX   = codeOf("PPME_SYSCALL_CLOSE_X")
)

// build writes a capture with the given events (code and parameters).
func build(t testing.TB, events ...func(w *Writer)) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		e(w)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func evt(code uint16, tid int64, params ...[]byte) func(w *Writer) {
	return func(w *Writer) {
		if err := w.WriteEvent(1, 0, 1_700_000_000_000_000_000, tid, code, params); err != nil {
			panic(err)
		}
	}
}

func openExit(fd int64, name string, flags uint32) func(w *Writer) {
	return evt(codeOpenX, 42, le(fd), cstr(name), le(flags), le(uint32(0o644)), le(uint32(0x2d)), le(uint64(7)))
}

func readAll(t testing.TB, data []byte) ([]*Event, *Reader, error) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data), nil)
	if err != nil {
		return nil, nil, err
	}
	var out []*Event
	for {
		var ev Event
		err := r.Next(&ev)
		if err == io.EOF {
			return out, r, nil
		}
		if err != nil {
			return out, r, err
		}
		out = append(out, ev.Clone())
	}
}

func TestParamText(t *testing.T) {
	tests := []struct {
		name  string
		ev    func(w *Writer)
		param int
		text  string
		num   int64
	}{
		{"fd as a number", openExit(3, "/tmp/test", 262), 0, "3", 3},
		{"failed fd", openExit(-2, "/nope", 1), 0, "-2", -2},
		{"path", openExit(3, "/tmp/test", 262), 1, "/tmp/test", 0},
		{"open flags as names, number in the kernel's encoding", openExit(3, "/tmp/test", 262), 2, "O_TRUNC|O_CREAT|O_WRONLY", 0x241},
		{"read-only open", openExit(3, "/etc/ld.so.cache", 4097), 2, "O_RDONLY|O_CLOEXEC", 0x80000},
		{"read-write is one name", openExit(3, "/f", 3), 2, "O_RDWR", 2},
		{"no flags", openExit(3, "/f", 0), 2, "O_NONE", 0},
		{"mode in octal", openExit(3, "/f", 0), 3, "0644", 0o644},
		{"errno by name", evt(codeCloseX, 1, le(int64(-9)), le(int64(5))), 0, "EBADF", -9},
		{"success as a number", evt(codeCloseX, 1, le(int64(0)), le(int64(5))), 0, "0", 0},
		{"socket family", evt(codeSocketE, 1, le(uint32(10)), le(uint32(1)), le(uint32(0))), 0, "AF_INET6", 10},
		{"IPv4 tuple", evt(codeConnectX, 1, le(int64(-115)), le(uint8(2), "\x7f\x00\x00\x01", uint16(47192), "\x7f\x00\x00\x01", uint16(80)), le(int64(4)), le(uint8(2), "\x7f\x00\x00\x01", uint16(80))),
			1, "127.0.0.1:47192->127.0.0.1:80", 0},
		{"IPv4 address", evt(codeConnectX, 1, le(int64(-115)), le(uint8(2), "\x7f\x00\x00\x01", uint16(47192), "\x7f\x00\x00\x01", uint16(80)), le(int64(4)), le(uint8(2), "\x7f\x00\x00\x01", uint16(80))),
			3, "127.0.0.1:80", 0},
		{"unix tuple", evt(codeConnectX, 1, le(int64(-2)), le(uint8(1), uint64(0), uint64(0xffff94dc817b9400), "/var/run/nscd/socket\x00"), le(int64(3))),
			1, "0->ffff94dc817b9400 /var/run/nscd/socket", 0},
		{"generic syscall by name", evt(CodeGenericX, 1, le(uint16(296)), le(uint16(158))), 0, "arch_prctl", 296},
		{"buffer with unprintable bytes", evt(codeOf("PPME_SYSCALL_WRITE_X"), 1, le(int64(3)), []byte("ab\x00\ncd"), le(int64(1)), le(uint32(6))), 1, "ab..cd", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, _, err := readAll(t, build(t, tt.ev))
			if err != nil || len(evs) != 1 {
				t.Fatalf("read: %v, %d events", err, len(evs))
			}
			text, num := evs[0].ParamText(tt.param)
			if text != tt.text || num != tt.num {
				t.Errorf("param %d = %q, %d; want %q, %d", tt.param, text, num, tt.text, tt.num)
			}
		})
	}
}

func TestOpenFlagsToKernel(t *testing.T) {
	tests := []struct {
		ppm, kernel uint32
	}{
		{ppmORdonly, 0},
		{ppmOWronly, oWronly},
		{ppmORdwr, oRdwr},
		{ppmOWronly | ppmOCreat | ppmOTrunc, oWronly | oCreat | oTrunc},
		{ppmORdonly | ppmOCloexec | ppmODirectory, oCloexec | oDirectory},
		{ppmOAppend | ppmOExcl | ppmONonblock, oAppend | oExcl | oNonblock},
	}
	for _, tt := range tests {
		if got := OpenFlagsToKernel(tt.ppm); got != tt.kernel {
			t.Errorf("OpenFlagsToKernel(%#x) = %#x, want %#x", tt.ppm, got, tt.kernel)
		}
	}
}

// The event table's codes are libscap's: spot checks against the numbers
// captures carry.
func TestEventCodes(t *testing.T) {
	for name, code := range map[string]uint16{
		"PPME_GENERIC_E": 0, "PPME_SYSCALL_OPEN_X": 3, "PPME_SCHEDSWITCH_6_E": 152,
		"PPME_PROCEXIT_1_E": 186, "PPME_SCAPEVENT_E": 196, "PPME_CONTAINER_E": 228,
		"PPME_PROCINFO_E": 234, "PPME_CONTAINER_JSON_E": 272, "PPME_SYSCALL_EXECVE_19_X": 293,
		"PPME_SYSCALL_OPENAT_2_X": 307, "PPME_SYSCALL_CAPSET_X": 353, "PPME_USER_ADDED_E": 354,
		"PPME_SYSCALL_UMOUNT2_X": 391,
	} {
		if got := codeOf(name); got != code {
			t.Errorf("%s = %d, want %d", name, got, code)
		}
	}
}

// Old captures keep open's path and flags in the enter half: joined, the
// exit event has them.
func TestPairerJoinsHalves(t *testing.T) {
	data := build(t,
		evt(codeOpenE, 7, cstr("/etc/passwd"), le(uint32(1)), le(uint32(0))),
		evt(codeOf("PPME_SYSCALL_OPENAT_E"), 8, le(int64(-100)), cstr("x"), le(uint32(2)), le(uint32(0))),
		evt(codeOf("PPME_SYSCALL_OPENAT_X"), 8, le(int64(4))),
		evt(codeOpenX, 7, le(int64(3))),
		evt(codeOf("PPME_PROCEXIT_1_E"), 8, le(int64(0)), le(int64(0)), le(uint8(0)), le(uint8(0))),
	)
	evs, _, err := readAll(t, data)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPairer()
	var got []string
	for _, ev := range evs {
		var sc Syscall
		if !p.Add(ev, &sc) {
			continue
		}
		var params []string
		sc.Each(func(e *Event, i int, pi ParamInfo) bool {
			text, _ := e.ParamText(i)
			params = append(params, pi.Name+"="+text)
			return true
		})
		got = append(got, sc.Info().Name+" "+strings.Join(params, " "))
	}
	want := []string{
		"openat fd=4 dirfd=-100 name=x flags=O_WRONLY mode=0",
		"open fd=3 name=/etc/passwd flags=O_RDONLY mode=0",
		"procexit status=0 ret=0 sig=0 core=0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("joined:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p.Stats.Lone != 0 || p.Stats.Unpaired != 0 || p.Pending() != 0 {
		t.Errorf("stats %+v, pending %d", p.Stats, p.Pending())
	}
}

func formatError(t *testing.T, err error) *FormatError {
	t.Helper()
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("error %v is not a *FormatError", err)
	}
	return fe
}

func TestBadInput(t *testing.T) {
	good := build(t, openExit(3, "/a", 1), openExit(4, "/b", 1))
	sectionLen := 28
	second := sectionLen + (len(good)-sectionLen)/2

	corrupt := func(off int, b ...byte) []byte {
		c := bytes.Clone(good)
		copy(c[off:], b)
		return c
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name    string
		data    []byte
		offset  int64
		msg     string
		notScap bool
	}{
		{"empty file", nil, 0, "empty file", true},
		{"text file", []byte("hello, world, this is no capture\n"), 0, "not a section header", true},
		{"wrong magic", corrupt(8, 0xd4, 0xc3, 0xb2, 0xa1), 0, "magic", true},
		{"newer major version", corrupt(12, 9), 0, "newer than this reader", false},
		{"truncated in a block", good[:len(good)-3], int64(second), "truncated", false},
		{"truncated in a header", good[:sectionLen+5], int64(sectionLen), "truncated", false},
		{"trailer disagrees with header", corrupt(second-1, 0x7f), int64(sectionLen), "trailer", false},
		{"length shorter than a frame", corrupt(second+4, 4, 0, 0, 0), int64(second), "less than its own frame", false},
		{"huge length", corrupt(second+4, 0xf0, 0xff, 0xff, 0xff), int64(second), "more than the", false},
		{"gzip garbage", []byte{0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef}, 0, "", false},
		{"truncated gzip", gz(good)[:40], -1, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readAll(t, tt.data)
			if err == nil {
				t.Fatal("no error")
			}
			fe := formatError(t, err)
			if tt.offset >= 0 && fe.Offset != tt.offset {
				t.Errorf("offset %d, want %d (%v)", fe.Offset, tt.offset, err)
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), "offset") {
				t.Errorf("error %q does not say %q with an offset", err, tt.msg)
			}
			if got := errors.Is(err, ErrNotCapture); got != tt.notScap {
				t.Errorf("errors.Is(ErrNotCapture) = %v, want %v", got, tt.notScap)
			}
		})
	}
}

// Blocks the reader does not understand are skipped and counted; reading
// goes on.
func TestSkippedBlocks(t *testing.T) {
	data := build(t,
		openExit(3, "/a", 1),
		func(w *Writer) { w.WriteBlock(0x7777, []byte("future block")) },
		func(w *Writer) {
			// An event code newer than the table.
			body := le(uint16(0), uint32(0), uint64(1), int64(1), uint32(26), uint16(9999), uint32(0))
			w.WriteBlock(blockEventFlagsV2, body)
		},
		func(w *Writer) {
			// Parameter lengths that run past the event.
			body := le(uint16(0), uint32(0), uint64(1), int64(1), uint32(28), codeCloseX, uint32(1), uint16(500))
			w.WriteBlock(blockEventFlagsV2, body)
		},
		func(w *Writer) {
			// A process list whose entry is cut short.
			w.WriteBlock(blockProcV9, le(uint32(200), int64(1), int64(1)))
		},
		openExit(4, "/b", 1),
	)
	evs, r, err := readAll(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].String(1) != "/a" || evs[1].String(1) != "/b" {
		t.Fatalf("read %d events", len(evs))
	}
	want := Stats{Blocks: 7, Events: 2, UnknownEvents: 1, BadEvents: 1, SkippedBlocks: 1, BadBlocks: 1, Sections: 1}
	got := r.Stats
	got.FirstBadBlock = nil
	if got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
	if r.Stats.FirstBadBlock == nil || !strings.Contains(r.Stats.FirstBadBlock.Error(), "offset") {
		t.Errorf("first bad block %v", r.Stats.FirstBadBlock)
	}
}

// Every prefix of a real capture ends in an error with an offset or a
// clean end, never a panic.
func TestTruncatedCaptures(t *testing.T) {
	for _, f := range conformanceCaptures(t) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(raw, []byte{0x1f, 0x8b}) {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			raw, err = io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
		}
		step := max(1, len(raw)/100)
		for n := 0; n < len(raw); n += step {
			_, _, err := readAll(t, raw[:n])
			if err == nil {
				continue // ends on a block boundary
			}
			if fe := formatError(t, err); fe.Offset > int64(n) {
				t.Fatalf("%s cut at %d: offset %d past the end", filepath.Base(f), n, fe.Offset)
			}
		}
	}
}

func TestGzipCaptureReportsUncompressedOffsets(t *testing.T) {
	good := build(t, openExit(3, "/a", 1))
	c := bytes.Clone(good)
	binary.LittleEndian.PutUint32(c[len(c)-4:], 1) // break the last trailer
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(c)
	w.Close()
	_, _, err := readAll(t, buf.Bytes())
	fe := formatError(t, err)
	if !fe.Compressed || fe.Offset != 28 || !strings.Contains(err.Error(), "uncompressed") {
		t.Errorf("error %v", err)
	}
}

// Open maps uncompressed files; a damaged file read that way fails the
// same way as a stream, and a compressed one is still read as a stream.
func TestOpenMappedAndCompressed(t *testing.T) {
	good := build(t, openExit(3, "/a", 1), openExit(4, "/b", 1))
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(good)
	zw.Close()
	for _, tt := range []struct {
		name, path string
		events     int
		err        string
	}{
		{"plain", write("plain.scap", good), 2, ""},
		{"gzip", write("gz.scap", gz.Bytes()), 2, ""},
		{"truncated", write("cut.scap", good[:len(good)-5]), 1, "truncated"},
		{"empty", write("empty.scap", nil), 0, "empty file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(tt.path, nil)
			if err != nil {
				if tt.err == "" || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Open: %v", err)
				}
				return
			}
			defer r.Close()
			var ev Event
			n := 0
			for {
				err = r.Next(&ev)
				if err != nil {
					break
				}
				n++
			}
			if n != tt.events {
				t.Errorf("%d events, want %d", n, tt.events)
			}
			if tt.err == "" && err != io.EOF || tt.err != "" && !strings.Contains(fmt.Sprint(err), tt.err) {
				t.Errorf("error %v, want %q", err, tt.err)
			}
			if got := r.Compressed(); got != (tt.name == "gzip") {
				t.Errorf("Compressed() = %v", got)
			}
		})
	}
}
