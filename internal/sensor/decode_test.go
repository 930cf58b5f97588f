package sensor

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

// The tests build records with the bpf2go-generated mirrors of the C
// structs, so a layout drift between C and decoder shows up here too.

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func field(typ, slot uint8, data []byte) []byte {
	b := []byte{typ, slot, 0, 0}
	binary.LittleEndian.PutUint16(b[2:], uint16(len(data)))
	return append(b, data...)
}

func comm(s string) [16]int8 {
	var c [16]int8
	for i := 0; i < len(s) && i < 15; i++ {
		c[i] = int8(s[i])
	}
	return c
}

// finish sets the header's size to the record's length.
func finish(b []byte) []byte {
	binary.LittleEndian.PutUint32(b[8:], uint32(len(b)))
	return b
}

func openatRecord(t testing.TB) []byte {
	sc := sensorBPFScRec{
		H: sensorBPFRecHdr{Ts: 1_000, Kind: uint16(KindSyscall), Tid: 101, Tgid: 100, Cpu: 1},
		T: sensorBPFTaskIds{CgroupId: 7, Ppid: 99, Uid: 1000, Gid: 1001, Euid: 0, Egid: 0,
			Loginuid: 1000, Mntns: 4026531840, Pidns: 4026531836, Comm: comm("sh")},
		Ret:  3,
		Args: [6]uint64{0xffffffffffffff9c, 0x7ffd0000, 0x241, 0o666},
		Nr:   257, RawNr: 257,
	}
	fi := sensorBPFFileInfo{Ino: 42, Magic: 0xef53, Ctime: 5, Mtime: 6, Dev: 8<<20 | 1, MntId: 27,
		Mntns: 4026532000, F_flags: 0x8001, F_mode: 0x1e, I_mode: 0o100644, Nlink: 1, Flags: 0x40}
	b := marshal(t, sc)
	b = append(b, field(ftPath, 0, []byte("etc/ld.so.preload\x00"))...)
	b = append(b, field(ftFile, slotFD, marshal(t, fi))...)
	b = append(b, field(ftFilePath, slotFD, []byte("/etc/ld.so.preload"))...)
	return finish(b)
}

func execRecord(t testing.TB) []byte {
	pr := sensorBPFProcRec{
		H: sensorBPFRecHdr{Ts: 2_000, Kind: uint16(KindExec), Tid: 200, Tgid: 200},
		P: sensorBPFProcInfo{CapEff: 0x1ff, CapPrm: 0x1ff, StartBoottime: 1_500, ParentStartBoottime: 1_000,
			PidnsInitStart: 10, CgroupId: 9, Ppid: 100, Vtid: 1, Vpid: 1, Vpgid: 1, Vsid: 1, Pgid: 200, Sid: 200,
			Uid: 0, Loginuid: 0xffffffff, Sessionid: 0xffffffff, Tty: 0x8800, Pflags: 0x400000, OldTid: 201,
			Ns: [7]uint32{1, 2, 3, 4, 5, 6, 7}, Comm: comm("cat")},
	}
	b := marshal(t, pr)
	b = append(b, field(ftArgv, 0, []byte("cat\x00/etc/passwd\x00\x00last\x00"))...)
	b = append(b, field(ftEnv, 0, []byte("LD_PRELOAD=/x.so\x00PATH=/bin\x00"))...)
	b = append(b, field(ftFile, slotExe, marshal(t, sensorBPFFileInfo{Ino: 11, Flags: 0x1 | 0x40}))...)
	b = append(b, field(ftFilePath, slotExe, []byte("/usr/bin/cat"))...)
	b = append(b, field(ftFile, slotCwd, marshal(t, sensorBPFFileInfo{Ino: 12}))...)
	b = append(b, field(ftFilePath, slotCwd, []byte("/root"))...)
	b = append(b, field(ftFile, slotRoot, marshal(t, sensorBPFFileInfo{Ino: 2, Mntns: 77}))...)
	b = append(b, field(ftFilePath, slotRoot, []byte("/"))...)
	b = append(b, field(ftCgroup, 0, []byte("/libpod_parent/libpod-abc"))...)
	b = append(b, field(ftFilename, 0, []byte("/bin/cat\x00"))...)
	return finish(b)
}

func TestDecodeOpenat(t *testing.T) {
	d := NewDecoder(1_000_000)
	var r Record
	if err := d.Decode(openatRecord(t), &r); err != nil {
		t.Fatal(err)
	}
	want := Record{
		Kind: KindSyscall, Time: 1_001_000, BootNS: 1_000, CPU: 1, Tid: 101, Tgid: 100,
		Syscall: SyscallRecord{
			Nr: 257, RawNr: 257, Ret: 3,
			Args: [6]uint64{0xffffffffffffff9c, 0x7ffd0000, 0x241, 0o666},
			Task: TaskIDs{PPid: 99, UID: 1000, GID: 1001, LoginUID: 1000, MntNS: 4026531840,
				PidNS: 4026531836, CgroupID: 7, Comm: "sh"},
			Path: [2]string{"etc/ld.so.preload"},
			File: File{Valid: true, Path: "/etc/ld.so.preload", Dev: 8<<20 | 1, Ino: 42, MntNS: 4026532000,
				MntID: 27, OpenFlags: 0x8001, FMode: 0x1e, Mode: 0o100644, Nlink: 1, FSMagic: 0xef53,
				Ctime: 5, Mtime: 6, Flags: FilePathNSRoot},
		},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", r, want)
	}
	if r.Syscall.Name() != "openat" || r.Syscall.File.Major() != 8 || r.Syscall.File.Minor() != 1 {
		t.Errorf("Name %q, dev %d:%d", r.Syscall.Name(), r.Syscall.File.Major(), r.Syscall.File.Minor())
	}
}

func TestDecodeExec(t *testing.T) {
	d := NewDecoder(100)
	var r Record
	if err := d.Decode(execRecord(t), &r); err != nil {
		t.Fatal(err)
	}
	p := r.Process
	if r.Kind != KindExec || p.Tid != 200 || p.Tgid != 200 || p.PPid != 100 || p.OldTid != 201 {
		t.Errorf("ids: kind %v tid %d tgid %d ppid %d oldtid %d", r.Kind, p.Tid, p.Tgid, p.PPid, p.OldTid)
	}
	if want := []string{"cat", "/etc/passwd", "", "last"}; !reflect.DeepEqual(p.Args, want) || p.ArgsTruncated {
		t.Errorf("Args = %q (truncated %v), want %q", p.Args, p.ArgsTruncated, want)
	}
	if want := []string{"LD_PRELOAD=/x.so", "PATH=/bin"}; !reflect.DeepEqual(p.Env, want) {
		t.Errorf("Env = %q, want %q", p.Env, want)
	}
	if p.Exe.Path != "/usr/bin/cat" || p.Exe.Ino != 11 || p.Exe.Flags != FileOverlay|FilePathNSRoot {
		t.Errorf("Exe = %+v", p.Exe)
	}
	if p.Cwd.Path != "/root" || p.Root.Path != "/" || p.Root.MntNS != 77 {
		t.Errorf("Cwd %+v Root %+v", p.Cwd, p.Root)
	}
	if p.Cgroup != "/libpod_parent/libpod-abc" || p.Filename != "/bin/cat" || p.Comm != "cat" {
		t.Errorf("Cgroup %q Filename %q Comm %q", p.Cgroup, p.Filename, p.Comm)
	}
	if p.StartTime != 1_600 || p.ParentStartTime != 1_100 || p.NS != (Namespaces{1, 2, 3, 4, 5, 6, 7}) {
		t.Errorf("StartTime %d ParentStartTime %d NS %+v", p.StartTime, p.ParentStartTime, p.NS)
	}
	if p.TTY != 0x8800 || p.CapEffective != 0x1ff || p.LoginUID != 0xffffffff || p.KernelThread {
		t.Errorf("TTY %#x caps %#x loginuid %#x kthread %v", p.TTY, p.CapEffective, p.LoginUID, p.KernelThread)
	}
	if p.Cmdline() != "cat /etc/passwd  last" {
		t.Errorf("Cmdline = %q", p.Cmdline())
	}
}

func TestDecodeSocketFields(t *testing.T) {
	sc := sensorBPFScRec{H: sensorBPFRecHdr{Kind: uint16(KindSyscall)}, Nr: 42}
	si := sensorBPFSockInfo{Family: afInet, Type: 1, Proto: 6, Lport: 40000, Rport: 8080, State: 1}
	copy(si.Laddr[:], []byte{127, 0, 0, 1})
	copy(si.Raddr[:], []byte{10, 1, 2, 3})
	sa := []byte{2, 0, 0x1f, 0x90, 10, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0}
	b := marshal(t, sc)
	b = append(b, field(ftSock, slotFD, marshal(t, si))...)
	b = append(b, field(ftSockaddr, 0, sa)...)
	var r Record
	if err := NewDecoder(0).Decode(finish(b), &r); err != nil {
		t.Fatal(err)
	}
	s := r.Syscall
	want := Socket{Valid: true, Family: afInet, Type: 1, Proto: 6, State: 1,
		Local:  netip.MustParseAddrPort("127.0.0.1:40000"),
		Remote: netip.MustParseAddrPort("10.1.2.3:8080")}
	if s.Sock != want {
		t.Errorf("Sock = %+v, want %+v", s.Sock, want)
	}
	if s.Addr != (SockAddr{Valid: true, Family: afInet, AddrPort: netip.MustParseAddrPort("10.1.2.3:8080")}) {
		t.Errorf("Addr = %+v", s.Addr)
	}
}

func TestDecodeUnixAddresses(t *testing.T) {
	sc := sensorBPFScRec{H: sensorBPFRecHdr{Kind: uint16(KindSyscall)}, Nr: 42}
	b := marshal(t, sc)
	b = append(b, field(ftSock, slotFD, marshal(t, sensorBPFSockInfo{Family: afUnix, Type: 1}))...)
	b = append(b, field(ftUnix, 0, []byte("\x00abstract"))...)
	b = append(b, field(ftUnix, 1, []byte("/run/x.sock\x00\x00"))...)
	b = append(b, field(ftSockaddr, 0, []byte("\x01\x00/run/x.sock\x00"))...)
	var r Record
	if err := NewDecoder(0).Decode(finish(b), &r); err != nil {
		t.Fatal(err)
	}
	s := r.Syscall
	if s.Sock.LocalPath != "@abstract" || s.Sock.PeerPath != "/run/x.sock" || s.Addr.Path != "/run/x.sock" {
		t.Errorf("LocalPath %q PeerPath %q Addr.Path %q", s.Sock.LocalPath, s.Sock.PeerPath, s.Addr.Path)
	}
}

func TestDecodeSharedBaseDir(t *testing.T) {
	sc := sensorBPFScRec{H: sensorBPFRecHdr{Kind: uint16(KindSyscall)}, Nr: 316}
	b := marshal(t, sc)
	b = append(b, field(ftPath, 0, []byte("a\x00"))...)
	b = append(b, field(ftPath, 1, []byte("b\x00"))...)
	b = append(b, field(ftFile, slotDir0, marshal(t, sensorBPFFileInfo{Ino: 5}))...)
	b = append(b, field(ftFilePath, slotDir0, []byte("/tmp/d"))...)
	var r Record
	if err := NewDecoder(0).Decode(finish(b), &r); err != nil {
		t.Fatal(err)
	}
	if r.Syscall.Dir[1].Path != "/tmp/d" || r.Syscall.Dir[1].Ino != 5 {
		t.Errorf("Dir[1] = %+v, want the shared base /tmp/d", r.Syscall.Dir[1])
	}
}

func TestDecodeTruncatedArgv(t *testing.T) {
	pr := sensorBPFProcRec{H: sensorBPFRecHdr{Kind: uint16(KindExec)}, P: sensorBPFProcInfo{StrTrunc: strTruncArgv}}
	argv := bytes.Repeat([]byte("x"), maxArgs)
	argv[10] = 0
	b := append(marshal(t, pr), field(ftArgv, 0, argv)...)
	var r Record
	if err := NewDecoder(0).Decode(finish(b), &r); err != nil {
		t.Fatal(err)
	}
	if !r.Process.ArgsTruncated || r.Process.EnvTruncated || len(r.Process.Args) != 2 || len(r.Process.Args[1]) != maxArgs-11 {
		t.Errorf("ArgsTruncated %v EnvTruncated %v, %d args", r.Process.ArgsTruncated, r.Process.EnvTruncated, len(r.Process.Args))
	}
}

func TestDecodeForkAndExit(t *testing.T) {
	fr := sensorBPFForkRec{
		H:          sensorBPFRecHdr{Kind: uint16(KindFork), Tid: 301, Tgid: 300},
		P:          sensorBPFProcInfo{Ppid: 100, StartBoottime: 50, Comm: comm("bash")},
		CloneFlags: 0x100, CallerTid: 100, CallerTgid: 100,
	}
	var r Record
	if err := NewDecoder(0).Decode(finish(marshal(t, fr)), &r); err != nil {
		t.Fatal(err)
	}
	p := r.Process
	if p.Tid != 301 || p.Tgid != 300 || p.PPid != 100 || p.CallerTgid != 100 || p.CloneFlags != 0x100 || p.Comm != "bash" {
		t.Errorf("fork = %+v", p)
	}
	er := sensorBPFExitRec{H: sensorBPFRecHdr{Kind: uint16(KindExit), Tid: 301, Tgid: 300},
		StartBoottime: 50, Ppid: 100, ExitCode: 7 << 8, GroupDead: 1, Comm: comm("bash")}
	if err := NewDecoder(0).Decode(finish(marshal(t, er)), &r); err != nil {
		t.Fatal(err)
	}
	p = r.Process
	if p.ExitCode != 7<<8 || !p.GroupDead || p.StartBootNS != 50 || p.PPid != 100 || p.CallerTgid != 0 {
		t.Errorf("exit = %+v", p)
	}
}

func TestDecodeRejectsMalformed(t *testing.T) {
	good := openatRecord(t)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short header", good[:20]},
		{"size beyond data", good[:len(good)-1]},
		{"size below header", finish(make([]byte, 16))},
		{"unknown kind", func() []byte {
			b := bytes.Clone(good)
			b[12] = 99
			return b
		}()},
		{"short fixed part", finish(bytes.Clone(good[:100]))},
		{"field header cut", finish(append(bytes.Clone(good), 1, 0))},
		{"field longer than record", finish(append(bytes.Clone(good), 1, 0, 0xff, 0x0f, 'x'))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Record
			if err := NewDecoder(0).Decode(tt.b, &r); !errors.Is(err, ErrMalformed) {
				t.Errorf("Decode = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestDecodeReusesRecord(t *testing.T) {
	d := NewDecoder(0)
	var r Record
	if err := d.Decode(execRecord(t), &r); err != nil {
		t.Fatal(err)
	}
	if err := d.Decode(openatRecord(t), &r); err != nil {
		t.Fatal(err)
	}
	if r.Process.Comm != "" || r.Process.Args != nil {
		t.Errorf("stale process fields after a syscall record: %+v", r.Process)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(openatRecord(f))
	f.Add(execRecord(f))
	f.Add(writeRecord(f, 200, dataField(200, []byte("GET / HTTP/1.1"))))
	f.Add(finish(marshal(f, sensorBPFExitRec{H: sensorBPFRecHdr{Kind: uint16(KindExit)}})))
	f.Add(finish(marshal(f, sensorBPFForkRec{H: sensorBPFRecHdr{Kind: uint16(KindFork)}})))
	f.Add(scRecord(f, 293, 0, field(ftFDs, 0, marshal(f, sensorBPFFdPair{Fds: [2]int32{3, 4}, Ino: 99}))))
	f.Add(scRecord(f, 126, 0, field(ftCaps, 0, marshal(f, sensorBPFCapInfo{Effective: 1, Permitted: 2, Inheritable: 3}))))
	f.Add([]byte{})
	d := NewDecoder(0)
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if err := d.Decode(b, &r); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error not wrapping ErrMalformed: %v", err)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	for _, bb := range []struct {
		name string
		rec  []byte
	}{
		{"openat", openatRecord(b)},
		{"exec", execRecord(b)},
		{"close", finish(marshal(b, sensorBPFScRec{H: sensorBPFRecHdr{Kind: uint16(KindSyscall)}, T: sensorBPFTaskIds{Comm: comm("nginx")}, Nr: 3}))},
	} {
		b.Run(bb.name, func(b *testing.B) {
			d := NewDecoder(0)
			var r Record
			b.ReportAllocs()
			b.SetBytes(int64(len(bb.rec)))
			for b.Loop() {
				if err := d.Decode(bb.rec, &r); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
