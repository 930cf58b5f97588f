package capture

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/truesightsec/truesight/internal/testenv"
)

// sysdigMaxCode is one past the newest event code Debian's sysdig 0.29
// knows. It skips newer blocks (user and group records, among others)
// without numbering them, so its evt.num runs behind ours after one.
const sysdigMaxCode = 354

// shownEvents reads a capture and lists the events sysdig shows, as
// "<evt.num> <evt.dir> <evt.type>" with sysdig's numbering.
func shownEvents(t *testing.T, path string) []string {
	t.Helper()
	r, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []string
	var ev Event
	var skipped uint64
	for {
		err := r.Next(&ev)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if ev.Code >= sysdigMaxCode {
			skipped++
			continue
		}
		if !ev.Shown() {
			continue
		}
		dir := ">"
		if ev.Info.IsExit() {
			dir = "<"
		}
		out = append(out, fmt.Sprintf("%d %s %s", ev.Num-skipped, dir, ev.TypeName()))
	}
	if r.Stats.BadEvents != 0 || r.Stats.BadBlocks != 0 || r.Stats.UnknownEvents != 0 {
		t.Errorf("%s: unexpected skips: %+v", path, r.Stats)
	}
	return out
}

func sysdigLines(t *testing.T, path string, args ...string) []string {
	t.Helper()
	cmd := exec.Command(sysdig(t), append([]string{"-r", path}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sysdig -r %s: %v: %s", path, err, stderr.String())
	}
	s := strings.TrimRight(string(out), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func typeMultiset(lines []string) map[string]int {
	m := map[string]int{}
	for _, l := range lines {
		f := strings.Fields(l)
		m[strings.Join(f[1:], " ")]++
	}
	return m
}

// Every conformance capture parses, and its events are the ones sysdig
// reports: same count, same types with direction, same numbers, in order.
func TestConformanceCapturesMatchSysdig(t *testing.T) {
	files := conformanceCaptures(t)
	sysdig(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			got := shownEvents(t, f)
			want := sysdigLines(t, f, "-p", "%evt.num %evt.dir %evt.type")
			if len(got) != len(want) {
				t.Errorf("%d events, sysdig reports %d", len(got), len(want))
			}
			if g, w := typeMultiset(got), typeMultiset(want); !mapsEqual(g, w) {
				t.Errorf("event types differ:\n got  %v\n want %v", g, w)
			}
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Errorf("event %d: got %q, sysdig %q", i, got[i], want[i])
					break
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Joining enter and exit halves gives one event per syscall exit plus the
// events that have no exit half: as many as sysdig shows exits and
// enter-only events.
func TestConformancePairedEvents(t *testing.T) {
	files := conformanceCaptures(t)
	sysdig(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := Open(f, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			p := NewPairer()
			var ev Event
			var sc Syscall
			var got []string
			for r.Next(&ev) == nil {
				if ev.Code >= sysdigMaxCode || !p.Add(&ev, &sc) || !sc.Exit.Shown() {
					continue
				}
				got = append(got, sc.Exit.TypeName())
			}
			var want []string
			for _, l := range sysdigLines(t, f, "-p", "%evt.dir %evt.type") {
				dir, typ, _ := strings.Cut(l, " ")
				if dir == "<" || slices.Contains(enterOnly, typ) {
					want = append(want, typ)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("joined events:\n got  %d %v\n want %d %v", len(got), head(got), len(want), head(want))
			}
		})
	}
}

// enterOnly are the event types of the conformance captures that have no
// exit half.
var enterOnly = []string{"switch", "procexit", "container", "signaldeliver"}

func head(s []string) []string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// A capture rewritten by Writer (tables copied, events re-encoded in the
// current layout) reads back the same, and sysdig prints it the same.
func TestWriterRoundTrip(t *testing.T) {
	files := conformanceCaptures(t)
	sysdig(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			for _, encode := range []bool{false, true} {
				out := filepath.Join(t.TempDir(), "copy.scap")
				rewrite(t, f, out, 1, encode)
				if got, want := shownEvents(t, out), shownEvents(t, f); !slices.Equal(got, want) {
					t.Fatalf("rewritten capture (tables encoded: %v) reads differently", encode)
				}
				format := "%evt.num %evt.dir %evt.type %proc.name %proc.pid %proc.cmdline %user.name %fd.name %evt.args"
				got := sysdigLines(t, out, "-p", format)
				want := sysdigLines(t, f, "-p", format)
				if !slices.Equal(got, want) {
					for i := range min(len(got), len(want)) {
						if got[i] != want[i] {
							t.Fatalf("tables encoded %v: sysdig line %d differs:\n got  %s\n want %s", encode, i, got[i], want[i])
						}
					}
					t.Fatalf("sysdig prints %d lines, %d for the original", len(got), len(want))
				}
			}
		})
	}
}

// rewrite copies a capture's tables and events (times times over, with
// rising timestamps) to out. With encode, the tables are written from
// what the reader parsed rather than copied as raw blocks.
func rewrite(t testing.TB, in, out string, times int, encode bool) uint64 {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewWriter(f, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var first, last int64
	for round := 0; round < times; round++ {
		opts := &Options{}
		if round == 0 && !encode {
			opts.OnBlock = func(typ uint32, body []byte) { w.WriteBlock(typ, body) }
		}
		r, err := Open(in, opts)
		if err != nil {
			t.Fatal(err)
		}
		if round == 0 && encode {
			if r.HasMachine {
				w.WriteMachine(r.Machine)
			}
			w.WriteUsers(r.Users, r.Groups)
			w.WriteThreads(r.Threads)
		}
		var ev Event
		var shift int64
		for {
			err := r.Next(&ev)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if round == 0 && first == 0 {
				first = ev.Time
			}
			if round > 0 && shift == 0 {
				shift = last + 1000 - ev.Time
			}
			last = ev.Time + shift
			if err := w.CopyEvent(&ev, last); err != nil {
				t.Fatal(err)
			}
		}
		r.Close()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w.Count
}

func conformanceCaptures(t testing.TB) []string { t.Helper(); return testenv.Captures(t) }

func sysdig(t testing.TB) string { t.Helper(); return testenv.Sysdig(t) }

// TestParamNumMatchesAppendParam checks, over every parameter of every
// conformance capture, that ParamNum gives the number AppendParam returns
// with the text (replay renders text only when a rule reads it).
func TestParamNumMatchesAppendParam(t *testing.T) {
	checked := 0
	for _, path := range conformanceCaptures(t) {
		r, err := Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		var ev Event
		for r.Next(&ev) == nil {
			for i := 0; i < ev.NParams; i++ {
				_, want := ev.AppendParam(nil, i)
				got, ok := ev.ParamNum(i)
				if !ok || got != want {
					t.Fatalf("%s: event %d %s param %d: ParamNum = %d, %v; AppendParam's number %d", path, ev.Num, ev.TypeName(), i, got, ok, want)
				}
				checked++
			}
			if _, ok := ev.ParamNum(ev.NParams); ok {
				t.Fatalf("%s: event %d: ParamNum past the last parameter reports a value", path, ev.Num)
			}
		}
		r.Close()
	}
	if checked == 0 {
		t.Fatal("no parameters checked")
	}
	t.Logf("%d parameters checked", checked)
}

// TestPassKeepsNumbering reads every conformance capture twice, once with
// a Pass table that lets only close events through: those must come back
// with the same numbers, offsets and parameters, and the counts must agree.
func TestPassKeepsNumbering(t *testing.T) {
	for _, path := range conformanceCaptures(t) {
		type seen struct {
			num    uint64
			offset int64
			params string
		}
		read := func(pass *[NumCodes]bool) ([]seen, Stats) {
			r, err := Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			r.Pass = pass
			var out []seen
			var ev Event
			for r.Next(&ev) == nil {
				if ev.TypeName() != "close" {
					continue
				}
				var b []byte
				for i := 0; i < ev.NParams; i++ {
					b, _ = ev.AppendParam(append(b, ' '), i)
				}
				out = append(out, seen{ev.Num, ev.Offset, string(b)})
			}
			return out, r.Stats
		}
		all, allStats := read(nil)
		var closeOnly [NumCodes]bool
		for code := range closeOnly {
			closeOnly[code] = Info(uint16(code)).Name == "close"
		}
		some, someStats := read(&closeOnly)
		if !slices.Equal(all, some) {
			t.Errorf("%s: %d close events without Pass, %d with it; first of each: %v / %v", path, len(all), len(some), all[:min(1, len(all))], some[:min(1, len(some))])
		}
		if len(all) == 0 && strings.Contains(path, "curl") {
			t.Errorf("%s: no close events read", path)
		}
		if allStats.Events != someStats.Events || allStats.Blocks != someStats.Blocks {
			t.Errorf("%s: stats %+v without Pass, %+v with it", path, allStats, someStats)
		}
	}
}
