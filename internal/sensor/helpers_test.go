package sensor

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// skipOrFail skips a test whose environment lacks something, except in CI,
// where a missing feature is a failure: CI machines are meant to have it.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and "+format, args...)
	}
	t.Skipf(format, args...)
}

// requireKernel skips unless the sensor can load here.
func requireKernel(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "the live sensor needs root (CAP_BPF, CAP_PERFMON); running as uid %d", os.Geteuid())
	}
	if _, err := os.Stat(btfPath); err != nil {
		skipOrFail(t, "kernel BTF missing at %s: %v", btfPath, err)
	}
}

// recorder runs a sensor and keeps every record it reads.
type recorder struct {
	s      *Sensor
	mu     sync.Mutex
	recs   []Record
	cancel context.CancelFunc
	done   chan error
}

// openSensor opens a sensor for one test and reads it in the background.
func openSensor(t testing.TB, opts Options) *recorder {
	t.Helper()
	requireKernel(t)
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{s: s, cancel: cancel, done: make(chan error, 1)}
	go func() {
		var rec Record
		for {
			err := s.Read(ctx, &rec)
			if err != nil {
				r.done <- err
				return
			}
			r.mu.Lock()
			r.recs = append(r.recs, rec)
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// wait returns the first record matching pred, waiting up to 5 seconds.
func (r *recorder) wait(t testing.TB, what string, pred func(*Record) bool) Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		for i := range r.recs {
			if pred(&r.recs[i]) {
				rec := r.recs[i]
				r.mu.Unlock()
				return rec
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no record: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// all returns the records matching pred so far.
func (r *recorder) all(pred func(*Record) bool) []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Record
	for i := range r.recs {
		if pred(&r.recs[i]) {
			out = append(out, r.recs[i])
		}
	}
	return out
}

// syscallOf matches a syscall record of process tgid.
func syscallOf(tgid int, name string, pred func(*SyscallRecord) bool) func(*Record) bool {
	return func(r *Record) bool {
		return r.Kind == KindSyscall && int(r.Tgid) == tgid && r.Syscall.Name() == name && (pred == nil || pred(&r.Syscall))
	}
}

// run runs a command to completion and returns its pid.
func run(t testing.TB, dir string, name string, args ...string) int {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "TS_SENSOR_TEST=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return cmd.Process.Pid
}

// tempDir returns a fresh directory with symlinks resolved, as the kernel
// reports paths.
func tempDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// nsInode returns the inode of /proc/<pid>/ns/<name>.
func nsInode(t testing.TB, pid int, name string) uint32 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/"+name, &st); err != nil {
		t.Fatal(err)
	}
	return uint32(st.Ino)
}

// kernelDev converts a stat(2) device number to the kernel's encoding.
func kernelDev(dev uint64) uint32 {
	return unix.Major(dev)<<20 | unix.Minor(dev)
}
