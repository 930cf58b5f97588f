package replay

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/truesightsec/truesight/internal/capture"
)

// Events of a capture written back by WriteBuilt, as `truesight capture`
// writes the live agent's events (with the enter halves it makes), read
// the same in sysdig: event types, process names, fd names and results.
func TestWrittenEventsReadBackInSysdig(t *testing.T) {
	bin := sysdig(t)
	for _, path := range captures(t) {
		name := filepath.Base(path)
		out := filepath.Join(t.TempDir(), "written.scap")
		f, err := os.Create(out)
		if err != nil {
			t.Fatal(err)
		}
		w, err := capture.NewWriter(f, capture.WriterOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The capture's own tables, then its events as truesight has them.
		tables, err := capture.Open(path, &capture.Options{OnBlock: func(typ uint32, body []byte) { w.WriteBlock(typ, body) }})
		if err != nil {
			t.Fatal(err)
		}
		tables.Close()
		var written []uint64 // original numbers of the events written
		renumber := sysdigNumbers(t, path)
		cr, err := capture.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		pairer := capture.NewPairer()
		var ce capture.Event
		var sc capture.Syscall
		for {
			if err := cr.Next(&ce); err != nil {
				break
			}
			if !pairer.Add(&ce, &sc) {
				continue
			}
			x := sc.Exit
			if x.Info.Name == "container" || !x.Shown() {
				continue // a container record written first is a preamble sysdig hides
			}
			if _, known := renumber[x.Num]; !known {
				continue // an event sysdig 0.29 does not know
			}
			if sc.Enter != nil {
				// The capture's own enter half, then its exit as it is.
				for _, e := range []*capture.Event{sc.Enter, x} {
					var params [][]byte
					for i := range e.NParams {
						params = append(params, e.Param(i))
					}
					if err := w.WriteEvent(e.CPU, 0, e.Time, e.Tid, e.Code, params); err != nil {
						t.Fatal(err)
					}
				}
			} else if err := w.WriteBuilt(x); err != nil { // with the enter half it makes
				t.Fatal(err)
			}
			written = append(written, renumber[x.Num])
		}
		cr.Close()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		f.Close()

		if len(written) == 0 {
			continue // sysdig refuses a capture without events
		}
		format := "*%evt.num|%evt.type|%proc.name|%fd.name|%evt.res"
		filter := "evt.dir=< or evt.type in (procexit,container,switch,signaldeliver)"
		want, err := exec.Command(bin, "-r", path, "-p", format, filter).Output()
		if err != nil {
			t.Fatal(err)
		}
		got, err := exec.Command(bin, "-r", out, "-p", format, filter).Output()
		if err != nil {
			t.Fatalf("sysdig cannot read the written capture: %v", err)
		}
		original := map[string]string{}
		for _, l := range lines(want) {
			num, rest, _ := strings.Cut(l, "|")
			original[num] = rest
		}
		gl := lines(got)
		if len(gl) != len(written) {
			t.Errorf("%s: %d events written, sysdig shows %d", name, len(written), len(gl))
		}
		diffs := 0
		for i := range min(len(gl), len(written)) {
			_, g, _ := strings.Cut(gl[i], "|")
			w := original[strconv.FormatUint(written[i], 10)]
			if g != w && !knownWriteDifference(g, w) && !knownDifferencesWritten[name+" "+strconv.FormatUint(written[i], 10)] {
				diffs++
				if diffs <= 5 {
					t.Errorf("%s event %d: written %q, original %q", name, written[i], g, w)
				}
			}
		}
	}
}

// knownDifferencesWritten are events whose written form sysdig reads
// differently for reasons the replay tests document: the unconnected UDP
// socket libsinsp names after its first peer, and a unix socket whose
// failed connect named its peer in the enter half the old capture lacked.
var knownDifferencesWritten = map[string]bool{
	"libs_test_ipv6_client.scap 231":  true,
	"libs_test_ipv6_client.scap 233":  true,
	"libs_test_ipv6_client.scap 238":  true,
	"libs_curl_google.scap 1059":      true,
	"libs_curl_google.scap 1065":      true,
	"libs_single_ipv6_conn.scap 1145": true,
	"libs_single_ipv6_conn.scap 1149": true,
}

// knownWriteDifference accepts what truesight writes better than the
// original: syscalls that old captures recorded as generic events
// (mprotect) are written as their own events, which have a result.
func knownWriteDifference(written, original string) bool {
	w, o := strings.Split(written, "|"), strings.Split(original, "|")
	return len(w) == 4 && len(o) == 4 && w[0] == o[0] && w[1] == o[1] && w[2] == o[2] && (o[3] == "" || o[3] == "<NA>") && w[3] == "SUCCESS"
}

func lines(b []byte) []string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	var out []string
	for _, l := range strings.Split(s, "\n") {
		out = append(out, strings.TrimSpace(l))
	}
	return out
}

// A process table written from truesight's state reads back as it was.
func TestThreadFromProcessRoundTrip(t *testing.T) {
	data := synth(t,
		openatX(100, 3, "/etc/hosts", 1<<0),
		ev{100, "PPME_SOCKET_SOCKET_X", [][]byte{le(int64(4)), le(uint32(2)), le(uint32(1)), le(uint32(0)), le(uint32(0))}},
		ev{100, "PPME_SOCKET_CONNECT_X", [][]byte{le(int64(0)), le(uint8(2), "\x0a\x00\x00\x01", uint16(40000), "\x0a\x00\x00\x02", uint16(443)), le(int64(4)), le(uint8(2), "\x0a\x00\x00\x02", uint16(443))}},
	)
	r := New(nil, Options{})
	cr, err := capture.NewReader(bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(cr, nil); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, _ := capture.NewWriter(&buf, capture.WriterOptions{})
	w.WriteThreads([]*capture.ThreadInfo{r.Table.Get(100).CaptureThread()})
	w.WriteEvent(0, 0, 1, 100, code("PPME_SYSCALL_CLOSE_X"), [][]byte{le(int64(0)), le(int64(3))})
	w.Close()
	back, err := capture.NewReader(bytes.NewReader(buf.Bytes()), nil)
	if err != nil {
		t.Fatal(err)
	}
	th := back.Thread(100)
	if th == nil {
		t.Fatal("thread 100 not written")
	}
	got := fmt.Sprintf("%s %s %v %s uid=%d login=%d", th.Comm, th.Exe, th.Args, th.Cwd, th.UID, th.LoginUID)
	if want := "bash -bash [-i] /home/u uid=1000 login=1000"; got != want {
		t.Errorf("thread %q, want %q", got, want)
	}
	var fds []string
	for _, f := range th.FDs {
		fds = append(fds, fmt.Sprintf("%d:%d:%s:%v:%d->%v:%d", f.Num, f.Type, f.Name, f.Src, f.SrcPort, f.Dst, f.DstPort))
	}
	slices.Sort(fds)
	want := []string{
		"0:16:/dev/pts/0:invalid IP:0->invalid IP:0",
		"3:16:/etc/hosts:invalid IP:0->invalid IP:0",
		"4:3::10.0.0.1:40000->10.0.0.2:443",
	}
	if !slices.Equal(fds, want) {
		t.Errorf("fds %v, want %v", fds, want)
	}
}
