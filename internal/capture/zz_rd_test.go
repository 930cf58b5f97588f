package capture

import (
	"testing"
	"time"
)

func TestReadSpeedScratch(t *testing.T) {
	for i := 0; i < 3; i++ {
		start := time.Now()
		r, err := Open("/tmp/big.scap", nil)
		if err != nil {
			t.Fatal(err)
		}
		var ev Event
		n := 0
		p := NewPairer()
		var sc Syscall
		for r.Next(&ev) == nil {
			n++
			_ = p
			_ = sc
		}
		t.Logf("%d events in %v: %.1fM/s", n, time.Since(start), float64(n)/time.Since(start).Seconds()/1e6)
	}
}
