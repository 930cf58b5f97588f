package enforce_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/truesightsec/truesight/internal/enforce"
	"github.com/truesightsec/truesight/internal/testenv"
)

// tmpfsRoot makes a root with an empty /etc/ld.so.preload and an
// /etc/ld.so.conf on a tmpfs in this thread's private mount namespace,
// never the host's /etc; the guard's goroutines reach it through
// /proc/<tid>/root.
func tmpfsRoot(t testing.TB) (dir string, r enforce.Root) {
	t.Helper()
	dir = testenv.PrivateTmpfs(t)
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"etc/ld.so.preload": "", "etc/ld.so.conf": "include /etc/ld.so.conf.d/*.conf\n", "etc/motd": "hi\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, enforce.Root{ID: "host", Dir: fmt.Sprintf("/proc/%d/root%s", unix.Gettid(), dir), Prefixes: []string{dir}, Name: "host"}
}

func shell(t *testing.T, script string) (string, error) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stderr.String(), err
}

func TestHostProtectionOnAPrivateTmpfsDeniesWritesAllowsReadsAndUndoesARename(t *testing.T) {
	// No subtests: they would run outside this thread's mount namespace.
	dir, r := tmpfsRoot(t)
	g, blocks := startGuard(t, "truesight.enforce.mode=enforce", "truesight.enforce.host=true")
	preload := filepath.Join(dir, "etc/ld.so.preload")
	// A hard link made before protection: another name of the same file.
	if err := os.Link(preload, filepath.Join(dir, "hard")); err != nil {
		t.Fatal(err)
	}
	if err := g.Protect(r); err != nil {
		t.Fatal(err)
	}
	if stderr, err := shell(t, "echo /tmp/evil.so >> "+preload); err == nil || !strings.Contains(stderr, "Operation not permitted") {
		t.Fatalf("write: %v %q; want EPERM", err, stderr)
	}
	if b := nextBlock(t, blocks); b.Action != enforce.ActionDenied || b.Path != "/etc/ld.so.preload" || b.Root.ID != "host" {
		t.Fatalf("block = %+v", b)
	}
	if stderr, err := shell(t, "cat "+preload+" "+filepath.Join(dir, "etc/ld.so.conf")+" >/dev/null && echo ok >> "+filepath.Join(dir, "etc/motd")); err != nil {
		t.Fatalf("read of protected files, write of another: %v %s", err, stderr)
	}
	noBlock(t, blocks)
	if stderr, err := shell(t, "echo /tmp/evil.so >> "+dir+"/hard"); err == nil || !strings.Contains(stderr, "Operation not permitted") {
		t.Fatalf("write through the hard link: %v %q; want EPERM", err, stderr)
	}
	if b := nextBlock(t, blocks); b.Action != enforce.ActionDenied || b.Path != "/etc/ld.so.preload" {
		t.Fatalf("block = %+v", b)
	}
	// Later opens of an unprotected file are ignored by the kernel: the
	// guard is asked once per file, not once per open.
	events := g.Counters.Events.Load()
	if stderr, err := shell(t, "for i in 1 2 3 4 5 6 7 8; do cat "+filepath.Join(dir, "etc/motd")+"; done >/dev/null"); err != nil {
		t.Fatalf("reads: %v %s", err, stderr)
	}
	if n := g.Counters.Events.Load() - events; n > 3 || g.Counters.Ignored.Load() == 0 {
		t.Errorf("8 reads of an unprotected file asked %d times (ignored files %d); want the file ignored after its first open", n, g.Counters.Ignored.Load())
	}

	if stderr, err := shell(t, "echo /tmp/evil.so > "+dir+"/x && mv "+dir+"/x "+preload); err != nil {
		t.Fatalf("rename: %v %s", err, stderr)
	}
	g.Changed(enforce.Change{Paths: [2]string{dir + "/x", preload}, Syscall: "rename", Time: time.Now()})
	if b := nextBlock(t, blocks); b.Action != enforce.ActionRestored || b.Path != "/etc/ld.so.preload" || b.Killed {
		t.Fatalf("block = %+v", b)
	}
	if got, err := os.ReadFile(preload); err != nil || len(got) != 0 {
		t.Errorf("/etc/ld.so.preload after the restore = %q, %v; want the kept empty file", got, err)
	}

	// An unlink has no permission hook either: the copy comes back.
	conf := filepath.Join(dir, "etc/ld.so.conf")
	if err := os.Remove(conf); err != nil {
		t.Fatal(err)
	}
	g.Changed(enforce.Change{Paths: [2]string{conf}, Syscall: "unlinkat", Time: time.Now()})
	if b := nextBlock(t, blocks); b.Action != enforce.ActionRestored || b.Path != "/etc/ld.so.conf" || b.Syscall != "unlinkat" {
		t.Fatalf("block = %+v", b)
	}
	if got, err := os.ReadFile(conf); err != nil || string(got) != "include /etc/ld.so.conf.d/*.conf\n" {
		t.Errorf("/etc/ld.so.conf after the restore = %q, %v", got, err)
	}
}

// writerEnv makes the test binary a writer of the file it names (see
// TestMain): a large executable, so that checking it against an allowed
// writer's sha256 takes longer than a short deadline.
const writerEnv = "TS_ENFORCE_TEST_WRITE"

func TestAnOpenNotDecidedWithinTheDeadlineIsAllowedAndReported(t *testing.T) {
	dir, r := tmpfsRoot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The writer's path is allowed but its hash is not the allowed one:
	// deciding means hashing the whole test binary, past a 1ms deadline.
	g, blocks := startGuard(t, "truesight.enforce.mode=enforce", "truesight.enforce.host=true", "truesight.enforce.answer_deadline=1ms",
		fmt.Sprintf("truesight.enforce.allowed_writers=[{path: %s, sha256: %s}]", self, strings.Repeat("0", 64)))
	if err := g.Protect(r); err != nil {
		t.Fatal(err)
	}
	preload := filepath.Join(dir, "etc/ld.so.preload")
	// Hashing usually takes longer than 1ms, but a machine may finish it
	// before the watchdog runs: a write decided in time (denied) is tried
	// again, up to five times.
	var b *enforce.Block
	for try := 1; ; try++ {
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), writerEnv+"="+preload)
		out, err := cmd.CombinedOutput()
		b = nextBlock(t, blocks)
		if err == nil {
			break
		}
		if b.Action != enforce.ActionDenied || try == 5 {
			t.Fatalf("writer (try %d): %v: %s; block %+v", try, err, out, b)
		}
		t.Logf("try %d: decided within the deadline (denied); again", try)
	}
	if got, _ := os.ReadFile(preload); string(got) != "late\n" {
		t.Errorf("/etc/ld.so.preload = %q, want the write allowed by the deadline", got)
	}
	if b.Action != enforce.ActionTimeout || b.Path != "/etc/ld.so.preload" || b.Writer.Exe != self {
		t.Fatalf("block = %+v", b)
	}
	if g.Counters.Timeouts.Load() != 1 {
		t.Errorf("timeouts = %d, want 1", g.Counters.Timeouts.Load())
	}
}

// BenchmarkOpen measures what an open costs on a filesystem the guard
// marks: for a path it does not protect, for a protected path read, and
// on a filesystem it does not mark. p50 and p99 are reported in ns per
// open (open + close).
func BenchmarkOpen(b *testing.B) {
	for _, bc := range []struct {
		name string
		mark bool
		file string
	}{
		{"unmarked", false, "etc/motd"},
		{"marked-unprotected", true, "etc/motd"},
		{"marked-protected-read", true, "etc/ld.so.preload"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dir, r := tmpfsRoot(b)
			if bc.mark {
				p, _ := policy(b, "truesight.enforce.mode=enforce", "truesight.enforce.host=true")
				g, err := enforce.New(p, enforce.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if err := g.Protect(r); err != nil {
					b.Fatal(err)
				}
				stop := runGuard(b, g)
				defer stop()
				defer func() { b.ReportMetric(float64(g.Counters.Events.Load()), "events") }()
			}
			path, err := unix.BytePtrFromString(filepath.Join(dir, bc.file))
			if err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, b.N)
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				fd, _, e := unix.Syscall6(unix.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafePointer(path)), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
				if e != 0 {
					b.Fatal(e)
				}
				_ = unix.Close(int(fd))
				lat[i] = time.Since(t0)
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

// BenchmarkRenameWindow measures how long a file renamed onto a protected
// path stays visible once the rename is reported: the check against the
// kept copy and the restore (the sensor's own delay comes on top; the
// agent's alerts carry the whole window in finding.detail[window]).
func BenchmarkRenameWindow(b *testing.B) {
	dir, r := tmpfsRoot(b)
	p, _ := policy(b, "truesight.enforce.mode=enforce", "truesight.enforce.host=true")
	blocks := make(chan *enforce.Block, 1)
	g, err := enforce.New(p, enforce.Options{Report: func(bl *enforce.Block) { blocks <- bl }})
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Protect(r); err != nil {
		b.Fatal(err)
	}
	defer runGuard(b, g)()
	preload, x := filepath.Join(dir, "etc/ld.so.preload"), filepath.Join(dir, "x")
	win := make([]time.Duration, 0, b.N)
	for range b.N {
		if err := os.WriteFile(x, []byte("/tmp/evil.so\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(x, preload); err != nil {
			b.Fatal(err)
		}
		g.Changed(enforce.Change{Paths: [2]string{x, preload}, Syscall: "rename", Time: time.Now()})
		bl := <-blocks
		if bl.Action != enforce.ActionRestored {
			b.Fatalf("block %+v", bl)
		}
		win = append(win, bl.Window)
	}
	slices.Sort(win)
	b.ReportMetric(float64(win[len(win)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(win[len(win)*99/100].Microseconds()), "p99-us")
}
