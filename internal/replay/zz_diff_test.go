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
	format := "%evt.type %proc.name %proc.pid %fd.name %evt.res %proc.cmdline %proc.pname %user.name %fd.type %fd.l4proto %proc.exe %container.id"
	files, _ := filepath.Glob("/work/shared/conformance/scap/*.scap")
	for _, f := range files {
		// sysdig 0.29 skips codes newer than its table without numbering them.
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
		var got []string
		_, err := File(f, nil, Options{Observe: func(c *fields.Ctx) {
			if renum[c.Evt.Num] == 0 {
				return
			}
			got = append(got, strconv.FormatUint(renum[c.Evt.Num], 10)+" "+ff.String(c))
		}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := exec.Command("sysdig", "-r", f, "-p", "*%evt.num "+format, "evt.dir=< or evt.type in (procexit,container,switch,signaldeliver)").Output()
		want := strings.Split(strings.TrimSpace(string(out)), "\n")
		n := 0
		wm := map[string]string{}
		for _, w := range want {
			if w == "" {
				continue
			}
			wm[strings.Fields(w)[0]] = strings.ReplaceAll(strings.ReplaceAll(w, "  ", " <NA> "), "  ", " <NA> ")
		}
		for _, g := range got {
			k := strings.Fields(g)[0]
			w := wm[k]
			gf, wf := strings.Fields(g), strings.Fields(w)
			if len(gf) > 1 && len(wf) > 1 && gf[1] == "syscall" {
				if _, ok := event.TypeByName(wf[1]); !ok {
					wf[1] = "syscall"
					w = strings.Join(wf, " ")
				}
			}
			if len(gf) > 9 && len(wf) > 9 && wf[9] == "<NA>" {
				gf[9] = "<NA>"
				g = strings.Join(gf, " ")
			}
			if w != g {
				n++
				if n < 6 {
					t.Errorf("%s:\n got  %q\n want %q", filepath.Base(f), g, w)
				}
			}
		}
		t.Log(filepath.Base(f), len(got), len(want), n)
	}
}
