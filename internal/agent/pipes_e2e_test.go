package agent

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/testenv"
)

// pipesWorkload makes a pipe (the old syscall), a pipe2, a socketpair and
// a capset that drops CAP_SYS_BOOT from the effective set, then reads each
// pipe; it prints the fds and inodes it got and its sets after capset.
const pipesWorkload = `
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
fds = (ctypes.c_int * 2)()
assert libc.syscall(22, fds) == 0
p1 = (fds[0], fds[1])
r2, w2 = os.pipe()                       # pipe2(O_CLOEXEC)
a, b = socket.socketpair()
print("pipe", *p1, os.fstat(p1[0]).st_ino)
print("pipe2", r2, w2, os.fstat(r2).st_ino)
print("socketpair", a.fileno(), b.fileno())

class Hdr(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]
d = (Data * 2)()
assert libc.syscall(125, ctypes.byref(Hdr(0x20080522, 0)), d) == 0   # capget
d[0].effective &= ~(1 << 22)                                          # CAP_SYS_BOOT
assert libc.syscall(126, ctypes.byref(Hdr(0x20080522, 0)), d) == 0   # capset
eff = [int(l.split()[1], 16) for l in open("/proc/self/status") if l.startswith("CapEff:")][0]
print("capset", eff)
sys.stdout.flush()
os.write(p1[1], b"x"); os.read(p1[0], 1)
os.write(w2, b"y"); os.read(r2, 1)
`

// The fd table knows the fds pipe, pipe2 and socketpair return, live: the
// events carry them (and a pipe's inode), a later read on a pipe fd sees an
// fd of type pipe, and capset's new sets are the thread's.
func TestPipeFDsAndCapsetReachTheState(t *testing.T) {
	testenv.RequireRoot(t)
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("%s is needed (scripts/deps.sh installs it): %v", py, err)
	}
	marker := "ts-pipes-" + strconv.Itoa(os.Getpid())
	own := rules.Source{Name: "pipes.yaml", Data: []byte(fmt.Sprintf(`
- rule: Pipe made
  desc: the fds of a pipe, pipe2, socketpair and the sets of a capset
  condition: evt.type in (pipe, pipe2, socketpair, capset) and proc.cmdline contains %[1]s
  output: "made type=%%evt.type fd=%%fd.num fd1=%%evt.arg.fd1 fd2=%%evt.arg.fd2 ino=%%evt.arg.ino eff=%%evt.arg.cap_effective"
  priority: NOTICE
- rule: Pipe read
  desc: a read on a pipe fd
  condition: evt.type = read and fd.type = pipe and proc.cmdline contains %[1]s
  output: "read fd=%%fd.num type=%%fd.type ino=%%fd.ino caps=%%thread.cap_effective"
  priority: NOTICE
`, marker))}
	a := startAgent(t, []rules.Source{own}, engine.Options{})
	out, err := exec.Command(py, "-c", pipesWorkload, marker).CombinedOutput()
	if err != nil {
		t.Fatalf("workload: %v\n%s", err, out)
	}
	printed := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		printed[f[0]] = f[1:]
	}
	if len(printed["pipe"]) != 3 || len(printed["pipe2"]) != 3 || len(printed["socketpair"]) != 2 || len(printed["capset"]) != 1 {
		t.Fatalf("workload printed %q", out)
	}
	text := func(al *output.Alert, k string) string { return fmt.Sprint(field(al, k)) }
	ofType := func(typ string) func(*output.Alert) bool {
		return func(al *output.Alert) bool { return text(al, "evt.type") == typ }
	}

	for _, tc := range []struct {
		typ  string
		want map[string]string
	}{
		{"pipe", map[string]string{"evt.arg.fd1": printed["pipe"][0], "evt.arg.fd2": printed["pipe"][1],
			"evt.arg.ino": printed["pipe"][2], "fd.num": printed["pipe"][1]}},
		{"pipe2", map[string]string{"evt.arg.fd1": printed["pipe2"][0], "evt.arg.fd2": printed["pipe2"][1],
			"evt.arg.ino": printed["pipe2"][2], "fd.num": printed["pipe2"][1]}},
		{"socketpair", map[string]string{"evt.arg.fd1": printed["socketpair"][0], "evt.arg.fd2": printed["socketpair"][1]}},
		{"capset", map[string]string{"evt.arg.cap_effective": printed["capset"][0]}},
	} {
		got := a.waitFor(t, "Pipe made", ofType(tc.typ))
		if len(got) != 1 {
			t.Errorf("%s: %d alerts, want 1", tc.typ, len(got))
		}
		al := got[0]
		t.Logf("alert: %s", al.Text(output.TextOptions{}))
		for k, v := range tc.want {
			if text(al, k) != v {
				t.Errorf("%s: %s = %q, want %q", tc.typ, k, text(al, k), v)
			}
		}
	}

	reads := a.waitFor(t, "Pipe read", nil)
	byFD := map[string]*output.Alert{}
	for _, al := range reads {
		t.Logf("alert: %s", al.Text(output.TextOptions{}))
		byFD[text(al, "fd.num")] = al
	}
	if len(reads) != 2 {
		t.Errorf("%d pipe reads, want 2", len(reads))
	}
	for _, p := range []string{"pipe", "pipe2"} {
		al := byFD[printed[p][0]]
		if al == nil {
			t.Errorf("no read on the %s's fd %s", p, printed[p][0])
			continue
		}
		if text(al, "fd.type") != "pipe" || text(al, "fd.ino") != printed[p][2] {
			t.Errorf("read on the %s: fd.type %q fd.ino %q, want pipe %s", p, text(al, "fd.type"), text(al, "fd.ino"), printed[p][2])
		}
		// After the capset the thread has the sets it set.
		if c := text(al, "thread.cap_effective"); strings.Contains(c, "CAP_SYS_BOOT") || !strings.Contains(c, "CAP_SYS_ADMIN") {
			t.Errorf("thread.cap_effective = %s, want CAP_SYS_ADMIN without CAP_SYS_BOOT", c)
		}
	}
}
