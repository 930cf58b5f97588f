package capture

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/truesightsec/truesight/internal/testenv"
)

// FuzzRead feeds arbitrary bytes to the reader, the pairer and every
// parameter decoder: any input must end in io.EOF or a *FormatError,
// without a panic and within the reader's memory bounds.
func FuzzRead(f *testing.F) {
	dir := testenv.ConformanceDir(f)
	files, _ := filepath.Glob(filepath.Join(dir, "scap", "*.scap"))
	for _, name := range files {
		// The fuzzer slows down on large inputs (a process table alone
		// can be 100 KiB): seed with a few threads, users and events of
		// each capture, re-encoded.
		r, err := Open(name, nil)
		if err != nil {
			continue
		}
		var seed bytes.Buffer
		w, _ := NewWriter(&seed, WriterOptions{})
		w.WriteMachine(r.Machine)
		w.WriteUsers(r.Users[:min(2, len(r.Users))], r.Groups[:min(2, len(r.Groups))])
		w.WriteThreads(r.Threads[:min(2, len(r.Threads))])
		var ev Event
		for i := 0; i < 12 && r.Next(&ev) == nil; i++ {
			w.CopyEvent(&ev, ev.Time)
		}
		w.Close()
		r.Close()
		f.Add(seed.Bytes())
	}
	var gz bytes.Buffer
	w, _ := NewWriter(&gz, WriterOptions{Compress: true})
	w.WriteEvent(0, 0, 1, 1, codeOpenX, [][]byte{le(int64(3)), cstr("/etc/ld.so.preload"), le(uint32(2))})
	w.Close()
	f.Add(gz.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := &Options{MaxBlockSize: 1 << 20, MaxEventSize: 1 << 20, MaxThreads: 1 << 12}
		r, err := NewReader(bytes.NewReader(data), opts)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("NewReader: %T %v", err, err)
			}
			return
		}
		p := NewPairer()
		var ev Event
		var sc Syscall
		var buf []byte
		for i := 0; i < 1<<16; i++ {
			err := r.Next(&ev)
			if err == io.EOF {
				return
			}
			if err != nil {
				var fe *FormatError
				if !errors.As(err, &fe) {
					t.Fatalf("Next: %T %v", err, err)
				}
				return
			}
			_ = ev.TypeName()
			for j := 0; j < ev.NParams; j++ {
				buf, _ = ev.AppendParam(buf[:0], j)
			}
			if p.Add(&ev, &sc) {
				sc.Each(func(e *Event, j int, _ ParamInfo) bool {
					buf, _ = e.AppendParam(buf[:0], j)
					return true
				})
			}
		}
	})
}
