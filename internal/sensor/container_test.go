package sensor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// testImage is a busybox root filesystem imported into podman by the test.
const testImage = "localhost/ts-sensor-bb:latest"

func podman(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("podman", args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// requirePodman makes sure podman can run testImage, importing it from
// busybox-static when missing (see docs/platform.md).
func requirePodman(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		skipOrFail(t, "podman not installed (apt-get install podman runc busybox-static)")
	}
	if exec.Command("podman", "image", "exists", testImage).Run() == nil {
		return
	}
	busybox := "/bin/busybox"
	if _, err := os.Stat(busybox); err != nil {
		skipOrFail(t, "busybox not installed, needed for the test image: %v", err)
	}
	root := t.TempDir()
	for _, d := range []string{"bin", "etc", "tmp"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"sh", "cat", "sleep", "echo"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", app)); err != nil {
			t.Fatal(err)
		}
	}
	imp := exec.Command("sh", "-c", "tar -C "+root+" -c . | podman import --change ENV=PATH=/bin - "+testImage)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("import test image: %v\n%s", err, out)
	}
}

// TestContainerProcessAndCrossContainerWrite checks what the scenario needs
// from a real podman container: its cgroup path carries the container id,
// its root is "/" of its own mount namespace, and a host write through
// /proc/<pid>/root lands in that namespace's /etc.
func TestContainerProcessAndCrossContainerWrite(t *testing.T) {
	requireKernel(t)
	requirePodman(t)
	r := openSensor(t, Options{})
	name := "ts-sensor-" + strconv.Itoa(os.Getpid())
	id := podman(t, "run", "-d", "--name", name, testImage, "sh", "-c", "exec sleep 120")
	t.Cleanup(func() { exec.Command("podman", "rm", "-f", "-t", "0", name).Run() })
	pid, err := strconv.Atoi(podman(t, "inspect", "-f", "{{.State.Pid}}", name))
	if err != nil {
		t.Fatal(err)
	}
	mntns := nsInode(t, pid, "mnt")
	hostNS := nsInode(t, os.Getpid(), "mnt")

	// busybox runs "exec sleep" as an exec of /proc/self/exe with argv[0] sleep.
	rec := r.wait(t, "exec of sleep in the container", func(rec *Record) bool {
		return rec.Kind == KindExec && rec.Tgid == uint32(pid) && len(rec.Process.Args) > 0 && rec.Process.Args[0] == "sleep"
	})
	p := rec.Process
	if want := "/libpod_parent/libpod-" + id; p.Cgroup != want {
		t.Errorf("Cgroup = %q, want %q", p.Cgroup, want)
	}
	if p.Root.Path != "/" || p.Root.MntNS != mntns || p.NS.Mnt != mntns || p.Cwd.Path != "/" {
		t.Errorf("Root %+v Cwd %q NS.Mnt %d, want / of mount ns %d", p.Root, p.Cwd.Path, p.NS.Mnt, mntns)
	}
	if p.Exe.Path != "/bin/busybox" || p.Exe.Flags&FileOverlay == 0 || p.Exe.Flags&FileUpper != 0 {
		t.Errorf("Exe %+v, want /bin/busybox from the image's lower layer", p.Exe)
	}
	if p.VPid != 1 || p.NS.Pid == nsInode(t, os.Getpid(), "pid") || p.PidNSInitStart != p.StartTime {
		t.Errorf("VPid %d NS.Pid %d PidNSInitStart %d StartTime %d, want pid 1 of a new pid namespace", p.VPid, p.NS.Pid, p.PidNSInitStart, p.StartTime)
	}
	if p.Filename != "/proc/self/exe" || len(p.Args) != 2 || p.Args[1] != "120" {
		t.Errorf("Filename %q Args %q", p.Filename, p.Args)
	}

	via := fmt.Sprintf("/proc/%d/root/etc/ts-marker", pid)
	writer := run(t, "/", "/bin/sh", "-c", "echo x > "+via+"; true")
	s := r.wait(t, "host write into the container", syscallOf(writer, "openat", func(s *SyscallRecord) bool { return s.Path[0] == via })).Syscall
	if s.Ret < 0 || s.File.Path != "/etc/ts-marker" || s.File.MntNS != mntns || s.Task.MntNS != hostNS ||
		s.File.Flags&(FileOverlay|FileUpper) != FileOverlay|FileUpper {
		t.Errorf("ret %d File %+v Task.MntNS %d, want /etc/ts-marker on the upper layer of mount ns %d", s.Ret, s.File, s.Task.MntNS, mntns)
	}

	// A process started inside the container sees the same file.
	podman(t, "exec", name, "cat", "/etc/ts-marker")
	in := r.wait(t, "open inside the container", func(rec *Record) bool {
		return rec.Kind == KindSyscall && rec.Syscall.Task.MntNS == mntns && rec.Syscall.Path[0] == "/etc/ts-marker"
	}).Syscall
	if in.File.Path != "/etc/ts-marker" || in.File.Ino != s.File.Ino || in.File.MntNS != mntns || in.Task.Comm != "cat" {
		t.Errorf("inside: File %+v Comm %q", in.File, in.Task.Comm)
	}
}
