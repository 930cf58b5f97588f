package output

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

const (
	textLine0 = "16:17:57.881781397: Warning File below /etc opened for writing (seq=0 proc=sh)"
	textLine1 = "16:17:57.881781397: Warning File below /etc opened for writing (seq=1 proc=sh)"
	jsonLine0 = `{"hostname":"node1","output":"16:17:57.881781397: Warning File below /etc opened for writing (seq=0 proc=sh)",` +
		`"output_fields":{"proc.name":"sh","seq":0},"priority":"Warning","rule":"Write below etc","source":"syscall",` +
		`"tags":["T1098","filesystem"],"time":"2016-08-04T16:17:57.881781397Z"}`
)

func TestFileSinkAppendsOneLinePerAlert(t *testing.T) {
	jsonEnc := utcText
	jsonEnc.JSON = true
	cases := []struct {
		name string
		enc  Encoding
		want []string
	}{
		{"text", utcText, []string{"existing line", textLine0, textLine1}},
		{"json", jsonEnc, []string{"existing line", jsonLine0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.txt")
			if err := os.WriteFile(path, []byte("existing line\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := NewFileSink(FileOptions{Path: path, Encoding: c.enc})
			if err != nil {
				t.Fatal(err)
			}
			d := NewDispatcher(quiet, Output{Name: "file", Sink: s})
			for i := range len(c.want) - 1 {
				d.Send(testAlert(i))
			}
			closeNow(t, d)
			got := readLines(t, path)
			if len(got) != len(c.want) {
				t.Fatalf("got %d lines %q, want %q", len(got), got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("line %d:\n got %s\nwant %s", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestFileSinkCreatesFileWithPrivateMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.log")
	s, err := NewFileSink(FileOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o007 != 0 {
		t.Errorf("mode %v is readable by others", fi.Mode())
	}
}

func TestFileSinkRejectsUnwritablePathAtStart(t *testing.T) {
	_, err := NewFileSink(FileOptions{Path: filepath.Join(t.TempDir(), "no", "such", "dir", "a.log")})
	if err == nil {
		t.Fatal("no error")
	}
}

// writeAlerts sends alerts from..to-1 through the sink the way a worker
// does: each one flushed because the queue is empty.
func writeAlerts(t *testing.T, s *FileSink, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := s.Write(context.Background(), testAlert(i)); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFileSinkFollowsRotation(t *testing.T) {
	cases := []struct {
		name   string
		rotate func(path string) error
		// old is where the first alerts must be found afterwards.
		old string
	}{
		{"renamed away (logrotate create)", func(p string) error { return os.Rename(p, p+".1") }, ".1"},
		{"deleted", os.Remove, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "events.txt")
			s, err := NewFileSink(FileOptions{Path: path, Encoding: utcText})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			writeAlerts(t, s, 0, 2)
			if err := c.rotate(path); err != nil {
				t.Fatal(err)
			}
			writeAlerts(t, s, 2, 4)
			got := readLines(t, path)
			if len(got) != 2 || !bytes.Contains([]byte(got[0]), []byte("seq=2")) || !bytes.Contains([]byte(got[1]), []byte("seq=3")) {
				t.Errorf("new file has %q, want alerts 2 and 3", got)
			}
			if c.old != "" {
				old := readLines(t, path+c.old)
				if len(old) != 2 || old[0] != textLine0 || old[1] != textLine1 {
					t.Errorf("rotated file has %q, want alerts 0 and 1", old)
				}
			}
		})
	}
}

func TestFileSinkReopenReopensBeforeTheNextAlert(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.txt")
	s, err := NewFileSink(FileOptions{Path: path, Encoding: utcText})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	writeAlerts(t, s, 0, 1)
	before := s.f
	// The path still names the open file, so only Reopen makes the sink
	// open it again.
	s.Reopen()
	writeAlerts(t, s, 1, 2)
	if s.f == before {
		t.Error("file not reopened")
	}
	if got := readLines(t, path); len(got) != 2 || got[1] != textLine1 {
		t.Errorf("file has %q", got)
	}
}
