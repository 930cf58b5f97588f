package sensor

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// skipScript opens, closes and reuses fds in the ways the read-only file
// filter must tell apart, and prints the fds it got.
const skipScript = `
import os, sys
d = sys.argv[1]
ro, wr = os.path.join(d, "ro"), os.path.join(d, "wr")
open(ro, "w").close()
a = os.open(ro, os.O_RDONLY); os.close(a)
w = os.open(wr, os.O_WRONLY | os.O_CREAT, 0o600); os.close(w)
dd = os.open(d, os.O_RDONLY | os.O_DIRECTORY); os.close(dd)
for name, flags in (("missing-ro", os.O_RDONLY), ("missing-wr", os.O_WRONLY)):
    try:
        os.open(os.path.join(d, name), flags)
    except FileNotFoundError:
        pass
x = os.open(ro, os.O_RDONLY)
w2 = os.open(wr, os.O_WRONLY)
os.dup2(w2, x)
os.close(x)
os.close(w2)
p = os.open(ro, os.O_PATH); os.close(p)
print(w, dd, x, w2, p)
`

// With the filter on, the kernel leaves exactly the read-only opens of
// regular files, the failed read-only open and the closes of those fds
// unrecorded; a write open, a directory, an O_PATH open, a failed write
// open, and an fd reused by dup2 are recorded with their closes.
func TestSkipReadOnlyFilesLeavesReadOnlyFilesInTheKernel(t *testing.T) {
	py := python(t)
	r := openSensor(t, Options{Syscalls: []string{"open", "openat", "openat2", "close", "dup2"}})
	if err := r.s.SkipReadOnlyFiles(true); err != nil {
		t.Fatal(err)
	}
	before, err := r.s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	d := tempDir(t)
	cmd := exec.Command(py, "-c", skipScript, d)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var w, dd, x, w2, p int
	if _, err := fmt.Sscan(string(out), &w, &dd, &x, &w2, &p); err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	want := []string{
		"openat ro 3", "close 3", // the create, by open(ro, "w")
		fmt.Sprintf("openat wr %d", w), fmt.Sprintf("close %d", w),
		fmt.Sprintf("openat %s %d", filepath.Base(d), dd), fmt.Sprintf("close %d", dd),
		"openat missing-wr -2",
		fmt.Sprintf("openat wr %d", w2), fmt.Sprintf("dup2 %d", x), fmt.Sprintf("close %d", x), fmt.Sprintf("close %d", w2),
		fmt.Sprintf("openat ro %d", p), fmt.Sprintf("close %d", p),
	}
	pid := cmd.Process.Pid
	// The script's last record is the O_PATH fd's close.
	r.wait(t, "the script's last close", func(rec *Record) bool {
		return syscallOf(pid, "close", nil)(rec) && int(rec.Syscall.Args[0]) == p && rec.Time > 0
	})
	time.Sleep(100 * time.Millisecond)
	var got []string
	started := false
	for _, rec := range r.all(func(rec *Record) bool { return rec.Kind == KindSyscall && int(rec.Tgid) == pid }) {
		sc := &rec.Syscall
		switch sc.Name() {
		case "openat":
			if filepath.Dir(sc.Path[0]) != d && sc.Path[0] != d {
				if started {
					got = append(got, "openat "+sc.Path[0])
				}
				continue
			}
			started = true
			got = append(got, fmt.Sprintf("openat %s %d", filepath.Base(sc.Path[0]), sc.Ret))
		case "close", "dup2":
			if !started {
				continue
			}
			if sc.Name() == "close" {
				got = append(got, fmt.Sprintf("close %d", int32(sc.Args[0])))
			} else {
				got = append(got, fmt.Sprintf("dup2 %d", sc.Ret))
			}
		}
	}
	// Python's exit closes more after the script's last open.
	for i := len(got) - 1; i >= 0; i-- {
		if got[i] == fmt.Sprintf("openat ro %d", p) && i+2 <= len(got) {
			got = got[:i+2]
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("records of the script:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	after, err := r.s.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// At least the script's own: two opens and their closes, a failed open.
	if n := after.Skipped - before.Skipped; n < 5 {
		t.Errorf("Stats.Skipped grew by %d, want at least 5", n)
	}
	// Off again: a read-only open is recorded.
	if err := r.s.SkipReadOnlyFiles(false); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(py, "-c", "import os,sys; os.close(os.open(sys.argv[1], os.O_RDONLY))", filepath.Join(d, "ro"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	r.wait(t, "a read-only open with the filter off", func(rec *Record) bool {
		return syscallOf(cmd.Process.Pid, "openat", nil)(rec) && rec.Syscall.Path[0] == filepath.Join(d, "ro")
	})
}
