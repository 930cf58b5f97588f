package fanotify_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/truesightsec/truesight/internal/fanotify"
	"github.com/truesightsec/truesight/internal/testenv"
)

func newGroup(t *testing.T, flags uint) *fanotify.Group {
	t.Helper()
	g, err := fanotify.Init(flags, unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
			testenv.Missing(t, "kernel lacks this fanotify group kind: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

// readEvent waits for the next event and returns a copy of its header.
func readEvent(t *testing.T, g *fanotify.Group, buf []byte) (fanotify.Event, []byte) {
	t.Helper()
	if err := g.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := g.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var ev fanotify.Event
	rest, err := fanotify.Parse(buf[:n], &ev)
	if err != nil {
		t.Fatal(err)
	}
	return ev, rest
}

func TestPermissionEventDenyFailsTheWriterWithEPERMAndAllowLetsItThrough(t *testing.T) {
	dir := testenv.PrivateTmpfs(t)
	target := filepath.Join(dir, "ld.so.preload")
	if err := os.WriteFile(target, []byte("orig\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The listener's own opens wait for its own answer: read the file
	// through a descriptor opened before the mark.
	check, err := os.Open(target)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	g := newGroup(t, unix.FAN_CLASS_CONTENT|unix.FAN_REPORT_TID)
	if err := g.Mark(unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, unix.FAN_OPEN_PERM, unix.AT_FDCWD, dir); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		response uint32
		wantErr  string
		want     string
	}{
		{"deny", unix.FAN_DENY, "Operation not permitted", "orig\n"},
		{"allow", unix.FAN_ALLOW, "", "orig\nx\n"},
	} {
		// No subtests: they run on other goroutines, outside this thread's
		// mount namespace.
		func() {
			var stderr bytes.Buffer
			cmd := exec.Command("/bin/sh", "-c", "echo x >> "+target)
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4096)
			ev, rest := readEvent(t, g, buf)
			if ev.Mask != unix.FAN_OPEN_PERM || len(rest) != 0 {
				t.Fatalf("event mask %#x, %d bytes after it; want one FAN_OPEN_PERM", ev.Mask, len(rest))
			}
			if int(ev.Pid) != cmd.Process.Pid {
				t.Errorf("event pid %d, want the writer %d", ev.Pid, cmd.Process.Pid)
			}
			path, err := fanotify.FdPath(ev.Fd, nil)
			if err != nil || string(path) != target {
				t.Errorf("FdPath = %q, %v; want %q", path, err, target)
			}
			if err := g.Respond(ev.Fd, tc.response); err != nil {
				t.Fatal(err)
			}
			_ = unix.Close(int(ev.Fd))
			err = cmd.Wait()
			if (err != nil) != (tc.wantErr != "") || !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("writer: %v, stderr %q; want error %q", err, stderr.String(), tc.wantErr)
			}
			got := make([]byte, 64)
			n, _ := check.ReadAt(got, 0)
			if got = got[:n]; string(got) != tc.want {
				t.Errorf("%s: file = %q, want %q", tc.name, got, tc.want)
			}
		}()
	}
}

func TestClosingTheGroupReleasesAWaitingOpen(t *testing.T) {
	dir := testenv.PrivateTmpfs(t)
	target := filepath.Join(dir, "f")
	g, err := fanotify.Init(unix.FAN_CLASS_CONTENT, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Mark(unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, unix.FAN_OPEN_PERM, unix.AT_FDCWD, dir); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", "echo released > "+target)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	ev, _ := readEvent(t, g, buf)
	// The writer waits for an answer that never comes: the group goes away.
	_ = unix.Close(int(ev.Fd))
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("released writer failed: %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("writer still waiting 10s after the group was closed")
	}
	if got, _ := os.ReadFile(target); string(got) != "released\n" {
		t.Errorf("file = %q, want the released write", got)
	}
}

func TestNotificationGroupReportsDirectoryIdAndNameOfRenameAndLink(t *testing.T) {
	dir := testenv.PrivateTmpfs(t)
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte("evil"), 0o644); err != nil {
		t.Fatal(err)
	}
	g := newGroup(t, unix.FAN_CLASS_NOTIF|unix.FAN_REPORT_DFID_NAME|unix.FAN_REPORT_FID)
	if err := g.Mark(unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, unix.FAN_MOVED_TO|unix.FAN_CREATE|unix.FAN_DELETE, unix.AT_FDCWD, dir); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", "cd "+dir+" && ln x hard && mv x ld.so.preload && rm hard")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	type got struct {
		mask uint64
		name string
	}
	want := []got{{unix.FAN_CREATE, "hard"}, {unix.FAN_MOVED_TO, "ld.so.preload"}, {unix.FAN_DELETE, "hard"}}
	var seen []got
	buf := make([]byte, 8192)
	for len(seen) < len(want) {
		_ = g.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := g.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		b := buf[:n]
		for len(b) > 0 {
			var ev fanotify.Event
			if b, err = fanotify.Parse(b, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Fd != unix.FAN_NOFD {
				t.Errorf("file id group event has fd %d, want FAN_NOFD", ev.Fd)
			}
			if int(ev.Pid) != cmd.ProcessState.Pid() {
				// ln, mv and rm are children of the shell: any pid but ours.
				if int(ev.Pid) == os.Getpid() || ev.Pid == 0 {
					t.Errorf("event pid %d", ev.Pid)
				}
			}
			rec, ok := ev.Record(unix.FAN_EVENT_INFO_TYPE_DFID_NAME)
			if !ok || len(rec.Handle) == 0 {
				t.Fatalf("event %#x without a directory id and name record: %+v", ev.Mask, ev.Info)
			}
			seen = append(seen, got{ev.Mask, string(rec.Name)})
		}
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Errorf("events = %v, want %v", seen, want)
			break
		}
	}
}
