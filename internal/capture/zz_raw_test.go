package capture

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRawScratch(t *testing.T) {
	files, _ := filepath.Glob("/work/shared/conformance/scap/*.scap")
	for _, f := range files {
		r, err := Open(f, nil)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		var ev Event
		var got []string
		skipped := uint64(0)
		for {
			err := r.Next(&ev)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Errorf("%s: %v", f, err)
				break
			}
			if ev.Code >= 354 {
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
			got = append(got, fmt.Sprintf("%d %s %s", ev.Num-skipped, dir, ev.TypeName()))
		}
		out, _ := exec.Command("sysdig", "-r", f, "-p", "%evt.num %evt.dir %evt.type").Output()
		want := strings.Split(strings.TrimSpace(string(out)), "\n")
		n := 0
		for i := 0; i < len(want) || i < len(got); i++ {
			var a, b string
			if i < len(got) {
				a = got[i]
			}
			if i < len(want) {
				b = want[i]
			}
			if a != b {
				t.Errorf("%s: line %d: got %q want %q", filepath.Base(f), i, a, b)
				n++
				if n > 5 {
					break
				}
			}
		}
		t.Logf("%s: %d events, threads %d users %d groups %d ifaces %d stats %+v host %q", filepath.Base(f), len(got), len(r.Threads), len(r.Users), len(r.Groups), len(r.Interfaces), r.Stats, r.Machine.Hostname)
		r.Close()
	}
	_ = os.Stdout
}
