package sensor

import (
	"testing"
)

// scRecord is syscall nr returning ret with the given fields after the
// fixed part.
func scRecord(t testing.TB, nr int, ret int64, fields ...[]byte) []byte {
	sc := sensorBPFScRec{
		H:   sensorBPFRecHdr{Ts: 4_000, Kind: uint16(KindSyscall), Tid: 400, Tgid: 400},
		T:   sensorBPFTaskIds{Comm: comm("python3")},
		Ret: ret,
		Nr:  uint32(nr), RawNr: uint32(nr),
	}
	b := marshal(t, sc)
	for _, f := range fields {
		b = append(b, f...)
	}
	return finish(b)
}

func nr(t testing.TB, name string) int {
	n, ok := SyscallNumber(name)
	if !ok {
		t.Fatalf("no syscall %q", name)
	}
	return n
}

func TestDecodeFDPairAndCaps(t *testing.T) {
	pair := marshal(t, sensorBPFFdPair{Fds: [2]int32{3, 4}, Ino: 123456})
	caps := marshal(t, sensorBPFCapInfo{Effective: 0x1ffffffffff, Permitted: 0x3fffffffff, Inheritable: 0x400})
	for _, tc := range []struct {
		name    string
		rec     []byte
		hasFDs  bool
		fds     [2]int64
		ino     uint64
		hasCaps bool
		caps    Caps
	}{
		{name: "pipe2: both fds and the pipe's inode", rec: scRecord(t, nr(t, "pipe2"), 0, field(ftFDs, 0, pair)),
			hasFDs: true, fds: [2]int64{3, 4}, ino: 123456},
		{name: "negative fds stay negative", rec: scRecord(t, nr(t, "socketpair"), 0,
			field(ftFDs, 0, marshal(t, sensorBPFFdPair{Fds: [2]int32{-1, 7}}))),
			hasFDs: true, fds: [2]int64{-1, 7}},
		{name: "a failed pipe carries no fds", rec: scRecord(t, nr(t, "pipe"), -24)},
		{name: "an fd pair too short is ignored", rec: scRecord(t, nr(t, "pipe"), 0, field(ftFDs, 0, pair[:8]))},
		{name: "capset: the three sets", rec: scRecord(t, nr(t, "capset"), 0, field(ftCaps, 0, caps)),
			hasCaps: true, caps: Caps{Effective: 0x1ffffffffff, Permitted: 0x3fffffffff, Inheritable: 0x400}},
		{name: "caps too short are ignored", rec: scRecord(t, nr(t, "capset"), 0, field(ftCaps, 0, caps[:16]))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Record
			if err := NewDecoder(0).Decode(tc.rec, &r); err != nil {
				t.Fatal(err)
			}
			s := r.Syscall
			if s.HasFDs != tc.hasFDs || s.FDs != tc.fds || s.PipeIno != tc.ino {
				t.Errorf("HasFDs %v FDs %v PipeIno %d; want %v %v %d", s.HasFDs, s.FDs, s.PipeIno, tc.hasFDs, tc.fds, tc.ino)
			}
			if s.HasCaps != tc.hasCaps || s.Caps != tc.caps {
				t.Errorf("HasCaps %v Caps %+v; want %v %+v", s.HasCaps, s.Caps, tc.hasCaps, tc.caps)
			}
		})
	}
}

// A reused Record forgets the previous record's fds and caps.
func TestDecodeResetsFDPairAndCaps(t *testing.T) {
	d := NewDecoder(0)
	var r Record
	if err := d.Decode(scRecord(t, nr(t, "pipe"), 0, field(ftFDs, 0, marshal(t, sensorBPFFdPair{Fds: [2]int32{5, 6}, Ino: 9}))), &r); err != nil {
		t.Fatal(err)
	}
	if err := d.Decode(scRecord(t, nr(t, "pipe"), -24), &r); err != nil {
		t.Fatal(err)
	}
	if r.Syscall.HasFDs || r.Syscall.FDs != [2]int64{} || r.Syscall.PipeIno != 0 || r.Syscall.HasCaps {
		t.Errorf("second record kept the first one's extras: %+v", r.Syscall)
	}
}
