package agent

import (
	"testing"

	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/sensor"
)

func syscallRec(t *testing.T, tgid uint32, name string, ret int64) *sensor.Record {
	t.Helper()
	nr, ok := sensor.SyscallNumber(name)
	if !ok {
		t.Fatalf("no syscall %q", name)
	}
	r := &sensor.Record{Kind: sensor.KindSyscall, Tid: tgid, Tgid: tgid, Time: 3000}
	r.Syscall.Nr, r.Syscall.RawNr, r.Syscall.Ret = nr, nr, ret
	return r
}

func withFDs(r *sensor.Record, a, b int64, ino uint64) *sensor.Record {
	r.Syscall.HasFDs, r.Syscall.FDs, r.Syscall.PipeIno = true, [2]int64{a, b}, ino
	return r
}

// The fds the kernel wrote for pipe, pipe2 and socketpair enter the fd
// table; without them (a failed call) no fd is made up.
func TestPipeAndSocketpairFDsEnterTheTable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rec     func(t *testing.T) *sensor.Record
		fds     []int64
		typ     event.FDType
		ino     uint64
		params  map[string]string
		eventFD int64 // the event's fd.num, 0: not checked
	}{
		{name: "pipe", rec: func(t *testing.T) *sensor.Record { return withFDs(syscallRec(t, 300, "pipe", 0), 3, 4, 777) },
			fds: []int64{3, 4}, typ: event.FDPipe, ino: 777, params: map[string]string{"fd1": "3", "fd2": "4", "ino": "777"}, eventFD: 4},
		{name: "pipe2", rec: func(t *testing.T) *sensor.Record {
			r := withFDs(syscallRec(t, 300, "pipe2", 0), 5, 6, 778)
			r.Syscall.Args[1] = 0x80000 // O_CLOEXEC
			return r
		}, fds: []int64{5, 6}, typ: event.FDPipe, ino: 778, params: map[string]string{"fd1": "5", "fd2": "6", "ino": "778"}, eventFD: 6},
		{name: "socketpair", rec: func(t *testing.T) *sensor.Record {
			r := withFDs(syscallRec(t, 300, "socketpair", 0), 7, 8, 0)
			r.Syscall.Args = [6]uint64{1, 1, 0}
			return r
		}, fds: []int64{7, 8}, typ: event.FDUnix, params: map[string]string{"fd1": "7", "fd2": "8"}},
		{name: "failed pipe", rec: func(t *testing.T) *sensor.Record { return syscallRec(t, 300, "pipe", -24) },
			params: map[string]string{"fd1": "-1", "fd2": "-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTestTranslator()
			tr.Apply(execRec(300, 1, hostNS, "/", "python3", "-c", "x"))
			e, p := tr.Apply(tc.rec(t))
			if e == nil || p == nil {
				t.Fatal("no event")
			}
			for _, n := range tc.fds {
				fd := p.FDs[n]
				if fd == nil || fd.Num != n || fd.Type != tc.typ || fd.Ino != tc.ino {
					t.Errorf("fd %d: %+v, want type %v ino %d", n, fd, tc.typ, tc.ino)
				}
			}
			if tc.fds == nil {
				for n, fd := range p.FDs {
					t.Errorf("fd %d in the table after a failed call: %+v", n, fd)
				}
			}
			for name, want := range tc.params {
				if got, _ := e.Param(name); got.Text != want {
					t.Errorf("%s = %q, want %q", name, got.Text, want)
				}
			}
			if tc.eventFD != 0 && (e.FD == nil || e.FD.Num != tc.eventFD || e.FD.Type != event.FDPipe) {
				t.Errorf("event fd %+v, want pipe %d", e.FD, tc.eventFD)
			}
		})
	}
}

// capset's sets come from the record; a record without them leaves the
// caps the table knows alone instead of clearing them.
func TestCapsetSetsTheCapsItCarries(t *testing.T) {
	const before = 0x1ffffffffff
	for _, tc := range []struct {
		name          string
		caps          *sensor.Caps
		ret           int64
		eff, prm, inh uint64
	}{
		{name: "carried", caps: &sensor.Caps{Effective: 0x1fffffbfffff, Permitted: before, Inheritable: 1 << 13},
			eff: 0x1fffffbfffff, prm: before, inh: 1 << 13},
		{name: "not carried", eff: before, prm: before},
		{name: "failed", ret: -22, caps: &sensor.Caps{Effective: 1, Permitted: 2, Inheritable: 3}, eff: before, prm: before},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTestTranslator()
			ex := execRec(300, 1, hostNS, "/", "python3", "-c", "x")
			ex.Process.CapEffective, ex.Process.CapPermitted = before, before
			tr.Apply(ex)
			r := syscallRec(t, 300, "capset", tc.ret)
			if tc.caps != nil {
				r.Syscall.HasCaps, r.Syscall.Caps = true, *tc.caps
			}
			e, p := tr.Apply(r)
			if e == nil || p == nil {
				t.Fatal("no event")
			}
			if p.CapEffective != tc.eff || p.CapPermitted != tc.prm || p.CapInherit != tc.inh {
				t.Errorf("caps eff %#x prm %#x inh %#x, want %#x %#x %#x", p.CapEffective, p.CapPermitted, p.CapInherit, tc.eff, tc.prm, tc.inh)
			}
		})
	}
}
