package scan

import (
	"bytes"
	"context"
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

	"github.com/truesightsec/truesight/internal/sensor"
	"github.com/truesightsec/truesight/internal/testenv"
)

// requireGCC needs gcc and the C headers to build the test's hider.
func requireGCC(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		testenv.Missing(t, "gcc is not installed (apt-get install gcc libc6-dev): the tests build their process hider with it")
	}
}

// buildHider compiles testdata/hider.c into a library that hides processes
// whose comm is name, and returns its path and sha256.
func buildHider(t testing.TB, dir, name string) (string, string) {
	t.Helper()
	requireGCC(t)
	src, err := filepath.Abs("testdata/hider.c")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "lib"+name+".so")
	cmd := exec.Command("gcc", "-shared", "-fPIC", "-O2", "-DHIDE_NAME=\""+name+"\"", "-o", out, src, "-ldl")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build hider: %v\n%s", err, b)
	}
	return out, fileSHA256(t, out)
}

func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var (
	kernelOnce sync.Once
	kernelSens *sensor.Sensor
	kernelErr  error
)

// kernelView opens the eBPF sensor once for the whole test binary: its
// task iterator is the scan's kernel view.
func kernelView(t testing.TB) KernelView {
	t.Helper()
	testenv.RequireRoot(t)
	kernelOnce.Do(func() {
		kernelSens, kernelErr = sensor.Open(sensor.Options{Syscalls: []string{"execve"}})
	})
	if kernelErr != nil {
		t.Fatalf("open sensor for the kernel view: %v", kernelErr)
	}
	return kernelSens
}

// pvmBlindSpot is PID 1 of this project's VMs (platform.md).
var pvmBlindSpot = []BlindSpot{{PID: 1, Comm: "process_api"}}

// scanOnce runs one scan with the kernel view.
func scanOnce(t testing.TB, s *Scanner) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := s.Scan(ctx)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	for _, n := range rep.Notes {
		t.Logf("note: %s", n)
	}
	return rep
}

// findings returns the findings of a kind that match.
func findings(rep *Report, kind string, match func(*Finding) bool) []*Finding {
	var out []*Finding
	for _, f := range rep.Findings {
		if f.Kind == kind && (match == nil || match(f)) {
			out = append(out, f)
		}
	}
	return out
}

func logFindings(t testing.TB, rep *Report) {
	t.Helper()
	for _, f := range rep.Findings {
		t.Logf("%s: %s\n    %s", f.Kind, f.Summary, strings.Join(f.Lines(), "\n    "))
	}
}

// startProcess starts a command and ends it (by its own PID) when the test
// ends.
func startProcess(t testing.TB, env []string, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// waitComm waits until /proc/<pid>/comm reads comm (the exec happened).
func waitComm(t testing.TB, pid int, comm string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		if string(bytes.TrimSpace(b)) == comm {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pid %d never became %s", pid, comm)
}

// psImage is a test image with dynamically linked ps, ls and sleep from the
// host (with the libraries ldd names), busybox for everything else, and
// hiders in /usr/local/lib for the given names.
const psImage = "localhost/truesight-scan-ps:test"

var (
	psImageOnce sync.Once
	psImageErr  error
)

func requirePsImage(t testing.TB, hiders map[string]string) {
	t.Helper()
	testenv.RequirePodman(t)
	requireGCC(t)
	psImageOnce.Do(func() { psImageErr = buildDynamicImage(psImage, hiders, nil) })
	if psImageErr != nil {
		t.Fatalf("build test image %s: %v", psImage, psImageErr)
	}
}

// ownLibcImage is psImage without hiders and with a libc of its own: the
// host's with bytes appended, so its sha256 is no file of the host's, as
// in an image of another distribution.
const ownLibcImage = "localhost/truesight-scan-ownlibc:test"

var (
	ownLibcOnce sync.Once
	ownLibcErr  error
)

func requireOwnLibcImage(t testing.TB) {
	t.Helper()
	testenv.RequirePodman(t)
	ownLibcOnce.Do(func() {
		ownLibcErr = buildDynamicImage(ownLibcImage, nil, []byte("\x00truesight: this image's own libc\n"))
	})
	if ownLibcErr != nil {
		t.Fatalf("build test image %s: %v", ownLibcImage, ownLibcErr)
	}
}

// buildDynamicImage builds an image with dynamically linked ps, ls and
// sleep from the host and the libraries ldd names; hiders maps a name to
// the compiled hider to put at /usr/local/lib/lib<name>.so, and libcTail,
// when set, is appended to the image's copy of libc.so.6.
func buildDynamicImage(image string, hiders map[string]string, libcTail []byte) error {
	root, err := os.MkdirTemp("", "truesight-scan-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
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
	if err := copyFile(busybox, filepath.Join(root, "bin/busybox"), 0o755); err != nil {
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
	for prog := range dynamic {
		src, err := exec.LookPath(prog)
		if err != nil {
			return err
		}
		if err := copyFile(src, filepath.Join(root, "usr/bin", prog), 0o755); err != nil {
			return err
		}
		out, err := exec.Command("ldd", src).Output()
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(out), "\n") {
			for _, f := range strings.Fields(line) {
				if !strings.HasPrefix(f, "/") {
					continue
				}
				dst := filepath.Join(root, f)
				if _, err := os.Stat(dst); err == nil {
					continue
				}
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					return err
				}
				if err := copyFile(f, dst, 0o755); err != nil {
					return err
				}
				if filepath.Base(f) == "libc.so.6" && libcTail != nil {
					if err := appendFile(dst, libcTail); err != nil {
						return err
					}
				}
			}
		}
	}
	for name, lib := range hiders {
		if err := copyFile(lib, filepath.Join(root, "usr/local/lib", "lib"+name+".so"), 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	return testenv.ImportRootfs(root, files, image, "/usr/bin:/bin")
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

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, mode)
}

// startPsContainer runs a detached container of psImage and removes it
// when the test ends.
func startPsContainer(t testing.TB, name string, extra []string, args ...string) string {
	t.Helper()
	_ = exec.Command("podman", "rm", "-f", "-t", "0", name).Run()
	runArgs := append([]string{"run", "-d", "--name", name}, extra...)
	runArgs = append(runArgs, psImage)
	runArgs = append(runArgs, args...)
	id := testenv.Podman(t, runArgs...)
	t.Cleanup(func() { _ = exec.Command("podman", "rm", "-f", "-t", "0", id).Run() })
	return id
}

// containerPid returns the host PID of a container's first process.
func containerPid(t testing.TB, id string) int {
	t.Helper()
	n, err := strconv.Atoi(testenv.Podman(t, "inspect", "-f", "{{.State.Pid}}", id))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
