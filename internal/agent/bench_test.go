package agent

import (
	"testing"

	"github.com/truesightsec/truesight/internal/sensor"
)

// BenchmarkTranslateOpenClose prices the user-space half of a traced
// open+close: two decoded sensor records turned into events, fd table
// kept.
func BenchmarkTranslateOpenClose(b *testing.B) {
	tr := newTestTranslator()
	tr.Apply(execRec(100, 1, hostNS, "/", "cat", "/etc/hostname"))
	open := openRec(100, "/etc/hostname", "/etc/hostname", hostNS, 3)
	closeRec := &sensor.Record{Kind: sensor.KindSyscall, Tid: 100, Tgid: 100, Time: 3000}
	closeRec.Syscall.Nr, _ = sensor.SyscallNumber("close")
	closeRec.Syscall.Args[0] = 3
	b.ReportAllocs()
	for b.Loop() {
		if e, _ := tr.Apply(open); e == nil || e.FD == nil {
			b.Fatal("no open event")
		}
		if e, _ := tr.Apply(closeRec); e == nil {
			b.Fatal("no close event")
		}
	}
}
