package scan

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// What the libc listing does to its thread (private filesystem attributes,
// another root and namespaces) must never show on another thread, and in
// particular not on the main thread, which the kernel presents as the
// whole process.
func TestSpareThreadChangesNeverLeak(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 200; i++ {
		var err error
		onSpareThread(func() {
			if err = unix.Unshare(unix.CLONE_FS); err == nil {
				err = unix.Chdir(dir)
			}
		})
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	assertNoThreadIn(t, dir)
}

// assertNoThreadIn fails if any thread of this process has dir as its
// working directory or a root other than "/". A thread that ran the
// listing ends when its goroutine does, but the kernel lists it until it
// has exited, so leftovers get a moment to go.
func assertNoThreadIn(t *testing.T, dir string) {
	t.Helper()
	var problems []string
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		problems = threadsIn(t, dir)
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, p := range problems {
		t.Error(p)
	}
}

func threadsIn(t *testing.T, dir string) []string {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var rootSt unix.Stat_t
	if err := unix.Stat("/", &rootSt); err != nil {
		t.Fatal(err)
	}
	var problems []string
	for _, task := range tasks {
		base := filepath.Join("/proc/self/task", task.Name())
		if cwd, err := os.Readlink(base + "/cwd"); err == nil && dir != "" && cwd == dir {
			problems = append(problems, fmt.Sprintf("thread %s works in %s", task.Name(), cwd))
		}
		var st unix.Stat_t
		if err := unix.Stat(base+"/root", &st); err == nil && (st.Dev != rootSt.Dev || st.Ino != rootSt.Ino) {
			problems = append(problems, fmt.Sprintf("thread %s has another root (%d:%d)", task.Name(), st.Dev, st.Ino))
		}
	}
	return problems
}
