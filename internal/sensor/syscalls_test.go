package sensor

import (
	"slices"
	"testing"

	"github.com/truesightsec/truesight/internal/event"
)

func TestSyscallNames(t *testing.T) {
	tests := []struct {
		name string
		nr   int
	}{
		{"read", 0}, {"open", 2}, {"close", 3}, {"mmap", 9}, {"mprotect", 10}, {"connect", 42},
		{"clone", 56}, {"fork", 57}, {"vfork", 58}, {"execve", 59}, {"kill", 62}, {"ptrace", 101},
		{"openat", 257}, {"execveat", 322}, {"memfd_create", 319}, {"clone3", 435}, {"openat2", 437},
		{"fchmodat2", 452}, {"mseal", 462},
	}
	for _, tt := range tests {
		if got := SyscallName(tt.nr); got != tt.name {
			t.Errorf("SyscallName(%d) = %q, want %q", tt.nr, got, tt.name)
		}
		if got, ok := SyscallNumber(tt.name); !ok || got != tt.nr {
			t.Errorf("SyscallNumber(%q) = %d, %v, want %d", tt.name, got, ok, tt.nr)
		}
	}
	if SyscallName(-1) != "" || SyscallName(100000) != "" {
		t.Error("out-of-range numbers must have no name")
	}
	if _, ok := SyscallNumber("no_such_call"); ok {
		t.Error("unknown name resolved")
	}
}

func TestIA32Remap(t *testing.T) {
	tests := []struct {
		ia32   int
		name32 string
		x64    int // -1: not reported
	}{
		{5, "open", 2},
		{6, "close", 3},
		{11, "execve", 59},
		{2, "fork", 57},
		{120, "clone", 56},
		{190, "vfork", 58},
		{295, "openat", 257},
		{358, "execveat", 322},
		{192, "mmap2", 9},
		{125, "mprotect", 10},
		{213, "setuid32", 105},
		{23, "setuid", 105},
		{208, "setresuid32", 117},
		{193, "truncate64", 76},
		{194, "ftruncate64", 77},
		{359, "socket", 41},
		{362, "connect", 42},
		{364, "accept4", 288},
		{370, "sendmsg", 46},
		{37, "kill", 62},
		{38, "rename", 82},
		{353, "renameat2", 316},
		{26, "ptrace", 101},
		{356, "memfd_create", 319},
		{403, "clock_gettime64", 228},
		{435, "clone3", 435},
		{437, "openat2", 437},
		{102, "socketcall", -1},
		{90, "mmap", -1}, // old_mmap takes an argument block
		{117, "ipc", -1},
	}
	for _, tt := range tests {
		if got := IA32SyscallName(tt.ia32); got != tt.name32 {
			t.Errorf("IA32SyscallName(%d) = %q, want %q", tt.ia32, got, tt.name32)
		}
		got, ok := IA32ToX86_64(tt.ia32)
		if tt.x64 < 0 {
			if ok {
				t.Errorf("IA32ToX86_64(%d %s) = %d, want unmapped", tt.ia32, tt.name32, got)
			}
			continue
		}
		if !ok || got != tt.x64 {
			t.Errorf("IA32ToX86_64(%d %s) = %d, %v, want %d (%s)", tt.ia32, tt.name32, got, ok, tt.x64, SyscallName(tt.x64))
		}
	}
}

// TestDefaultSyscallsAreKnown keeps the default set and the plans in step
// with the syscall table.
func TestDefaultSyscallsAreKnown(t *testing.T) {
	nrs, err := resolveSyscalls(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(nrs) != len(DefaultSyscalls) {
		t.Fatalf("%d numbers for %d names", len(nrs), len(DefaultSyscalls))
	}
	for name := range plans {
		if _, ok := SyscallNumber(name); !ok {
			t.Errorf("plan for unknown syscall %q", name)
		}
	}
	for _, nr := range nrs {
		if nr >= maxSyscalls {
			t.Errorf("syscall %d beyond the kernel table", nr)
		}
	}
	if got, _ := resolveSyscalls([]string{"openat", " 2 ", "close"}); !slices.Equal(got, []int{257, 2, 3}) {
		t.Errorf("resolveSyscalls = %v", got)
	}
}

func TestSpecFollowsPlan(t *testing.T) {
	tests := []struct {
		name string
		want sensorBPFScSpec
	}{
		{"openat", sensorBPFScSpec{Flags: scEnabled | scRetFD, Path: [2]uint8{2}, Dirfd: [2]uint8{1}}},
		{"renameat2", sensorBPFScSpec{Flags: scEnabled, Path: [2]uint8{2, 4}, Dirfd: [2]uint8{1, 3}}},
		{"mmap", sensorBPFScSpec{Flags: scEnabled | scProtExec | scVMARet}},
		{"connect", sensorBPFScSpec{Flags: scEnabled, FdArg: 1, AddrArg: 2, AddrlenArg: 3}},
		{"execve", sensorBPFScSpec{Flags: scEnabled | scExec, Path: [2]uint8{1}, ArgvArg: 2}},
		{"setuid", sensorBPFScSpec{Flags: scEnabled}},
	}
	for _, tt := range tests {
		nr, _ := SyscallNumber(tt.name)
		if got := spec(nr, false); got != tt.want {
			t.Errorf("spec(%s) = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestCgroupHierarchyDetection(t *testing.T) {
	tests := []struct {
		name, procCgroup string
		want             uint32
	}{
		{"hybrid with v1 pids", "9:name=systemd:/\n8:pids:/x\n0::/\n", 1},
		{"pids co-mounted", "3:cpu,pids:/x\n", 1},
		{"pure v2", "0::/user.slice\n", 0},
		{"v1 without pids", "4:memory:/x\n0::/\n", 0},
	}
	for _, tt := range tests {
		if got := hierarchyFromProcCgroup(tt.procCgroup); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestKernelVersion(t *testing.T) {
	tests := []struct {
		release      string
		major, minor int
		backing      uint32
	}{
		{"6.18.44-fc-v669", 6, 18, 1 << 24},
		{"6.8.0-31-generic", 6, 8, 1 << 25},
		{"5.15.0", 5, 15, 0},
	}
	for _, tt := range tests {
		major, minor := kernelVersion(tt.release)
		if major != tt.major || minor != tt.minor {
			t.Errorf("kernelVersion(%q) = %d.%d", tt.release, major, minor)
		}
		if got := fmodeBackingFor(major, minor); got != tt.backing {
			t.Errorf("FMODE_BACKING for %q = %#x, want %#x", tt.release, got, tt.backing)
		}
	}
}

// Every syscall the sensor can report has an event type of its name, so a
// rule can name any of them.
func TestEverySyscallIsAnEventType(t *testing.T) {
	for nr := range len(x86_64Names) {
		name := SyscallName(nr)
		if name == "" {
			continue
		}
		if _, ok := event.TypeByName(name); !ok {
			t.Errorf("syscall %d %s has no event type (add it to internal/event/types.go)", nr, name)
		}
	}
}
