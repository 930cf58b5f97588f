package enforce_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/enforce"
	"github.com/truesightsec/truesight/internal/testenv"
)

// dynImage is a test image with busybox, a dynamically linked program
// (/usr/bin/true of the host, with its loader and libc) and an existing,
// empty /etc/ld.so.preload that the loader opens at every start.
const dynImage = "localhost/ts-enforce-dyn:latest"

func TestMain(m *testing.M) {
	if path := os.Getenv(writerEnv); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			_, err = f.WriteString("late\n")
			_ = f.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if built {
		_ = exec.Command("podman", "rmi", "-f", dynImage).Run()
	}
	os.Exit(code)
}

var built bool

func requireImage(t *testing.T) {
	t.Helper()
	testenv.RequirePodman(t)
	if built || exec.Command("podman", "image", "exists", dynImage).Run() == nil {
		built = true
		return
	}
	root := t.TempDir()
	for _, d := range []string{"bin", "etc/ld.so.conf.d", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		testenv.Missing(t, "busybox-static is not installed")
	}
	if err := testenv.CopyFile(bb, filepath.Join(root, "bin", "busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "echo", "cat", "mv", "ln", "ls", "cp", "sleep", "test", "rm", "stat"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	// The loader at /lib64/ld-linux-x86-64.so.2 (Debian's path), libc
	// beside it.
	if _, err := testenv.CopyProgram(root, "/usr/bin/true", "/usr/bin/true"); err != nil {
		testenv.Missing(t, "the dynamically linked test program: %v", err)
	}
	files := map[string]string{"etc/ld.so.preload": "", "etc/ld.so.conf": "include /etc/ld.so.conf.d/*.conf\n", "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n"}
	if err := testenv.ImportRootfs(root, files, dynImage, "/bin:/usr/bin"); err != nil {
		t.Fatal(err)
	}
	built = true
}

// policy loads the default configuration with overrides.
func policy(t testing.TB, overrides ...string) (*enforce.Policy, config.Enforce) {
	t.Helper()
	cfg, _, err := config.Load("", overrides)
	if err != nil {
		t.Fatal(err)
	}
	return enforce.NewPolicy(cfg.Truesight.Enforce), cfg.Truesight.Enforce
}

// startGuard runs a guard until the test ends; its blocks arrive on the
// returned channel.
func startGuard(t *testing.T, overrides ...string) (*enforce.Guard, chan *enforce.Block) {
	t.Helper()
	p, cfg := policy(t, overrides...)
	blocks := make(chan *enforce.Block, 64)
	g, err := enforce.New(p, enforce.Options{Deadline: time.Duration(cfg.AnswerDeadline), Report: func(b *enforce.Block) {
		select {
		case blocks <- b:
		default:
			t.Errorf("block report dropped: %+v", b)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(runGuard(t, g))
	return g, blocks
}

// container starts a container of the test image and protects it.
func protectedContainer(t *testing.T, g *enforce.Guard, name string, extra ...string) enforce.Root {
	t.Helper()
	id := testenv.StartContainerOf(t, dynImage, name, extra, "sleep", "1000")
	return protect(t, g, id, name)
}

func protect(t *testing.T, g *enforce.Guard, id, name string) enforce.Root {
	t.Helper()
	f := strings.Fields(testenv.Podman(t, "inspect", "-f", "{{.State.Pid}} {{.GraphDriver.Data.MergedDir}}", id))
	r := enforce.Root{ID: id, Dir: "/proc/" + f[0] + "/root", Prefixes: f[1:], Name: name}
	if err := g.Protect(r); err != nil {
		t.Fatal(err)
	}
	return r
}

// inside runs a shell script in the container; it returns the exit code
// and stderr.
func inside(t *testing.T, name, script string) (int, string) {
	t.Helper()
	cmd := exec.Command("podman", "exec", name, "sh", "-c", script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String()
	}
	t.Fatalf("podman exec %s: %v", name, err)
	return -1, ""
}

func output(t *testing.T, name, script string) string {
	t.Helper()
	return testenv.Podman(t, "exec", name, "sh", "-c", script)
}

// nextBlock waits for the next block report.
func nextBlock(t *testing.T, blocks chan *enforce.Block) *enforce.Block {
	t.Helper()
	select {
	case b := <-blocks:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no block reported within 10s")
		return nil
	}
}

func noBlock(t *testing.T, blocks chan *enforce.Block) {
	t.Helper()
	select {
	case b := <-blocks:
		t.Fatalf("unexpected block %+v", b)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestEnforceDeniesTheContainersWriteOfThePreloadFileAndTheLoaderStillReadsIt(t *testing.T) {
	requireImage(t)
	g, blocks := startGuard(t, "truesight.enforce.mode=enforce")
	const name = "ts-enforce-deny"
	r := protectedContainer(t, g, name)

	rc, stderr := inside(t, name, "echo /tmp/evil.so >> /etc/ld.so.preload")
	if rc == 0 || !strings.Contains(stderr, "Operation not permitted") {
		t.Fatalf("append to /etc/ld.so.preload: exit %d, stderr %q; want EPERM", rc, stderr)
	}
	b := nextBlock(t, blocks)
	if b.Action != enforce.ActionDenied || b.Path != "/etc/ld.so.preload" || b.Policy != "/etc/ld.so.preload" ||
		b.Root.ID != r.ID || b.Writer.ContainerID != r.ID || b.Writer.Comm != "sh" || b.Writer.Exe != "/bin/busybox" {
		t.Fatalf("block = %+v", b)
	}
	if got := output(t, name, "stat -c %s /etc/ld.so.preload"); got != "0" {
		t.Errorf("/etc/ld.so.preload has %s bytes after the denied write, want 0 (unchanged)", got)
	}
	// The kernel opens the loader for execve and the loader reads
	// /etc/ld.so.preload: both are reads of protected paths.
	reads := g.Counters.Reads.Load()
	if rc, stderr := inside(t, name, "/usr/bin/true && cat /etc/ld.so.preload /etc/ld.so.conf >/dev/null"); rc != 0 {
		t.Fatalf("dynamically linked program in the protected container: exit %d, %s", rc, stderr)
	}
	if n := g.Counters.Reads.Load() - reads; n < 3 {
		t.Errorf("%d reads of protected paths allowed, want at least 3 (the loader, ld.so.preload by the loader, cat)", n)
	}
	noBlock(t, blocks)

	// A create of a missing protected file: denied, and the empty file
	// the kernel created before asking is removed.
	rc, stderr = inside(t, name, "echo 1 > /etc/ld.so.conf.d/evil.conf")
	if rc == 0 || !strings.Contains(stderr, "Operation not permitted") {
		t.Fatalf("create /etc/ld.so.conf.d/evil.conf: exit %d, %q", rc, stderr)
	}
	if b := nextBlock(t, blocks); b.Action != enforce.ActionDenied || b.Policy != "/etc/ld.so.conf.d/**" || !strings.Contains(b.Reason, "removed") {
		t.Errorf("block = %+v", b)
	}
	if rc, _ := inside(t, name, "test -e /etc/ld.so.conf.d/evil.conf"); rc == 0 {
		t.Error("the empty file of the denied create is still there")
	}
	// An unprotected path is untouched.
	if rc, stderr := inside(t, name, "echo ok > /etc/motd"); rc != 0 {
		t.Errorf("write of an unprotected file: exit %d, %s", rc, stderr)
	}
}

func TestDetectModeAlertsAndChangesNothing(t *testing.T) {
	requireImage(t)
	g, blocks := startGuard(t) // mode detect, the default
	const name = "ts-enforce-detect"
	r := protectedContainer(t, g, name)
	if rc, stderr := inside(t, name, "echo /tmp/evil.so >> /etc/ld.so.preload"); rc != 0 {
		t.Fatalf("detect mode: write failed: exit %d, %s", rc, stderr)
	}
	b := nextBlock(t, blocks)
	if b.Action != enforce.ActionAlerted || b.Path != "/etc/ld.so.preload" || b.Root.ID != r.ID {
		t.Fatalf("block = %+v", b)
	}
	if got := output(t, name, "cat /etc/ld.so.preload"); got != "/tmp/evil.so" {
		t.Errorf("/etc/ld.so.preload = %q, want the write through", got)
	}
}

func TestThePodSiblingsWriteThroughProcRootIsDeniedAndTheWriterNamed(t *testing.T) {
	requireImage(t)
	g, blocks := startGuard(t, "truesight.enforce.mode=enforce")
	const pod = "ts-enforce-pod"
	_ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run()
	testenv.Podman(t, "pod", "create", "--name", pod, "--share", "pid")
	t.Cleanup(func() { _ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run() })
	sidecar := protectedContainer(t, g, pod+"-sidecar", "--pod", pod)
	_ = output(t, pod+"-sidecar", "touch /tmp/i-am-the-sidecar")
	attacker := protectedContainer(t, g, pod+"-nginx", "--pod", pod)
	script := `for p in /proc/[0-9]*; do if [ -e $p/root/tmp/i-am-the-sidecar ]; then echo /tmp/evil.so >> $p/root/etc/ld.so.preload; exit $?; fi; done; exit 99`
	rc, stderr := inside(t, pod+"-nginx", script)
	if rc != 1 || !strings.Contains(stderr, "Operation not permitted") {
		t.Fatalf("sibling's write through /proc/<pid>/root: exit %d, %q; want EPERM", rc, stderr)
	}
	b := nextBlock(t, blocks)
	if b.Action != enforce.ActionDenied || b.Path != "/etc/ld.so.preload" || b.Root.ID != sidecar.ID || b.Writer.ContainerID != attacker.ID {
		t.Fatalf("block = %+v; want the sidecar's file denied to the nginx container's writer", b)
	}
	if got := output(t, pod+"-sidecar", "stat -c %s /etc/ld.so.preload"); got != "0" {
		t.Errorf("sidecar's /etc/ld.so.preload has %s bytes, want 0", got)
	}
}

func TestAnAllowedWriterBySHA256WritesAndTheSameBinaryElsewhereIsDenied(t *testing.T) {
	requireImage(t)
	bb, _ := exec.LookPath("busybox")
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	g, blocks := startGuard(t, "truesight.enforce.mode=enforce",
		fmt.Sprintf("truesight.enforce.allowed_writers=[{path: /bin/busybox, sha256: %s}]", hex.EncodeToString(sum[:])))
	const name = "ts-enforce-writer"
	protectedContainer(t, g, name)
	if rc, stderr := inside(t, name, "echo /usr/lib/libjemalloc.so.2 > /etc/ld.so.preload"); rc != 0 {
		t.Fatalf("allowed writer (/bin/busybox with its sha256): exit %d, %s", rc, stderr)
	}
	noBlock(t, blocks)
	if got := output(t, name, "cat /etc/ld.so.preload"); got != "/usr/lib/libjemalloc.so.2" {
		t.Errorf("/etc/ld.so.preload = %q after the allowed write", got)
	}
	rc, stderr := inside(t, name, "cp /bin/busybox /tmp/sh && /tmp/sh -c 'echo /tmp/evil.so > /etc/ld.so.preload'")
	if rc == 0 || !strings.Contains(stderr, "Operation not permitted") {
		t.Fatalf("same binary at another path: exit %d, %q; want EPERM", rc, stderr)
	}
	if b := nextBlock(t, blocks); b.Action != enforce.ActionDenied || b.Writer.Exe != "/tmp/sh" {
		t.Errorf("block = %+v", b)
	}
}

func TestARenameOntoThePreloadFileIsUndoneAndTheProcessKilled(t *testing.T) {
	requireImage(t)
	g, blocks := startGuard(t, "truesight.enforce.mode=enforce")
	const name = "ts-enforce-rename"
	r := protectedContainer(t, g, name)
	// The sensor reports the rename after it returned; here the test is
	// the sensor. The renaming shell keeps running so it can be killed.
	cmd := exec.Command("podman", "exec", name, "sh", "-c", "echo /tmp/evil.so > /tmp/x && mv /tmp/x /etc/ld.so.preload && echo moved && sleep 30")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := out.Read(buf); err != nil || string(buf) != "moved\n" {
		t.Fatalf("rename: %q, %v", buf, err)
	}
	moved := time.Now()
	pid := hostPid(t, name, "sleep 30")
	g.Changed(enforce.Change{Paths: [2]string{"/tmp/x", "/etc/ld.so.preload"}, Pid: pid, Syscall: "rename", Time: moved})
	b := nextBlock(t, blocks)
	if b.Action != enforce.ActionRestored || !b.Killed || b.Path != "/etc/ld.so.preload" || b.Root.ID != r.ID || b.Syscall != "rename" || b.Window <= 0 {
		t.Fatalf("block = %+v", b)
	}
	if got := output(t, name, "stat -c %s /etc/ld.so.preload"); got != "0" {
		t.Errorf("/etc/ld.so.preload has %s bytes after the restore, want the kept empty file", got)
	}
	_ = cmd.Wait()
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
		t.Errorf("process %d still runs after the rename was undone", pid)
	}
}

// hostPid finds the host pid of the container's process whose command
// line is cmdline.
func hostPid(t *testing.T, name, cmdline string) int {
	t.Helper()
	for _, line := range strings.Split(testenv.Podman(t, "top", name, "hpid", "args"), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 1 && strings.Join(f[1:], " ") == cmdline {
			var pid int
			fmt.Sscan(f[0], &pid)
			return pid
		}
	}
	t.Fatalf("no process %q in %s", cmdline, name)
	return 0
}
