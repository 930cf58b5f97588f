package agent

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/capture"
	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/replay"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/ruleset"
	"github.com/truesightsec/truesight/internal/sensor"
	"github.com/truesightsec/truesight/internal/state"
	"github.com/truesightsec/truesight/internal/testenv"
)

// parityWorkload does, in one process tree, what state tracking must
// follow: relative opens after a chdir, dup/dup2/dup3, fcntl F_DUPFD and
// F_DUPFD_CLOEXEC, exec with and without close-on-exec fds, pipes, a
// socketpair, unix, IPv4 and IPv6 sockets (bind, listen, connect, accept,
// send, receive), a rename, an unlink, a chroot and a setuid.
const parityWorkload = `
import fcntl, os, socket, sys, tempfile
d = tempfile.mkdtemp(prefix="ts-parity-")
os.chdir(d)
fd = os.open("f", os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b"x")
a = os.dup(fd); os.dup2(fd, 20); os.dup3(fd, 21, os.O_CLOEXEC) if hasattr(os, "dup3") else None
b = fcntl.fcntl(fd, fcntl.F_DUPFD, 30)
c = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 40)
r, w = os.pipe()
s1, s2 = socket.socketpair()
u = socket.socket(socket.AF_UNIX); u.bind(os.path.join(d, "sock")); u.listen(1)
uc = socket.socket(socket.AF_UNIX); uc.connect(os.path.join(d, "sock")); ua, _ = u.accept()
for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    srv = socket.socket(fam); srv.bind((host, 0)); srv.listen(1)
    cl = socket.socket(fam); cl.connect(srv.getsockname()); acc, _ = srv.accept()
    cl.send(b"ping"); acc.recv(4); acc.send(b"pong"); cl.recv(4)
    cl.close(); acc.close(); srv.close()
os.rename("f", "g")
os.close(os.open("../" + os.path.basename(d) + "/g", os.O_RDONLY))
os.unlink("g")
os.set_inheritable(20, True)
pid = os.fork()
if pid == 0:
    os.execv("/bin/sh", ["sh", "-c", "cat /proc/self/fdinfo/20 >/dev/null; chroot / /bin/true; exec setpriv --reuid=65534 --regid=65534 --clear-groups /bin/true"])
os.waitpid(pid, 0)
os.rmdir(d) if not os.listdir(d) else [os.unlink(os.path.join(d, n)) for n in os.listdir(d)]
`

// parityFields is the output of the rule that matches every event of the
// workload: a broad set of process, fd, user and event fields.
const parityFields = "%evt.type %evt.res %evt.rawres %evt.args proc=%proc.name cmd=%proc.cmdline " +
	"pname=%proc.pname pcmd=%proc.pcmdline exepath=%proc.exepath cwd=%proc.cwd pid=%proc.pid ppid=%proc.ppid " +
	"vpid=%proc.vpid tty=%proc.tty exe_writable=%proc.is_exe_writable uid=%user.uid user=%user.name " +
	"loginuid=%user.loginuid gid=%group.gid fd=%fd.num fdname=%fd.name raw=%fd.nameraw type=%fd.type " +
	"char=%fd.typechar dir=%fd.directory file=%fd.filename cip=%fd.cip cport=%fd.cport sip=%fd.sip " +
	"sport=%fd.sport l4=%fd.l4proto changed=%fd.name_changed w=%evt.is_open_write r=%evt.is_open_read " +
	"container=%container.id"

// Live equals replay, field by field: a workload judged by the live agent
// and, from a capture the agent wrote of the same events, by replay, with
// upstream's stable rules, truesight's own and a rule that matches every
// event of the workload, raises the same alerts with the same text.
func TestLiveEqualsReplay(t *testing.T) {
	testenv.RequireRoot(t)
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("%s is needed (scripts/deps.sh installs it): %v", py, err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "workload.py")
	if err := os.WriteFile(script, []byte(parityWorkload), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "go")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// The workload waits for the agent: its pid names the rule's process
	// tree before a single event of it happens.
	cmd := exec.Command("/bin/sh", "-c", `read _ < "$1"; exec "$2" "$3"`, "sh", fifo, py, script)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	root := cmd.Process.Pid
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	catchAll := rules.Source{Name: "parity.yaml", Data: []byte(fmt.Sprintf(`
- rule: Every event of the workload
  desc: every event of the parity workload's process tree
  condition: (proc.pid=%d or proc.apid=%d) and not evt.type in (procexit)
  output: "%s"
  priority: DEBUG
  warn_evttypes: false
`, root, root, parityFields))}
	srcs := []rules.Source{stableRulesSource(t), {Name: "truesight_rules.yaml", Data: ruleset.Default}, catchAll}
	eng, _, diags := engine.Load(srcs, engine.Options{Matching: engine.MatchAll})
	if diags.HasErrors() {
		t.Fatalf("load rules: %v", diags.Errors())
	}
	plan := PlanFor(eng)
	s, err := sensor.Open(sensor.Options{Syscalls: plan.Syscalls})
	if err != nil {
		t.Fatalf("open sensor: %v", err)
	}
	defer s.Close()
	table := state.NewTable(0)
	tr := NewTranslator(table, state.NewUsers(), ownMntNS(t))
	tr.SelfPid = -1
	tasks, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	threads := tr.Seed(tasks)

	file := filepath.Join(dir, "live.scap")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	w, err := capture.NewWriter(f, capture.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMachine(capture.MachineInfo{NumCPUs: 2, Hostname: "test-host"}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteUsers(state.CaptureAccounts("")); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteThreads(threads); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var live []string
	var writeErr error
	loop := &Loop{Sensor: s, Translator: tr, Hostname: "test-host", Emit: func(al *output.Alert) {
		mu.Lock()
		live = append(live, alertLine(al))
		mu.Unlock()
	}, OnEvent: func(*event.Event, *state.Process) {
		if b := tr.Built(); b != nil && writeErr == nil {
			writeErr = w.WriteBuilt(b)
		}
	}}
	loop.Engine.Store(eng)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- loop.Run(ctx) }()

	if err := os.WriteFile(fifo, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("workload: %v", err)
	}
	// A pod sharing its pid namespace: one container writes the other's
	// preload file through /proc/<pid>/root.
	sidecar, attacker, _ := podAttack(t, "ts-parity")
	ids := [2]string{sidecar, attacker}
	time.Sleep(time.Second) // the pod's processes are in the table
	table.Each(func(p *state.Process) {
		// A process of the pod lives in its pid namespace: a virtual pid of
		// 0 is one made up from a clone's result, which is a virtual pid.
		if (strings.HasPrefix(p.ContainerID, sidecar[:12]) || strings.HasPrefix(p.ContainerID, attacker[:12])) && p.VPid == 0 {
			t.Errorf("pod process pid=%d comm=%s has no pid in the pod's namespace", p.Pid, p.Comm)
		}
	})
	time.Sleep(time.Second) // let the ring buffer drain
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st, _ := s.Stats(); st.Drops > 0 {
		t.Fatalf("%d kernel drops: the capture misses events, the comparison would be void", st.Drops)
	}
	if writeErr != nil {
		t.Fatal(writeErr)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	var replayed []string
	if _, err := replay.File(file, eng, replay.Options{Hostname: "test-host"}, func(al *output.Alert) {
		replayed = append(replayed, alertLine(al))
	}); err != nil {
		t.Fatal(err)
	}
	mine := func(lines []string) []string {
		var out []string
		for _, l := range lines {
			if strings.HasPrefix(l, "Every event") || strings.Contains(l, "container_id="+ids[0][:12]) || strings.Contains(l, "container_id="+ids[1][:12]) {
				out = append(out, l)
			}
		}
		return out
	}
	lv, rp := mine(live), mine(replayed)
	if len(lv) < 100 {
		t.Fatalf("only %d live alerts for the workload: %q", len(lv), lv)
	}
	cross := 0
	for _, l := range rp {
		if strings.HasPrefix(l, "Modify ld.so.preload of another container") {
			cross++
		}
	}
	if cross != 1 {
		t.Errorf("replay raised %d cross-container preload alerts, want 1", cross)
	}
	diffs := 0
	for i := 0; i < max(len(lv), len(rp)); i++ {
		var l, r string
		if i < len(lv) {
			l = lv[i]
		}
		if i < len(rp) {
			r = rp[i]
		}
		if l != r {
			diffs++
			if diffs <= 10 {
				t.Errorf("alert %d differs:\n live:   %s\n replay: %s\n fields: %s", i, l, r, tokenDiff(l, r))
			}
		}
	}
	t.Logf("%d live alerts, %d replayed, %d differ", len(lv), len(rp), diffs)
}

// alertLine is an alert's rule and text, without the time.
func alertLine(al *output.Alert) string {
	text := al.Text(output.TextOptions{})
	if i := strings.Index(text, ": "); i > 0 {
		text = text[i+2:]
	}
	return al.Rule + ": " + text
}

// tokenDiff names the space-separated tokens two lines disagree on.
func tokenDiff(a, b string) string {
	at, bt := strings.Fields(a), strings.Fields(b)
	var out []string
	for i := 0; i < max(len(at), len(bt)); i++ {
		var x, y string
		if i < len(at) {
			x = at[i]
		}
		if i < len(bt) {
			y = bt[i]
		}
		if x != y {
			out = append(out, x+" | "+y)
		}
	}
	return strings.Join(out, "; ")
}

// podAttack runs the scenario's step 3 in a podman pod with a shared pid
// namespace: the attacker container appends to the sidecar's preload file
// through /proc/<pid>/root. It returns both containers' ids and the path
// the attacker wrote.
func podAttack(t *testing.T, prefix string) (sidecar, attacker, target string) {
	t.Helper()
	testenv.RequirePodman(t)
	suffix := strconv.Itoa(os.Getpid())
	pod := prefix + "-pod-" + suffix
	_ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run()
	testenv.Podman(t, "pod", "create", "--name", pod, "--share", "pid")
	t.Cleanup(func() { _ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run() })
	sidecar = testenv.StartContainer(t, prefix+"-sidecar-"+suffix, []string{"--pod", pod}, "sh", "-c", "while true; do sleep 1; done")
	hostPid := testenv.Podman(t, "inspect", "-f", "{{.State.Pid}}", sidecar)
	status, err := os.ReadFile("/proc/" + hostPid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var podPid string
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "NSpid:" {
			podPid = f[len(f)-1]
		}
	}
	if podPid == "" {
		t.Fatalf("no NSpid for the sidecar's shell in %s", status)
	}
	target = "/proc/" + podPid + "/root/etc/ld.so.preload"
	attacker = testenv.StartContainer(t, prefix+"-attacker-"+suffix, []string{"--pod", pod}, "sh", "-c", "echo /lib/x.so >> "+target)
	if code := testenv.Podman(t, "wait", attacker); code != "0" {
		t.Fatalf("the attack exited %s: %s", code, testenv.Podman(t, "logs", attacker))
	}
	return sidecar, attacker, target
}
