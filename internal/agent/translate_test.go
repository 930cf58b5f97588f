package agent

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/sensor"
	"github.com/truesightsec/truesight/internal/state"
)

const (
	hostNS = 4026531841
	nsA    = 4026532301
	nsB    = 4026532302
	idA    = "aaaaaaaaaaaa0000000000000000000000000000000000000000000000000001"
	idB    = "bbbbbbbbbbbb0000000000000000000000000000000000000000000000000002"
)

func execRec(tgid, ppid uint32, ns uint32, cgroup string, argv ...string) *sensor.Record {
	r := &sensor.Record{Kind: sensor.KindExec, Tid: tgid, Tgid: tgid, Time: 1000}
	r.Process.Tid, r.Process.Tgid, r.Process.PPid = tgid, tgid, ppid
	r.Process.Comm = argv[0]
	r.Process.Args = argv
	r.Process.NS.Mnt = ns
	r.Process.Cgroup = cgroup
	r.Process.LoginUID = 0xffffffff
	r.Process.Exe = sensor.File{Valid: true, Path: "/bin/" + argv[0]}
	r.Process.Cwd = sensor.File{Valid: true, Path: "/root"}
	return r
}

func openRec(tgid uint32, raw, resolved string, fileNS uint32, ret int64) *sensor.Record {
	r := &sensor.Record{Kind: sensor.KindSyscall, Tid: tgid, Tgid: tgid, Time: 2000}
	nr, _ := sensor.SyscallNumber("openat")
	r.Syscall.Nr = nr
	r.Syscall.Ret = ret
	r.Syscall.Args = [6]uint64{uint64(0xffffffffffffff9c), 0, 0o2101, 0o644}
	r.Syscall.Path[0] = raw
	r.Syscall.Dir[0] = sensor.File{Valid: true, Path: "/root"}
	if ret >= 0 {
		r.Syscall.File = sensor.File{Valid: true, Path: resolved, MntNS: fileNS, Mode: 0o100644, Dev: 0x800001, Ino: 42}
	}
	return r
}

func newTestTranslator() *Translator {
	return NewTranslator(state.NewTable(0), nil, hostNS)
}

func TestOpenThroughProcRootIsAttributedToTheTargetContainer(t *testing.T) {
	tr := newTestTranslator()
	tr.Apply(execRec(100, 1, nsB, "/libpod_parent/libpod-"+idB, "sh", "-c", "while true; do sleep 1; done"))
	tr.Apply(execRec(200, 1, nsA, "/libpod_parent/libpod-"+idA, "sh", "-c", "echo x >> /proc/6/root/etc/ld.so.preload"))
	e, p := tr.Apply(openRec(200, "/proc/6/root/etc/ld.so.preload", "/etc/ld.so.preload", nsB, 3))
	if e == nil || p == nil {
		t.Fatal("no event")
	}
	if e.Type != event.MustType("openat") || e.FD == nil {
		t.Fatalf("got %v", e)
	}
	// fd.name is the path as given, as in Falco; the kernel's resolution
	// names the container whose root holds the file and the path in it.
	got := []string{e.FD.Name, e.FD.NameRaw, e.FD.TargetPath, e.FD.TargetContainer, p.ContainerID}
	want := []string{"/proc/6/root/etc/ld.so.preload", "/proc/6/root/etc/ld.so.preload", "/etc/ld.so.preload", idB, idA}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("field %d: got %q, want %q", i, got[i], want[i])
		}
	}
	if f, _ := e.Param("flags"); f.Text != "O_APPEND|O_CREAT|O_WRONLY" || !f.Sym {
		t.Errorf("flags param %+v", f)
	}
	if p.FDs[3] == nil || p.FDs[3].TargetPath != "/etc/ld.so.preload" {
		t.Errorf("fd 3 not in the table: %v", p.FDs)
	}
}

func TestFailedOpenNamesTheFdAfterTheAbsolutePath(t *testing.T) {
	tr := newTestTranslator()
	tr.Apply(execRec(100, 1, hostNS, "/", "cat", "missing"))
	e, _ := tr.Apply(openRec(100, "missing", "", 0, -2))
	if e.FD.Num != -1 || e.FD.Name != "/root/missing" || e.FD.NameRaw != "missing" {
		t.Errorf("got fd %+v", e.FD)
	}
	if e.Res != -2 {
		t.Errorf("res %d", e.Res)
	}
}

func TestRuncInitInHostNamespaceDoesNotClaimTheHostForAContainer(t *testing.T) {
	tr := newTestTranslator()
	// runc init execs in the container's cgroup while still in the host's
	// mount namespace.
	tr.Apply(execRec(100, 1, hostNS, "/libpod_parent/libpod-"+idA, "runc:[2:INIT]", "init"))
	tr.Apply(execRec(101, 1, hostNS, "/", "vi", "/etc/hosts"))
	e, _ := tr.Apply(openRec(101, "/etc/hosts", "/etc/hosts", hostNS, 4))
	if e.FD.TargetContainer != container.HostID {
		t.Errorf("target container %q, want host", e.FD.TargetContainer)
	}
}

func TestForkInheritsAndExecReplacesTheCommandLine(t *testing.T) {
	tr := newTestTranslator()
	tr.Apply(execRec(100, 1, hostNS, "/", "bash"))
	fork := &sensor.Record{Kind: sensor.KindFork, Tid: 101, Tgid: 101, Time: 1500}
	fork.Process.Tid, fork.Process.Tgid, fork.Process.PPid = 101, 101, 100
	fork.Process.CallerTid, fork.Process.CallerTgid = 100, 100
	tr.Apply(fork)
	child := tr.Table.Get(101)
	if child == nil || child.Comm != "bash" || child.Parent == nil || child.Parent.Pid != 100 {
		t.Fatalf("child after fork: %+v", child)
	}
	tr.Apply(execRec(101, 100, hostNS, "/", "cat", "/etc/shadow"))
	if child.Cmdline != "cat /etc/shadow" || child.Parent.Comm != "bash" {
		t.Errorf("after exec: cmdline %q parent %q", child.Cmdline, child.Parent.Comm)
	}
	exit := &sensor.Record{Kind: sensor.KindExit, Tid: 101, Tgid: 101, Time: 3000}
	exit.Process.Tid, exit.Process.Tgid, exit.Process.GroupDead = 101, 101, true
	e, p := tr.Apply(exit)
	if e == nil || e.Type != event.MustType("procexit") || p.Pid != 101 {
		t.Errorf("exit event %v %v", e, p)
	}
	tr.Done() // the rules have seen the exit
	if tr.Table.Get(101) != nil {
		t.Error("process still in the table after its exit")
	}
}

func TestTableStaysBoundedUnderAForkStorm(t *testing.T) {
	tbl := state.NewTable(1000)
	tr := NewTranslator(tbl, nil, hostNS)
	tr.Apply(execRec(1, 0, hostNS, "/", "init"))
	for pid := uint32(2); pid < 5000; pid++ {
		fork := &sensor.Record{Kind: sensor.KindFork, Tid: pid, Tgid: pid}
		fork.Process.Tid, fork.Process.Tgid, fork.Process.PPid, fork.Process.CallerTgid = pid, pid, 1, 1
		tr.Apply(fork)
	}
	if tbl.Len() != 1000 || tbl.Dropped != 3999 {
		t.Errorf("table has %d processes, dropped %d; want 1000 and 3999", tbl.Len(), tbl.Dropped)
	}
}

// A fork whose parent the table never saw (dropped or started before the
// snapshot) must give a usable process: its first open once crashed the
// agent on a nil fd table.
func TestOpenByAChildOfAnUnknownParent(t *testing.T) {
	tr := newTestTranslator()
	fork := &sensor.Record{Kind: sensor.KindFork, Tid: 300, Tgid: 300}
	fork.Process.Tid, fork.Process.Tgid, fork.Process.PPid, fork.Process.CallerTgid = 300, 300, 299, 299
	tr.Apply(fork)
	e, p := tr.Apply(openRec(300, "/tmp/x", "/tmp/x", hostNS, 5))
	if e == nil || p.FDs[5] == nil || p.FDs[5].Name != "/tmp/x" {
		t.Fatalf("open by the orphan child: event %v, fds %v", e, p.FDs)
	}
}

func TestChildrenOfTheAgentAreMarkedOwn(t *testing.T) {
	tr := newTestTranslator()
	tr.SelfPid = 500
	tr.Apply(execRec(500, 1, hostNS, "/", "truesight", "run"))
	fork := &sensor.Record{Kind: sensor.KindFork, Tid: 501, Tgid: 501}
	fork.Process.Tid, fork.Process.Tgid, fork.Process.PPid, fork.Process.CallerTgid = 501, 501, 500, 500
	tr.Apply(fork)
	tr.Apply(execRec(501, 500, hostNS, "/", "ps", "-A"))
	grandchild := &sensor.Record{Kind: sensor.KindFork, Tid: 502, Tgid: 502}
	grandchild.Process.Tid, grandchild.Process.Tgid, grandchild.Process.PPid, grandchild.Process.CallerTgid = 502, 502, 501, 501
	tr.Apply(grandchild)
	// The kernel does not report the agent's own forks: a child may first
	// appear at its exec.
	tr.Apply(execRec(510, 500, hostNS, "/", "ls", "-1a", "/proc"))
	if !tr.Table.Get(510).Own {
		t.Error("a child first seen at exec is not marked own")
	}
	other := &sensor.Record{Kind: sensor.KindFork, Tid: 601, Tgid: 601}
	other.Process.Tid, other.Process.Tgid, other.Process.PPid, other.Process.CallerTgid = 601, 601, 1, 1
	tr.Apply(other)
	if !tr.Table.Get(501).Own || !tr.Table.Get(502).Own || tr.Table.Get(601).Own {
		t.Errorf("own: child %v grandchild %v other %v", tr.Table.Get(501).Own, tr.Table.Get(502).Own, tr.Table.Get(601).Own)
	}
}

// The sensor captures a generic syscall (one with no scap event of its own)
// for a rule that names it, not for a rule that constrains no event type.
func TestPlanCapturesGenericSyscallsOnlyWhenNamed(t *testing.T) {
	load := func(cond string) Plan {
		src := rules.Source{Name: "r.yaml", Data: []byte("- rule: r\n  desc: d\n  condition: " + cond + "\n  output: o\n  priority: NOTICE\n  warn_evttypes: false\n")}
		eng, _, diags := engine.Load([]rules.Source{src}, engine.Options{})
		if diags.HasErrors() {
			t.Fatalf("%s: %v", cond, diags)
		}
		return PlanFor(eng)
	}
	if p := load("proc.name = x"); slices.Contains(p.Syscalls, "clock_gettime") || !slices.Contains(p.Syscalls, "read") {
		t.Errorf("a rule on every type: captures %d syscalls, clock_gettime %v, read %v",
			len(p.Syscalls), slices.Contains(p.Syscalls, "clock_gettime"), slices.Contains(p.Syscalls, "read"))
	}
	if p := load("evt.type = clock_gettime"); !slices.Contains(p.Syscalls, "clock_gettime") {
		t.Errorf("a rule naming clock_gettime does not capture it: %v", p.Syscalls)
	}
}

// A socket has no role, so no ends, until a connect or a bind gives it
// one, as libsinsp's sockets.
func TestSocketRoleFollowsTheSyscalls(t *testing.T) {
	tr := newTestTranslator()
	tr.Apply(execRec(100, 1, hostNS, "/", "curl", "http://10.0.0.2/"))
	rec := func(name string, ret int64, local, remote string) *sensor.Record {
		r := &sensor.Record{Kind: sensor.KindSyscall, Tid: 100, Tgid: 100, Time: 3000}
		r.Syscall.Nr, _ = sensor.SyscallNumber(name)
		r.Syscall.Ret = ret
		r.Syscall.Args = [6]uint64{3, 1, 0}
		if name == "socket" {
			r.Syscall.Args = [6]uint64{2, 1, 0}
		}
		r.Syscall.Sock = sensor.Socket{Valid: true, Family: 2, Type: 1}
		if local != "" {
			r.Syscall.Sock.Local = netip.MustParseAddrPort(local)
		}
		if remote != "" {
			r.Syscall.Sock.Remote = netip.MustParseAddrPort(remote)
		}
		if name == "bind" || name == "connect" {
			// The address the process passed, which the sensor copies.
			a := remote
			if name == "bind" {
				a = local
			}
			r.Syscall.Addr = sensor.SockAddr{Valid: true, Family: 2, AddrPort: netip.MustParseAddrPort(a)}
		}
		return r
	}
	if e, _ := tr.Apply(rec("socket", 3, "", "")); e == nil || e.FD == nil || e.FD.Role != event.RoleNone || e.FD.Name != "" {
		t.Fatalf("socket: %+v", e)
	}
	if e, _ := tr.Apply(rec("connect", 0, "10.0.0.9:40000", "10.0.0.2:80")); e.FD == nil || e.FD.Role != event.RoleClient || e.FD.ServerPort != 80 ||
		e.FD.Name != "10.0.0.9:40000->10.0.0.2:80" {
		t.Errorf("connect: fd %+v", e.FD)
	}
	if e, _ := tr.Apply(rec("bind", 0, "10.0.0.9:8080", "")); e.FD == nil || e.FD.Role != event.RoleServer || e.FD.ServerPort != 8080 || e.FD.Name != "10.0.0.9:8080" {
		t.Errorf("bind: fd %+v", e.FD)
	}
	// An accepted connection stays the server side when it sends.
	acc := rec("accept4", 3, "10.0.0.9:8080", "10.0.0.5:51000")
	if e, _ := tr.Apply(acc); e.FD == nil || e.FD.Role != event.RoleServer {
		t.Fatalf("accept: %+v", e.FD)
	}
	if e, _ := tr.Apply(rec("sendto", 10, "10.0.0.9:8080", "10.0.0.5:51000")); e.FD == nil || e.FD.Role != event.RoleServer ||
		e.FD.ServerPort != 8080 || e.FD.ClientPort != 51000 {
		t.Errorf("sendto on the accepted socket: %+v", e.FD)
	}
	// A datagram socket whose first transfer is a receive is a server.
	tr.Apply(rec("socket", 3, "", ""))
	if e, _ := tr.Apply(rec("recvfrom", 10, "10.0.0.9:53", "")); e.FD == nil || e.FD.Role != event.RoleServer || e.FD.ServerPort != 53 {
		t.Errorf("recvfrom first: %+v", e.FD)
	}
}

// A thread of a process that ran before the agent started is seeded as a
// thread of that process: its events carry the process's pid and command
// line, not the thread's id and <NA>.
func TestSeededThreadsBelongToTheirProcess(t *testing.T) {
	tr := newTestTranslator()
	leader := sensor.ProcessInfo{Tid: 300, Tgid: 300, PPid: 1, Comm: "python3", Args: []string{"python3", "/srv/worker.py"},
		Exe: sensor.File{Valid: true, Path: "/usr/bin/python3"}, LoginUID: 0xffffffff}
	leader.NS.Mnt = hostNS
	thread := leader
	thread.Tid = 301
	tr.Seed([]sensor.ProcessInfo{thread, leader})
	rec := openRec(300, "/etc/ld.so.preload", "/etc/ld.so.preload", hostNS, 3)
	rec.Tid = 301
	e, p := tr.Apply(rec)
	if e == nil || p == nil {
		t.Fatal("no event from the seeded thread")
	}
	if p.Pid != 300 || e.Tid != 301 || p.Cmdline != "python3 /srv/worker.py" {
		t.Errorf("thread's event: pid %d tid %d cmdline %q, want pid 300 tid 301 and the leader's command line", p.Pid, e.Tid, p.Cmdline)
	}
}
