package capture

import (
	"fmt"
	"io"
	"testing"
)

func TestDumpScratch(t *testing.T) {
	r, err := Open("/work/shared/conformance/scap/falco_open-multiple-files.scap", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ev Event
	counts := map[string]int{}
	for {
		if err := r.Next(&ev); err == io.EOF {
			break
		}
		counts[fmt.Sprintf("%s/%d/f%d", ev.Info.Const, ev.Code, ev.Flags)]++
		if ev.Code == 272 || ev.Num < 3 {
			t.Logf("%d %s tid=%d np=%d ts=%d cpu=%d", ev.Num, ev.Info.Const, ev.Tid, ev.NParams, ev.Time, ev.CPU)
		}
	}
	t.Log(counts)
}
