package output

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lineCount returns how many lines path has, 0 if it does not exist.
func lineCount(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}

// wantSeqs checks that the file holds the text lines of alerts from..to-1.
func wantSeqs(t *testing.T, path string, from, to int) {
	t.Helper()
	lines := readLines(t, path)
	if len(lines) != to-from {
		t.Fatalf("%d lines, want %d: %q", len(lines), to-from, lines)
	}
	for i, l := range lines {
		if want := fmt.Sprintf("(seq=%d proc=sh)", from+i); !strings.HasSuffix(l, want) {
			t.Errorf("line %d = %q, want alert %d", i, l, from+i)
		}
	}
}

func TestProgramSinkRestartsALongLivedProgramThatDies(t *testing.T) {
	out := filepath.Join(t.TempDir(), "alerts")
	s, err := NewProgramSink(ProgramOptions{
		Command: "cat >> " + out, KeepAlive: true, Encoding: utcText, RestartDelay: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher(quiet, Output{Name: "program", Sink: s})
	for i := range 5 {
		d.Send(testAlert(i))
	}
	eventually(t, "5 alerts in the file", func() bool { return lineCount(out) == 5 })
	pid := s.Pid()
	if pid == 0 {
		t.Fatal("no program running")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the program to be reaped", func() bool { return s.Pid() == 0 })
	for i := 5; i < 10; i++ {
		d.Send(testAlert(i))
	}
	eventually(t, "10 alerts in the file", func() bool { return lineCount(out) == 10 })
	if s.Pid() == pid || s.Pid() == 0 {
		t.Errorf("pid %d after restart, was %d", s.Pid(), pid)
	}
	closeNow(t, d)
	wantSeqs(t, out, 0, 10)
	if st := d.Stats()[0]; st.Sent != 10 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestProgramSinkRunsAProgramPerAlertWithoutKeepAlive(t *testing.T) {
	out := filepath.Join(t.TempDir(), "alerts")
	s, err := NewProgramSink(ProgramOptions{Command: "cat >> " + out, Encoding: utcText})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Write(context.Background(), testAlert(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, out, 0, 3)
}

func TestProgramSinkNeverHandsAlertContentToAShell(t *testing.T) {
	dir := t.TempDir()
	out, marker := filepath.Join(dir, "alerts"), filepath.Join(dir, "pwned")
	evil := fmt.Sprintf("$(touch %s) `touch %s`; touch %s", marker, marker, marker)
	for _, keep := range []bool{true, false} {
		s, err := NewProgramSink(ProgramOptions{Command: "cat >> " + out, KeepAlive: keep})
		if err != nil {
			t.Fatal(err)
		}
		a := testAlert(0)
		a.Message = evil
		if err := s.Write(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("alert content was run by a shell")
	}
	for _, l := range readLines(t, out) {
		if !strings.HasSuffix(l, ": Warning "+evil) {
			t.Errorf("line %q", l)
		}
	}
}

func TestProgramSinkRunsArgsWithoutAShell(t *testing.T) {
	out := filepath.Join(t.TempDir(), "alerts")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	// "cat" with a shell-looking argument: without a shell, "-" is stdin.
	s, err := NewProgramSink(ProgramOptions{Args: []string{"cat", "-"}, KeepAlive: true, Encoding: utcText, Stdout: f})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), testAlert(0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, out, 0, 1)
}

func TestProgramSinkReportsAProgramThatExitsBadly(t *testing.T) {
	s, err := NewProgramSink(ProgramOptions{Command: "cat > /dev/null; exit 3"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Write(context.Background(), testAlert(0))
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("error %v", err)
	}
	if _, err := NewProgramSink(ProgramOptions{}); err == nil {
		t.Error("no error for an empty program")
	}
}

func TestProgramSinkGivesUpOnAProgramThatStopsReading(t *testing.T) {
	// sleep never reads: the pipe fills and the write times out.
	s, err := NewProgramSink(ProgramOptions{Command: "exec sleep 60", KeepAlive: true, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	big := testAlert(0)
	big.Message = strings.Repeat("x", 1<<20)
	start := time.Now()
	if err := s.Write(context.Background(), big); err == nil {
		t.Error("no error")
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("write took %v", el)
	}
	_ = s.Close()
}
