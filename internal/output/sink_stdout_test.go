package output

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestStdoutSinkColoursByPriorityOnlyWhenAsked(t *testing.T) {
	cases := []struct {
		priority string
		colour   ColourMode
		want     string
	}{
		{"Critical", ColourAlways, "\x1b[1;31m16:17:57.881781397: Critical msg\x1b[0m\n"},
		{"Error", ColourAlways, "\x1b[31m16:17:57.881781397: Error msg\x1b[0m\n"},
		{"Warning", ColourAlways, "\x1b[33m16:17:57.881781397: Warning msg\x1b[0m\n"},
		{"Notice", ColourAlways, "\x1b[36m16:17:57.881781397: Notice msg\x1b[0m\n"},
		{"Informational", ColourAlways, "\x1b[32m16:17:57.881781397: Informational msg\x1b[0m\n"},
		{"Debug", ColourAlways, "\x1b[2m16:17:57.881781397: Debug msg\x1b[0m\n"},
		{"Critical", ColourNever, "16:17:57.881781397: Critical msg\n"},
		// A buffer is no terminal.
		{"Critical", ColourAuto, "16:17:57.881781397: Critical msg\n"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		s := NewStdoutSink(StdoutOptions{Encoding: utcText, Colour: c.colour, Writer: &buf})
		a := &Alert{Time: alertTime, Priority: c.priority, Message: "msg"}
		if err := s.Write(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: written before Flush", c.priority)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		if buf.String() != c.want {
			t.Errorf("%s/%d: got %q, want %q", c.priority, c.colour, buf.String(), c.want)
		}
	}
}

func TestStdoutSinkNoColourOnAFile(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	s := NewStdoutSink(StdoutOptions{Writer: f})
	if s.colour {
		t.Error("colour enabled on a regular file")
	}
}

func TestStdoutSinkWritesJSONLines(t *testing.T) {
	var buf bytes.Buffer
	enc := utcText
	enc.JSON = true
	d := NewDispatcher(quiet, Output{Name: "stdout", Sink: NewStdoutSink(StdoutOptions{Encoding: enc, Writer: &buf})})
	d.Send(testAlert(0))
	closeNow(t, d)
	if buf.String() != jsonLine0+"\n" {
		t.Errorf("got %s", buf.String())
	}
}
