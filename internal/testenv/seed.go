package testenv

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The seed scenario's pieces: a real readdir-hooking library (the C
// source in internal/scan/testdata/hider.c, compiled with gcc) and an
// image whose ps is dynamically linked, so that a preload file in it
// takes effect.

// RequireGCC needs gcc and the C headers, to build the process hider.
func RequireGCC(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		Missing(t, "gcc is not installed (apt-get install gcc libc6-dev): the tests build their process hider with it")
	}
}

// BuildHider compiles the process hider into dir as lib<name>.so, a
// library that hides the processes whose comm is name from readdir, and
// returns its path and sha256.
func BuildHider(t testing.TB, dir, name string) (string, string) {
	t.Helper()
	RequireGCC(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("find the module root: %v", err)
	}
	src := filepath.Join(root, "internal", "scan", "testdata", "hider.c")
	out := filepath.Join(dir, "lib"+name+".so")
	cmd := exec.Command("gcc", "-shared", "-fPIC", "-O2", "-DHIDE_NAME=\""+name+"\"", "-o", out, src, "-ldl")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build hider: %v\n%s", err, b)
	}
	return out, FileSHA256(t, out)
}

// FileSHA256 is the hex sha256 of a file's content.
func FileSHA256(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// CopyFile copies src to dst with mode.
func CopyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}

func appendFile(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// BuildDynamicImage builds an image with dynamically linked ps, ls and
// sleep from the host and the libraries ldd names, busybox for everything
// else; hiders maps a name to a compiled hider to put at
// /usr/local/lib/lib<name>.so, and libcTail, when set, is appended to the
// image's copy of libc.so.6.
func BuildDynamicImage(image string, hiders map[string]string, libcTail []byte) error {
	root, err := os.MkdirTemp("", "truesight-dyn-image-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(root) }()
	for _, d := range []string{"bin", "usr/bin", "usr/local/lib", "etc", "tmp", "root", "proc", "dev", "sys"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	_ = os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return err
	}
	if err := CopyFile(busybox, filepath.Join(root, "bin/busybox"), 0o755); err != nil {
		return err
	}
	applets, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return err
	}
	dynamic := map[string]bool{"ps": true, "ls": true, "sleep": true}
	for _, a := range strings.Fields(string(applets)) {
		if a != "busybox" && !dynamic[a] {
			_ = os.Symlink("busybox", filepath.Join(root, "bin", a))
		}
	}
	libc := ""
	for prog := range dynamic {
		src, err := exec.LookPath(prog)
		if err != nil {
			return err
		}
		libs, err := CopyProgram(root, src, "/usr/bin/"+prog)
		if err != nil {
			return err
		}
		for _, l := range libs {
			if filepath.Base(l) == "libc.so.6" {
				libc = filepath.Join(root, l)
			}
		}
	}
	if libcTail != nil {
		if err := appendFile(libc, libcTail); err != nil {
			return err
		}
	}
	for name, lib := range hiders {
		if err := CopyFile(lib, filepath.Join(root, "usr/local/lib", "lib"+name+".so"), 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	return ImportRootfs(root, files, image, "/usr/bin:/bin")
}

// DynamicImage is the image of BuildDynamicImage without hiders, cached
// like Image.
const DynamicImage = "localhost/truesight-test-dyn:latest"

var (
	dynOnce sync.Once
	dynErr  error
)

// RequireDynamicImage needs podman and DynamicImage, built on first use.
func RequireDynamicImage(t testing.TB) {
	t.Helper()
	RequirePodman(t)
	dynOnce.Do(func() {
		if exec.Command("podman", "image", "exists", DynamicImage).Run() == nil {
			return
		}
		dynErr = BuildDynamicImage(DynamicImage, nil, nil)
	})
	if dynErr != nil {
		t.Fatalf("build test image %s: %v", DynamicImage, dynErr)
	}
}

// ContainerPid returns the host PID of a container's first process.
func ContainerPid(t testing.TB, id string) int {
	t.Helper()
	n, err := strconv.Atoi(Podman(t, "inspect", "-f", "{{.State.Pid}}", id))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// NSPid returns a host process's PID in its own (innermost) PID
// namespace, from the NSpid line of /proc/PID/status.
func NSPid(t testing.TB, hostPid int) int {
	t.Helper()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(hostPid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "NSpid:" {
			if n, err := strconv.Atoi(f[len(f)-1]); err == nil {
				return n
			}
		}
	}
	t.Fatalf("no NSpid in /proc/%d/status", hostPid)
	return 0
}

// WaitContainerProc waits until a process with comm runs in the container
// (its cgroup names the id) and returns its host PID.
func WaitContainerProc(t testing.TB, id, comm string) int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			c, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
			if string(bytes.TrimSpace(c)) != comm {
				continue
			}
			cg, _ := os.ReadFile("/proc/" + e.Name() + "/cgroup")
			if bytes.Contains(cg, []byte(id)) {
				return pid
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s process in container %.12s", comm, id)
	return 0
}
