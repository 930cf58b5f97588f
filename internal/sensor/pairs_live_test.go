package sensor

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// pairScript makes a pipe, a pipe2, a socketpair and capsets, and prints
// what the kernel gave it: the fds, the pipes' inodes and the capability
// sets after each capset, as the kernel reports them in /proc.
const pairScript = `
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
fds = (ctypes.c_int * 2)()
assert libc.syscall(22, fds) == 0                  # pipe
print("pipe", fds[0], fds[1], os.fstat(fds[0]).st_ino)
assert libc.syscall(293, fds, os.O_CLOEXEC) == 0   # pipe2
print("pipe2", fds[0], fds[1], os.fstat(fds[0]).st_ino)
a, b = socket.socketpair()
print("socketpair", a.fileno(), b.fileno())

def caps():
    got = {}
    for line in open("/proc/self/status"):
        k, _, v = line.partition(":")
        if k in ("CapEff", "CapPrm", "CapInh"):
            got[k] = int(v, 16)
    return got["CapEff"], got["CapPrm"], got["CapInh"]

class Hdr(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]
def capset(eff, prm, inh, version=0x20080522):
    d = (Data * 2)()
    for i in range(2):
        d[i].effective, d[i].permitted, d[i].inheritable = (eff >> 32*i) & 0xffffffff, (prm >> 32*i) & 0xffffffff, (inh >> 32*i) & 0xffffffff
    return libc.syscall(126, ctypes.byref(Hdr(version, 0)), d)

eff, prm, inh = caps()
# Drop CAP_SYS_BOOT (22) from the effective set, make CAP_NET_RAW (13)
# inheritable: both allowed to root.
assert capset(eff & ~(1 << 22), prm, 1 << 13) == 0
print("capset", *caps())
# A bad version fails with EINVAL and changes nothing.
assert capset(0, 0, 0, version=1) == -1
print("capset-failed", *caps())
`

func TestPipeSocketpairAndCapsetCarryWhatTheKernelWrote(t *testing.T) {
	py := python(t)
	r := openSensor(t, Options{Syscalls: []string{"pipe", "pipe2", "socketpair", "capset"}})
	cmd := exec.Command(py, "-c", pairScript)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	}
	pid := cmd.Process.Pid
	printed := map[string][]uint64{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, s := range f[1:] {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("script output %q: %v", out, err)
			}
			printed[f[0]] = append(printed[f[0]], n)
		}
	}
	t.Logf("script printed %v", printed)
	if len(printed["capset"]) != 3 || len(printed["capset-failed"]) != 3 {
		t.Fatalf("script output %q", out)
	}

	for _, tc := range []struct {
		name, syscall string
		ret           int64
		fds           []uint64 // fd, fd[, ino]
	}{
		{name: "pipe", syscall: "pipe", fds: printed["pipe"]},
		{name: "pipe2", syscall: "pipe2", fds: printed["pipe2"]},
		{name: "socketpair", syscall: "socketpair", fds: printed["socketpair"]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.fds) < 2 {
				t.Fatalf("script printed %v", tc.fds)
			}
			s := r.wait(t, tc.name, syscallOf(pid, tc.syscall, func(s *SyscallRecord) bool { return s.Ret == 0 })).Syscall
			want := [2]int64{int64(tc.fds[0]), int64(tc.fds[1])}
			if !s.HasFDs || s.FDs != want {
				t.Errorf("HasFDs %v FDs %v, want %v", s.HasFDs, s.FDs, want)
			}
			if len(tc.fds) == 3 && s.PipeIno != tc.fds[2] {
				t.Errorf("PipeIno %d, want the pipe's inode %d", s.PipeIno, tc.fds[2])
			}
			if s.HasCaps {
				t.Errorf("%s carries caps", tc.syscall)
			}
		})
	}
	t.Run("capset", func(t *testing.T) {
		c := printed["capset"]
		s := r.wait(t, "capset", syscallOf(pid, "capset", func(s *SyscallRecord) bool { return s.Ret == 0 })).Syscall
		want := Caps{Effective: c[0], Permitted: c[1], Inheritable: c[2]}
		if !s.HasCaps || s.Caps != want || s.HasFDs {
			t.Errorf("HasCaps %v Caps %+v HasFDs %v, want %+v", s.HasCaps, s.Caps, s.HasFDs, want)
		}
		if want.Effective&(1<<22) != 0 || want.Inheritable != 1<<13 {
			t.Errorf("the script's capset did not take: %+v", want)
		}
	})
	t.Run("failed capset carries the unchanged sets", func(t *testing.T) {
		c := printed["capset-failed"]
		s := r.wait(t, "failed capset", syscallOf(pid, "capset", func(s *SyscallRecord) bool { return s.Ret < 0 })).Syscall
		want := Caps{Effective: c[0], Permitted: c[1], Inheritable: c[2]}
		if s.Ret != -int64(unix.EINVAL) || !s.HasCaps || s.Caps != want {
			t.Errorf("ret %d HasCaps %v Caps %+v, want EINVAL and %+v", s.Ret, s.HasCaps, s.Caps, want)
		}
	})
	t.Run("a failed pipe carries no fds", func(t *testing.T) {
		// pipe2 with a bad flag: EINVAL, nothing written.
		cmd := exec.Command(py, "-c", "import ctypes; l = ctypes.CDLL(None); f = (ctypes.c_int * 2)(-7, -7); l.syscall(293, f, 0x1)")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("script: %v\n%s", err, out)
		}
		s := r.wait(t, "failed pipe2", syscallOf(cmd.Process.Pid, "pipe2", nil)).Syscall
		if s.Ret != -int64(unix.EINVAL) || s.HasFDs {
			t.Errorf("ret %d HasFDs %v FDs %v, want EINVAL and no fds", s.Ret, s.HasFDs, s.FDs)
		}
	})
}
