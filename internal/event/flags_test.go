package event

import "testing"

func TestFlagTextFollowsFalco(t *testing.T) {
	cases := []struct{ got, want string }{
		{OpenFlagsText(0), "O_RDONLY"},
		{OpenFlagsText(0o2000000), "O_RDONLY|O_CLOEXEC"},
		{OpenFlagsText(0o4010000), "O_SYNC|O_DSYNC|O_RDONLY"},
		{OpenFlagsText(0o1101), "O_TRUNC|O_CREAT|O_WRONLY"},
		{OpenFlagsText(0o2102), "O_APPEND|O_CREAT|O_RDWR"},
		{ProtText(5), "PROT_READ|PROT_EXEC"},
		{ProtText(0), "PROT_NONE"},
		{PtraceRequestText(16), "PTRACE_ATTACH"},
		{PtraceRequestText(0x4206), "PTRACE_SEIZE"},
		{PtraceRequestText(99999), "99999"},
		{SocketFamilyText(17), "AF_PACKET"},
		{SignalText(9), "SIGKILL"},
		{FDText(-100), "AT_FDCWD"},
		{FDText(3), "3"},
		{MmapFlagsText(0x22), "MAP_PRIVATE|MAP_ANONYMOUS"},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("case %d: got %q, want %q", i, c.got, c.want)
		}
	}
}
