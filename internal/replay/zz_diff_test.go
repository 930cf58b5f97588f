package replay

import (
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/truesightsec/truesight/internal/capture"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/output"
)

func TestDiffScratch(t *testing.T) {
	cols := []string{"evt.type", "proc.name", "proc.pid", "proc.ppid", "proc.cmdline", "proc.exe", "proc.pname", "user.name", "user.uid", "fd.name", "fd.num", "fd.type", "fd.l4proto", "evt.res", "evt.rawres", "container.id"}
	format := "%" + strings.Join(cols, "|%")
	files, _ := filepath.Glob("/work/shared/conformance/scap/*.scap")
	for _, f := range files {
		renum := map[uint64]uint64{}
		cr, _ := capture.Open(f, nil)
		var ev capture.Event
		skipped := uint64(0)
		for cr.Next(&ev) != io.EOF {
			if ev.Code >= 354 {
				skipped++
				continue
			}
			renum[ev.Num] = ev.Num - skipped
		}
		cr.Close()
		ff, _ := output.Compile(format)
		got := map[string]string{}
		threads := map[string]bool{}
		_, err := File(f, nil, Options{Observe: func(c *fields.Ctx) {
			if renum[c.Evt.Num] == 0 {
				return
			}
			got[strconv.FormatUint(renum[c.Evt.Num], 10)] = ff.String(c)
			threads[strconv.FormatUint(renum[c.Evt.Num], 10)] = c.Evt.Tid != c.Evt.Pid
		}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := exec.Command("sysdig", "-r", f, "-p", "*%evt.num|"+format, "evt.dir=< or evt.type in (procexit,container,switch,signaldeliver)").Output()
		n := 0
		for _, w := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			num, w, _ := strings.Cut(w, "|")
			g := got[num]
			gf, wf := strings.Split(g, "|"), strings.Split(w, "|")
			if len(gf) != len(wf) {
				t.Errorf("%s %s: got %q want %q", filepath.Base(f), num, g, w)
				continue
			}
			for i := range wf {
				if wf[i] == "" {
					wf[i] = "<NA>"
				}
			}
			if gf[0] == "syscall" {
				if _, ok := event.TypeByName(wf[0]); !ok {
					wf[0] = "syscall"
				}
			}
			for i, c := range cols {
				switch {
				case c == "user.uid" && wf[i] == "4294967295", c == "user.name" && wf[i] == "<NA>" && wf[i+1] == "4294967295":
					continue // we learnt the user from a clone
				case c == "fd.l4proto" && wf[i] == "<NA>" && (gf[0] == "socket" || gf[0] == "bind" || gf[0] == "fcntl"):
					continue
				case c == "proc.pname" && threads[num]:
					continue
				}
				if gf[i] != wf[i] {
					n++
					t.Errorf("%s %s %s %s: got %q want %q", filepath.Base(f), num, gf[0], c, gf[i], wf[i])
				}
			}
		}
		t.Log(filepath.Base(f), len(got), n)
	}
}
