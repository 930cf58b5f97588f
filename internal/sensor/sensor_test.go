package sensor

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// expectedCgroup is the cgroup path the sensor reports for a child of this
// test, in the hierarchy Open picks by default.
func expectedCgroup(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	pids := hierarchyFromProcCgroup(string(data)) == 1
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if pids && slices.Contains(strings.Split(parts[1], ","), "pids") || !pids && parts[0] == "0" {
			return parts[2]
		}
	}
	t.Fatalf("no cgroup line in %q", data)
	return ""
}

func stat(t *testing.T, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestOpenatReportsResolvedFile(t *testing.T) {
	r := openSensor(t, Options{})
	dir := tempDir(t)
	file := filepath.Join(dir, "file")
	pid := run(t, "/", "/bin/sh", "-c", "echo x > "+file+"; true")

	rec := r.wait(t, "openat of "+file, syscallOf(pid, "openat", func(s *SyscallRecord) bool { return s.Path[0] == file }))
	s := rec.Syscall
	st := stat(t, file)
	if s.Ret != 3 || rec.Tid != uint32(pid) || s.Compat || s.Nr != 257 || s.RawNr != 257 {
		t.Errorf("ret %d tid %d compat %v nr %d/%d, want fd 3 from tid %d, openat 257", s.Ret, rec.Tid, s.Compat, s.Nr, s.RawNr, pid)
	}
	if int32(s.Args[0]) != unix.AT_FDCWD || s.Args[2] != unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC || s.Args[3] != 0o666 {
		t.Errorf("args %#x, want AT_FDCWD, path, O_WRONLY|O_CREAT|O_TRUNC, 0666", s.Args)
	}
	want := File{Valid: true, Path: file, Dev: kernelDev(st.Dev), Ino: st.Ino, MntNS: nsInode(t, os.Getpid(), "mnt"),
		Mode: st.Mode, Nlink: 1, Flags: FilePathNSRoot}
	got := s.File
	got.MntID, got.OpenFlags, got.FMode, got.FSMagic, got.Ctime, got.Mtime = 0, 0, 0, 0, 0, 0
	if got != want {
		t.Errorf("File = %+v\nwant   %+v", got, want)
	}
	if s.File.OpenFlags&unix.O_ACCMODE != unix.O_WRONLY || s.File.Mtime != st.Mtim.Nano() && s.File.Mtime > st.Mtim.Nano() {
		t.Errorf("OpenFlags %#o Mtime %d (stat %d)", s.File.OpenFlags, s.File.Mtime, st.Mtim.Nano())
	}
	if s.Task.Comm != "sh" || s.Task.PPid != uint32(os.Getpid()) || s.Task.UID != 0 || s.Task.MntNS != want.MntNS ||
		s.Task.PidNS != nsInode(t, os.Getpid(), "pid") {
		t.Errorf("Task = %+v", s.Task)
	}
	if d := time.Since(time.Unix(0, rec.Time)); d < 0 || d > 10*time.Second {
		t.Errorf("Time %v is %v from now", time.Unix(0, rec.Time), d)
	}
	// dash moves the fd to 1 with dup2: the new fd still names the file.
	dup := r.wait(t, "dup2 to stdout", syscallOf(pid, "dup2", func(s *SyscallRecord) bool { return s.Ret == 1 && s.File.Path == file }))
	if dup.Syscall.File.Ino != st.Ino {
		t.Errorf("dup2 File.Ino = %d, want %d", dup.Syscall.File.Ino, st.Ino)
	}
}

func TestFailedOpenHasRawPathAndBase(t *testing.T) {
	r := openSensor(t, Options{})
	dir := tempDir(t)
	pid := run(t, dir, "/bin/sh", "-c", "cat "+dir+"/missing; cat rel-missing; true")
	child := func(name string) func(*Record) bool {
		return func(rec *Record) bool {
			return rec.Kind == KindSyscall && rec.Syscall.Task.PPid == uint32(pid) && rec.Syscall.Name() == "openat" &&
				rec.Syscall.Path[0] == name
		}
	}
	abs := r.wait(t, "failed absolute open", child(dir+"/missing")).Syscall
	if abs.Ret != -int64(unix.ENOENT) || abs.File.Valid || abs.Dir[0].Valid {
		t.Errorf("absolute: ret %d File.Valid %v Dir[0].Valid %v, want -ENOENT and no file, no base", abs.Ret, abs.File.Valid, abs.Dir[0].Valid)
	}
	rel := r.wait(t, "failed relative open", child("rel-missing")).Syscall
	st := stat(t, dir)
	if rel.Ret != -int64(unix.ENOENT) || rel.File.Valid || rel.Dir[0].Path != dir || rel.Dir[0].Ino != st.Ino {
		t.Errorf("relative: ret %d File.Valid %v Dir[0] %+v, want -ENOENT, base %s", rel.Ret, rel.File.Valid, rel.Dir[0], dir)
	}
}

func TestExecRecord(t *testing.T) {
	r := openSensor(t, Options{})
	dir := tempDir(t)
	script := "/bin/true a 'b c'; exit 0"
	pid := run(t, dir, "/bin/sh", "-c", script)

	rec := r.wait(t, "exec of sh", func(rec *Record) bool { return rec.Kind == KindExec && rec.Tgid == uint32(pid) })
	p := rec.Process
	sh, _ := filepath.EvalSymlinks("/bin/sh")
	if p.Filename != "/bin/sh" || !slices.Equal(p.Args, []string{"/bin/sh", "-c", script}) || p.Comm != "sh" {
		t.Errorf("Filename %q Args %q Comm %q", p.Filename, p.Args, p.Comm)
	}
	if p.Exe.Path != sh || p.Exe.Ino != stat(t, sh).Ino || p.Cwd.Path != dir || p.Root.Path != "/" || p.Root.Ino != stat(t, "/").Ino {
		t.Errorf("Exe %q (ino %d) Cwd %q Root %q", p.Exe.Path, p.Exe.Ino, p.Cwd.Path, p.Root.Path)
	}
	if p.PPid != uint32(os.Getpid()) || p.VPid != uint32(pid) || p.Tid != uint32(pid) || p.OldTid != uint32(pid) {
		t.Errorf("PPid %d VPid %d Tid %d OldTid %d", p.PPid, p.VPid, p.Tid, p.OldTid)
	}
	if want := expectedCgroup(t); p.Cgroup != want {
		t.Errorf("Cgroup = %q, want %q", p.Cgroup, want)
	}
	if !slices.Contains(p.Env, "TS_SENSOR_TEST=1") {
		t.Errorf("Env lacks TS_SENSOR_TEST=1: %q", p.Env)
	}
	if p.NS.Mnt != nsInode(t, os.Getpid(), "mnt") || p.NS.Pid != nsInode(t, os.Getpid(), "pid") || p.NS.Net != nsInode(t, os.Getpid(), "net") {
		t.Errorf("NS = %+v", p.NS)
	}
	caps, _ := EffectiveCaps()
	if p.UID != 0 || p.EUID != 0 || p.CapEffective != caps || p.KernelThread {
		t.Errorf("UID %d EUID %d CapEffective %#x (ours %#x) KernelThread %v", p.UID, p.EUID, p.CapEffective, caps, p.KernelThread)
	}
	if d := time.Since(time.Unix(0, p.StartTime)); d < 0 || d > 10*time.Second {
		t.Errorf("StartTime %v is %v from now", time.Unix(0, p.StartTime), d)
	}

	child := r.wait(t, "exec of true", func(rec *Record) bool { return rec.Kind == KindExec && rec.Process.PPid == uint32(pid) })
	if !slices.Equal(child.Process.Args, []string{"/bin/true", "a", "b c"}) || child.Process.Filename != "/bin/true" {
		t.Errorf("child Args %q Filename %q", child.Process.Args, child.Process.Filename)
	}
	exit := r.wait(t, "execve exit", syscallOf(pid, "execve", nil)).Syscall
	if exit.Ret != 0 {
		t.Errorf("execve ret %d", exit.Ret)
	}
	// The loader maps libc executable: mmap with PROT_EXEC names the file.
	libc, _ := filepath.EvalSymlinks("/lib/x86_64-linux-gnu/libc.so.6")
	mm := r.wait(t, "mmap of libc", func(rec *Record) bool {
		return rec.Kind == KindSyscall && rec.Tgid == child.Tgid && rec.Syscall.Name() == "mmap" && rec.Syscall.File.Path == libc
	}).Syscall
	if mm.Args[2]&unix.PROT_EXEC == 0 || mm.File.Ino != stat(t, libc).Ino {
		t.Errorf("mmap prot %#x ino %d", mm.Args[2], mm.File.Ino)
	}
	if n := len(r.all(func(rec *Record) bool {
		return rec.Kind == KindSyscall && rec.Syscall.Name() == "mmap" && rec.Syscall.Args[2]&unix.PROT_EXEC == 0
	})); n != 0 {
		t.Errorf("%d mmap records without PROT_EXEC", n)
	}
}

func TestFailedExecHasArgv(t *testing.T) {
	r := openSensor(t, Options{})
	pid := run(t, "/", "/bin/sh", "-c", "/nonexistent/prog x 'y z'; true")
	rec := r.wait(t, "failed execve", func(rec *Record) bool {
		return rec.Kind == KindSyscall && rec.Syscall.Task.PPid == uint32(pid) && rec.Syscall.Name() == "execve"
	}).Syscall
	if rec.Ret != -int64(unix.ENOENT) || rec.Path[0] != "/nonexistent/prog" || !slices.Equal(rec.Argv, []string{"/nonexistent/prog", "x", "y z"}) {
		t.Errorf("ret %d Path %q Argv %q", rec.Ret, rec.Path[0], rec.Argv)
	}
}

func TestForkAndExitRecords(t *testing.T) {
	r := openSensor(t, Options{})
	pid := run(t, "/", "/bin/sh", "-c", "/bin/true; exit 7")
	fork := r.wait(t, "fork by sh", func(rec *Record) bool { return rec.Kind == KindFork && rec.Process.CallerTgid == uint32(pid) })
	p := fork.Process
	if p.PPid != uint32(pid) || p.Tid != p.Tgid || p.Tgid == uint32(pid) || p.CloneFlags&unix.CLONE_THREAD != 0 || p.Comm != "sh" {
		t.Errorf("fork: %+v", p)
	}
	child := r.wait(t, "exit of the child", func(rec *Record) bool { return rec.Kind == KindExit && rec.Tgid == p.Tgid })
	if child.Process.ExitCode != 0 || !child.Process.GroupDead || child.Process.StartBootNS != p.StartBootNS ||
		child.Process.PPid != uint32(pid) || child.Process.Comm != "true" {
		t.Errorf("child exit: %+v (fork start %d)", child.Process, p.StartBootNS)
	}
	sh := r.wait(t, "exit of sh", func(rec *Record) bool { return rec.Kind == KindExit && rec.Tgid == uint32(pid) })
	if sh.Process.ExitCode != 7<<8 || !sh.Process.GroupDead || sh.Process.PPid != uint32(os.Getpid()) {
		t.Errorf("sh exit: %+v", sh.Process)
	}
	// The records come in causal order on one ring: fork before exit.
	if fork.BootNS > child.BootNS {
		t.Errorf("fork at %d after child exit at %d", fork.BootNS, child.BootNS)
	}
}

func TestChdirReportsNewCwd(t *testing.T) {
	r := openSensor(t, Options{})
	dir := tempDir(t)
	pid := run(t, "/", "/bin/sh", "-c", "cd "+dir+" && true")
	// The Go child's own chdir("/") before exec is reported too.
	s := r.wait(t, "chdir", syscallOf(pid, "chdir", func(s *SyscallRecord) bool { return s.Path[0] == dir })).Syscall
	if s.Ret != 0 || s.Path[0] != dir || s.Cwd.Path != dir || s.Cwd.Ino != stat(t, dir).Ino {
		t.Errorf("ret %d Path %q Cwd %+v", s.Ret, s.Path[0], s.Cwd)
	}
}

func TestPathSyscallsResolveBaseDirs(t *testing.T) {
	r := openSensor(t, Options{})
	dir := tempDir(t)
	if err := os.WriteFile(filepath.Join(dir, "a"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	pid := run(t, dir, "/bin/sh", "-c", "mv a b && ln b c && ln -s b d && rm c && mkdir e && chmod 700 e; true")
	byChild := func(names ...string) func(*Record) bool {
		return func(rec *Record) bool {
			return rec.Kind == KindSyscall && rec.Syscall.Task.PPid == uint32(pid) && slices.Contains(names, rec.Syscall.Name())
		}
	}
	tests := []struct {
		what  string
		names []string
		path  [2]string
		dir   [2]string
	}{
		{"mv a b", []string{"rename", "renameat", "renameat2"}, [2]string{"a", "b"}, [2]string{dir, dir}},
		{"ln b c", []string{"link", "linkat"}, [2]string{"b", "c"}, [2]string{dir, dir}},
		{"ln -s b d", []string{"symlink", "symlinkat"}, [2]string{"b", "d"}, [2]string{"", dir}},
		{"rm c", []string{"unlink", "unlinkat"}, [2]string{"c"}, [2]string{dir}},
		{"mkdir e", []string{"mkdir", "mkdirat"}, [2]string{"e"}, [2]string{dir}},
		{"chmod 700 e", []string{"chmod", "fchmodat", "fchmodat2"}, [2]string{"e"}, [2]string{dir}},
	}
	for _, tt := range tests {
		s := r.wait(t, tt.what, byChild(tt.names...)).Syscall
		if s.Ret != 0 || s.Path != tt.path || [2]string{s.Dir[0].Path, s.Dir[1].Path} != tt.dir {
			t.Errorf("%s: %s ret %d Path %q Dir %q %q, want Path %q Dir %q", tt.what, s.Name(), s.Ret, s.Path, s.Dir[0].Path, s.Dir[1].Path, tt.path, tt.dir)
		}
	}
}

// TestWriteThroughOtherMountNamespace is the scenario's cross-container
// write: a process in one mount namespace writes /etc/ld.so.preload of
// another through /proc/<pid>/root. The host's real /etc is never touched:
// the other namespace bind-mounts a temporary directory over its /etc.
func TestWriteThroughOtherMountNamespace(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		skipOrFail(t, "unshare(1) not installed: %v", err)
	}
	r := openSensor(t, Options{})
	dir := tempDir(t)
	etc := filepath.Join(dir, "etc")
	if err := os.Mkdir(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	hostNS := nsInode(t, os.Getpid(), "mnt")
	hostPreload, hostErr := os.Stat("/etc/ld.so.preload")

	// Refuse to write unless the namespace really is a new one.
	script := fmt.Sprintf(`[ "$(readlink /proc/self/ns/mnt)" != "mnt:[%d]" ] && mount --bind %s /etc && echo /inner.so > /etc/ld.so.preload && echo ready && exec sleep 60`, hostNS, etc)
	inner := exec.Command("unshare", "-m", "--propagation", "private", "/bin/sh", "-c", script)
	out, err := inner.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := inner.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		inner.Process.Kill()
		inner.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("private namespace setup: %q %v", line, err)
	}
	innerPid := inner.Process.Pid
	innerNS := nsInode(t, innerPid, "mnt")

	via := fmt.Sprintf("/proc/%d/root/etc/ld.so.preload", innerPid)
	writer := run(t, "/", "/bin/sh", "-c", "echo /outer.so > "+via+"; true")
	st := stat(t, filepath.Join(etc, "ld.so.preload"))

	in := r.wait(t, "write inside the namespace", syscallOf(innerPid, "openat", func(s *SyscallRecord) bool { return s.Path[0] == "/etc/ld.so.preload" })).Syscall
	if in.Ret < 0 || in.File.Path != "/etc/ld.so.preload" || in.File.MntNS != innerNS || in.Task.MntNS != innerNS || in.File.Ino != st.Ino {
		t.Errorf("inner write: ret %d File %+v Task.MntNS %d, want /etc/ld.so.preload in mnt ns %d", in.Ret, in.File, in.Task.MntNS, innerNS)
	}
	outer := r.wait(t, "write through /proc/<pid>/root", syscallOf(writer, "openat", func(s *SyscallRecord) bool { return s.Path[0] == via })).Syscall
	if outer.Ret < 0 || outer.File.Path != "/etc/ld.so.preload" || outer.File.MntNS != innerNS || outer.Task.MntNS != hostNS ||
		outer.File.Ino != st.Ino || outer.File.Dev != kernelDev(st.Dev) {
		t.Errorf("outer write: ret %d File %+v Task.MntNS %d, want /etc/ld.so.preload of mnt ns %d written from %d", outer.Ret, outer.File, outer.Task.MntNS, innerNS, hostNS)
	}

	if data, _ := os.ReadFile(filepath.Join(etc, "ld.so.preload")); string(data) != "/outer.so\n" {
		t.Errorf("private ld.so.preload holds %q", data)
	}
	after, afterErr := os.Stat("/etc/ld.so.preload")
	if (hostErr == nil) != (afterErr == nil) || hostErr == nil && !os.SameFile(hostPreload, after) {
		t.Fatalf("the host's /etc/ld.so.preload changed")
	}
}

func TestSnapshotListsProcessesWithAncestry(t *testing.T) {
	r := openSensor(t, Options{})
	dir := tempDir(t)
	sleep := exec.Command("/bin/sleep", "30")
	sleep.Dir = dir
	sleep.Env = append(os.Environ(), "TS_SNAPSHOT_MARK=1")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sleep.Process.Kill()
		sleep.Wait()
	})
	// Wait until the child has exec'd, so the snapshot sees sleep, not the Go fork.
	r.wait(t, "exec of sleep", func(rec *Record) bool { return rec.Kind == KindExec && rec.Tgid == uint32(sleep.Process.Pid) })

	procs, err := r.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	find := func(pid int) *ProcessInfo {
		for i := range procs {
			if procs[i].Tgid == uint32(pid) {
				return &procs[i]
			}
		}
		t.Fatalf("pid %d not in a snapshot of %d processes", pid, len(procs))
		return nil
	}
	self := find(os.Getpid())
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	if self.PPid != uint32(os.Getppid()) || self.Exe.Path != exe || len(self.Args) == 0 || self.Args[0] != os.Args[0] {
		t.Errorf("self: PPid %d (want %d) Exe %q (want %q) Args %q", self.PPid, os.Getppid(), self.Exe.Path, exe, self.Args)
	}
	parent := find(os.Getppid())
	if parent.Tgid != self.PPid || parent.StartTime > self.StartTime {
		t.Errorf("parent %d started %d after self %d", parent.Tgid, parent.StartTime, self.StartTime)
	}
	child := find(sleep.Process.Pid)
	sleepExe, _ := filepath.EvalSymlinks("/bin/sleep")
	if child.PPid != uint32(os.Getpid()) || !slices.Equal(child.Args, []string{"/bin/sleep", "30"}) || child.Exe.Path != sleepExe ||
		child.Cwd.Path != dir || child.Root.Path != "/" || child.Cgroup != expectedCgroup(t) || child.Comm != "sleep" {
		t.Errorf("child: %+v", *child)
	}
	if !slices.Contains(child.Env, "TS_SNAPSHOT_MARK=1") {
		t.Errorf("child Env lacks the marker: %q", child.Env)
	}
	if child.NS.Mnt != nsInode(t, sleep.Process.Pid, "mnt") || child.ParentStartTime != self.StartTime {
		t.Errorf("child NS %+v ParentStartTime %d (self started %d)", child.NS, child.ParentStartTime, self.StartTime)
	}
	kthreads := 0
	for _, p := range procs {
		if p.KernelThread {
			kthreads++
			if p.Exe.Valid || len(p.Args) != 0 {
				t.Errorf("kernel thread %d %q has Exe %q Args %q", p.Tgid, p.Comm, p.Exe.Path, p.Args)
			}
		}
	}
	if kthreads == 0 {
		t.Errorf("no kernel threads among %d processes", len(procs))
	}
}

func TestOwnProcessIsIgnored(t *testing.T) {
	r := openSensor(t, Options{})
	dir := tempDir(t)
	file := filepath.Join(dir, "own")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A child's open of the same file marks the point by which ours would
	// have arrived.
	pid := run(t, "/", "/bin/cat", file)
	r.wait(t, "the child's open", syscallOf(pid, "openat", func(s *SyscallRecord) bool { return s.Path[0] == file }))
	if own := r.all(func(rec *Record) bool { return rec.Tgid == uint32(os.Getpid()) }); len(own) != 0 {
		t.Errorf("%d records of our own process, first %+v", len(own), own[0])
	}
}

func TestConnectReportsSocket(t *testing.T) {
	if _, err := os.Stat("/bin/bash"); err != nil {
		skipOrFail(t, "bash (for /dev/tcp) not installed")
	}
	r := openSensor(t, Options{})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	server := netip.MustParseAddrPort(ln.Addr().String())
	pid := run(t, "/", "/bin/bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/127.0.0.1/%d; echo hi >&3; true", server.Port()))

	// bash may first try other sockets of its own (nscd's unix socket when
	// it looks up the user, for one): wait for the IPv4 connect.
	s := r.wait(t, "connect", syscallOf(pid, "connect", func(s *SyscallRecord) bool { return s.Addr.Family == unix.AF_INET })).Syscall
	if s.Ret != 0 || !s.Sock.Valid || s.Sock.Family != unix.AF_INET || s.Sock.Proto != unix.IPPROTO_TCP || s.Sock.Type != unix.SOCK_STREAM ||
		s.Sock.Remote != server || s.Sock.Local.Addr() != server.Addr() || s.Sock.Local.Port() == 0 {
		t.Errorf("connect ret %d Sock %+v, want tcp to %v", s.Ret, s.Sock, server)
	}
	if s.Addr != (SockAddr{Valid: true, Family: unix.AF_INET, AddrPort: server}) {
		t.Errorf("Addr = %+v", s.Addr)
	}
	sock := r.wait(t, "socket", syscallOf(pid, "socket", func(s *SyscallRecord) bool { return s.Sock.Family == unix.AF_INET })).Syscall
	if sock.Ret < 0 || sock.Sock.Family != unix.AF_INET || sock.Sock.Type != unix.SOCK_STREAM {
		t.Errorf("socket ret %d Sock %+v", sock.Ret, sock.Sock)
	}
}

func TestMemfdCreate(t *testing.T) {
	// The interpreter itself, not a wrapper (a pyenv shim is a shell
	// script whose own activity would be taken for the test's).
	py := python(t)
	r := openSensor(t, Options{})
	pid := run(t, "/", py, "-c", "import os; os.memfd_create('ts-memfd')")
	s := r.wait(t, "memfd_create", syscallOf(pid, "memfd_create", nil)).Syscall
	if s.Ret < 0 || s.Str != "ts-memfd" || s.File.Path != "/memfd:ts-memfd" || s.File.Flags&FileMemfd == 0 {
		t.Errorf("ret %d Str %q File %+v", s.Ret, s.Str, s.File)
	}
}

// TestIA32SyscallIsRemapped runs a 32-bit program that opens a file with
// int 0x80: the kernel sees ia32 open (5) and the sensor reports x86_64
// open (2).
func TestIA32SyscallIsRemapped(t *testing.T) {
	requireKernel(t)
	dir := tempDir(t)
	file := filepath.Join(dir, "f32")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "open32.c")
	prog := filepath.Join(dir, "open32")
	code := `void _start(void) {
	int ret;
	__asm__ volatile ("int $0x80" : "=a"(ret) : "a"(5), "b"(PATH), "c"(0), "d"(0) : "memory");
	__asm__ volatile ("int $0x80" : : "a"(1), "b"(0));
	for (;;) ;
}
`
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-m32", "-static", "-nostdlib", "-O1", `-DPATH="`+file+`"`, "-o", prog, src).CombinedOutput(); err != nil {
		skipOrFail(t, "cannot build a 32-bit program (gcc -m32, Debian gcc-multilib): %v\n%s", err, out)
	}
	r := openSensor(t, Options{})
	pid := run(t, "/", prog)
	// The exec of a 32-bit program is itself reported as a compat execve:
	// the kernel rewrites orig_ax to the ia32 number.
	exe := r.wait(t, "compat execve", syscallOf(pid, "execve", nil)).Syscall
	if !exe.Compat || exe.RawNr != 11 || exe.Ret != 0 {
		t.Errorf("execve of a 32-bit program: compat %v raw %d ret %d", exe.Compat, exe.RawNr, exe.Ret)
	}
	rec := r.wait(t, "ia32 open", syscallOf(pid, "open", nil))
	s := rec.Syscall
	if !s.Compat || s.Nr != 2 || s.RawNr != 5 || s.Ret != 3 || s.Path[0] != file || s.File.Path != file || s.Args[1] != 0 {
		t.Errorf("nr %d raw %d ret %d Path %q File %q args %#x", s.Nr, s.RawNr, s.Ret, s.Path[0], s.File.Path, s.Args)
	}
}

func TestCloseLeavesNoKernelObjects(t *testing.T) {
	requireKernel(t)
	s, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var (
		progs []ebpf.ProgramID
		maps  []ebpf.MapID
	)
	o := s.objs
	for _, p := range []*ebpf.Program{o.SysExit, o.SchedExec, o.SchedFork, o.SchedExit, o.Snapshot} {
		info, err := p.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, ok := info.ID()
		if !ok {
			t.Fatalf("no id for program %v", p)
		}
		progs = append(progs, id)
		// Maps the programs use but we hold no handle on (.rodata) too.
		ids, _ := info.MapIDs()
		maps = append(maps, ids...)
	}
	for _, m := range []*ebpf.Map{o.Events, o.Ebufs, o.Ibuf, o.Counters, o.SyscallSpecs, o.Ia32To64} {
		info, err := m.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := info.ID()
		maps = append(maps, id)
	}
	var links []link.ID
	for _, l := range append(slices.Clone(s.links), s.iter) {
		info, err := l.Info()
		if err != nil {
			t.Fatal(err)
		}
		links = append(links, info.ID)
	}
	if len(progs) != 5 || len(links) != 5 {
		t.Fatalf("%d programs, %d links; want 5 and 5", len(progs), len(links))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	slices.Sort(maps)
	maps = slices.Compact(maps)
	// The kernel frees objects after an RCU grace period.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []string
		for _, id := range progs {
			if p, err := ebpf.NewProgramFromID(id); err == nil {
				p.Close()
				left = append(left, "program "+strconv.Itoa(int(id)))
			}
		}
		for _, id := range maps {
			if m, err := ebpf.NewMapFromID(id); err == nil {
				m.Close()
				left = append(left, "map "+strconv.Itoa(int(id)))
			}
		}
		for _, id := range links {
			if l, err := link.NewFromID(id); err == nil {
				l.Close()
				left = append(left, "link "+strconv.Itoa(int(id)))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Close still in the kernel: %s", strings.Join(left, ", "))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReadAfterCloseFails(t *testing.T) {
	requireKernel(t)
	s, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	var r Record
	if err := s.Read(t.Context(), &r); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Read after Close = %v, want os.ErrClosed", err)
	}
}

func TestStatsCountEvents(t *testing.T) {
	r := openSensor(t, Options{Syscalls: []string{"openat", "257"}})
	pid := run(t, "/", "/bin/cat", "/etc/hostname")
	r.wait(t, "openat", syscallOf(pid, "openat", nil))
	st, err := r.s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	cpus, _ := ebpf.PossibleCPU()
	var sum uint64
	for _, c := range st.PerCPU {
		sum += c.Events
	}
	if len(st.PerCPU) != cpus || st.Events == 0 || sum != st.Events {
		t.Errorf("Stats = %+v (cpus %d)", st, cpus)
	}
	if others := r.all(func(rec *Record) bool { return rec.Kind == KindSyscall && rec.Syscall.Nr != 257 }); len(others) != 0 {
		t.Errorf("%d records of syscalls not asked for, first %s", len(others), others[0].Syscall.Name())
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	tests := []struct {
		opts Options
		want string
	}{
		{Options{Syscalls: []string{"no_such_call"}}, `unknown x86_64 syscall "no_such_call"`},
		{Options{Syscalls: []string{"600"}}, "out of range"},
		{Options{RingBufferSize: 3000}, "not a power of two"},
		{Options{CgroupHierarchy: "blkio"}, `cgroup hierarchy "blkio"`},
	}
	for _, tt := range tests {
		if _, err := Open(tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Open(%+v) = %v, want an error containing %q", tt.opts, err, tt.want)
		}
	}
}

// TestMmapExecOnOverlayNamesOverlayPath maps a file of an overlayfs mount
// executable. overlayfs puts its backing (layer) file into the mapping; the
// sensor must still report the path the process used.
func TestMmapExecOnOverlayNamesOverlayPath(t *testing.T) {
	// The interpreter itself, not a wrapper (a pyenv shim is a shell
	// script whose own activity would be taken for the test's).
	py := python(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		skipOrFail(t, "unshare(1) not installed: %v", err)
	}
	r := openSensor(t, Options{})
	dir := tempDir(t)
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "lower", "lib.so"), make([]byte, 4096), 0o755); err != nil {
		t.Fatal(err)
	}
	merged := filepath.Join(dir, "merged")
	lib := filepath.Join(merged, "lib.so")
	mapIt := fmt.Sprintf(`import mmap, os; fd = os.open(%q, os.O_RDONLY); mmap.mmap(fd, 4096, prot=mmap.PROT_READ|mmap.PROT_EXEC)`, lib)
	script := fmt.Sprintf(`mount -t overlay overlay -o lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work %s && exec %s -c '%s'`, dir, dir, dir, merged, py, mapIt)
	out, err := exec.Command("unshare", "-m", "--propagation", "private", "/bin/sh", "-c", script).CombinedOutput()
	if err != nil {
		skipOrFail(t, "overlay mount in a private namespace: %v\n%s", err, out)
	}
	s := r.wait(t, "mmap PROT_EXEC of the overlay file", func(rec *Record) bool {
		return rec.Kind == KindSyscall && rec.Syscall.Name() == "mmap" && rec.Syscall.File.Valid && strings.HasPrefix(rec.Syscall.File.Path, dir)
	}).Syscall
	if s.File.Path != lib || s.File.Flags&FileOverlay == 0 {
		t.Errorf("mmap File %+v, want %s on overlayfs", s.File, lib)
	}
	open := r.wait(t, "open of the overlay file", func(rec *Record) bool {
		return rec.Kind == KindSyscall && rec.Syscall.Name() == "openat" && rec.Syscall.Path[0] == lib
	}).Syscall
	if open.File.Path != lib || open.File.Ino != s.File.Ino || open.File.Dev != s.File.Dev {
		t.Errorf("open File %+v vs mmap File %+v", open.File, s.File)
	}
}

// TestFullRingBufferCountsDrops fills a one-page ring buffer nobody reads:
// the kernel side counts what it could not write and carries on.
func TestFullRingBufferCountsDrops(t *testing.T) {
	requireKernel(t)
	s, err := Open(Options{Syscalls: []string{"openat"}, RingBufferSize: os.Getpagesize()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run(t, "/", "/bin/sh", "-c", "i=0; while [ $i -lt 200 ]; do : < /etc/hostname; i=$((i+1)); done")
	st, err := s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Drops == 0 || st.Events == 0 {
		t.Fatalf("Stats = %+v, want both events and drops", st.CPUStats)
	}
	var r Record
	// Process records are always on; syscall records are openat only.
	if err := s.Read(t.Context(), &r); err != nil || r.Kind == KindSyscall && r.Syscall.Name() != "openat" || r.Kind.String() == "unknown" {
		t.Errorf("Read after drops: %v, %s %s", err, r.Kind, r.Syscall.Name())
	}
}

func TestThreadForkAndExit(t *testing.T) {
	// The interpreter itself, not a wrapper (a pyenv shim is a shell
	// script whose own activity would be taken for the test's).
	py := python(t)
	r := openSensor(t, Options{})
	// join returns before the thread's task is gone; the script waits for
	// the kernel to reap it, or the thread may be the group's last task
	// (group_dead) when the leader exits first.
	pid := run(t, "/", py, "-c", "import os, threading, time\nt = threading.Thread(target=lambda: None); t.start(); t.join()\n"+
		"while len(os.listdir('/proc/self/task')) > 1: time.sleep(0.001)")
	fork := r.wait(t, "thread creation", func(rec *Record) bool {
		return rec.Kind == KindFork && rec.Tgid == uint32(pid) && rec.Tid != uint32(pid)
	}).Process
	const shared = unix.CLONE_THREAD | unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND
	if fork.CloneFlags&shared != shared || fork.CallerTgid != uint32(pid) || fork.PPid != uint32(os.Getpid()) {
		t.Errorf("thread fork: CloneFlags %#x CallerTgid %d PPid %d", fork.CloneFlags, fork.CallerTgid, fork.PPid)
	}
	exit := r.wait(t, "thread exit", func(rec *Record) bool { return rec.Kind == KindExit && rec.Tid == fork.Tid }).Process
	if exit.GroupDead || exit.Tgid != uint32(pid) {
		t.Errorf("thread exit: GroupDead %v Tgid %d", exit.GroupDead, exit.Tgid)
	}
	leader := r.wait(t, "process exit", func(rec *Record) bool { return rec.Kind == KindExit && rec.Tid == uint32(pid) }).Process
	if !leader.GroupDead || leader.ExitCode != 0 {
		t.Errorf("leader exit: GroupDead %v ExitCode %d", leader.GroupDead, leader.ExitCode)
	}
}

func TestExecArgvBeyondBoundIsFlagged(t *testing.T) {
	r := openSensor(t, Options{})
	long := strings.Repeat("a", 5000)
	pid := run(t, "/", "/bin/sh", "-c", "true; true", "sh", long)
	p := r.wait(t, "exec with a long argv", func(rec *Record) bool { return rec.Kind == KindExec && rec.Tgid == uint32(pid) }).Process
	prefix := []string{"/bin/sh", "-c", "true; true", "sh"}
	n := 0
	for _, a := range prefix {
		n += len(a) + 1
	}
	if !p.ArgsTruncated || len(p.Args) != 5 || !slices.Equal(p.Args[:4], prefix) || p.Args[4] != long[:maxArgs-n] {
		t.Errorf("ArgsTruncated %v, %d args, last %d bytes", p.ArgsTruncated, len(p.Args), len(p.Args[len(p.Args)-1]))
	}
	if p.EnvTruncated {
		t.Errorf("EnvTruncated with a short environment")
	}
}
