// Package testenv prepares what truesight's kernel and container tests
// need on the test machine: root, a kernel with BTF, podman with a tiny
// busybox image. A missing prerequisite skips the test with the reason,
// except in CI (CI=true), where it fails: a required test must not pass by
// skipping.
package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Missing skips the test, or fails it in CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("required test prerequisite missing in CI: %s", msg)
	}
	t.Skip(msg)
}

// RequireRoot needs root and BTF (the eBPF sensor's prerequisites).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root to load eBPF programs")
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		Missing(t, "kernel has no BTF (/sys/kernel/btf/vmlinux): %v", err)
	}
}

// Image is the local busybox image the container tests run.
const Image = "localhost/truesight-test-bb:latest"

var (
	imageOnce sync.Once
	imageErr  error
)

// containersConf is the configuration platform.md says podman needs here:
// the cgroupfs manager (hybrid cgroups) and runc, with ulimits the VM allows.
const containersConf = `[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
[containers]
default_ulimits = ["nofile=1024:1024","nproc=4096:4096"]
`

// RequirePodman needs root, podman and the busybox test image, which it
// builds from the host's busybox-static on first use.
func RequirePodman(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	if _, err := exec.LookPath("podman"); err != nil {
		Missing(t, "podman is not installed (apt-get install podman runc busybox-static)")
	}
	imageOnce.Do(func() { imageErr = buildImage() })
	if imageErr != nil {
		t.Fatalf("prepare test image: %v", imageErr)
	}
}

func buildImage() error {
	if err := os.MkdirAll("/etc/containers", 0o755); err != nil {
		return err
	}
	if _, err := os.Stat("/etc/containers/containers.conf"); os.IsNotExist(err) {
		if err := os.WriteFile("/etc/containers/containers.conf", []byte(containersConf), 0o644); err != nil {
			return err
		}
	}
	if err := exec.Command("podman", "image", "exists", Image).Run(); err == nil {
		return nil
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("busybox-static is not installed: %w", err)
	}
	root, err := os.MkdirTemp("", "truesight-image-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(root) }()
	for _, d := range []string{"bin", "etc", "tmp", "root", "var/log", "dev/shm"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		return err
	}
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		_ = os.Symlink("busybox", filepath.Join(root, "bin", applet))
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nwww:x:101:101:web:/var/www:/bin/sh\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\nwww:x:101:\n",
		"etc/shadow": "root:*:19000:0:99999:7:::\n",
	}
	return ImportRootfs(root, files, Image, "/bin")
}

// ImportRootfs writes files (path relative to root -> content) into the
// root filesystem at root and imports it into podman as image, with PATH
// set to path.
func ImportRootfs(root string, files map[string]string, image, path string) error {
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	tar := exec.Command("tar", "-C", root, "-c", ".")
	imp := exec.Command("podman", "import", "--change", "ENV=PATH="+path, "-", image)
	pipe, err := tar.StdoutPipe()
	if err != nil {
		return err
	}
	imp.Stdin = pipe
	var stderr bytes.Buffer
	imp.Stderr = &stderr
	if err := tar.Start(); err != nil {
		return err
	}
	if err := imp.Run(); err != nil {
		return fmt.Errorf("podman import: %v: %s", err, stderr.String())
	}
	return tar.Wait()
}

// CopyProgram copies the host's program src to dst inside the root
// filesystem at root, with the shared libraries and the loader ldd names
// at their own paths (a library already in the root is kept). It returns
// the libraries' paths inside the root, for images with a dynamically
// linked program; none for a static one.
func CopyProgram(root, src, dst string) ([]string, error) {
	if err := os.MkdirAll(filepath.Dir(filepath.Join(root, dst)), 0o755); err != nil {
		return nil, err
	}
	if err := CopyFile(src, filepath.Join(root, dst), 0o755); err != nil {
		return nil, err
	}
	out, err := exec.Command("ldd", src).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil, nil // static: nothing more to copy
		}
		return nil, fmt.Errorf("ldd %s: %w: %s", src, err, out)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		for _, f := range strings.Fields(line) {
			if !strings.HasPrefix(f, "/") {
				continue
			}
			libs = append(libs, f)
			d := filepath.Join(root, f)
			if _, err := os.Stat(d); err == nil {
				continue
			}
			if err := os.MkdirAll(filepath.Dir(d), 0o755); err != nil {
				return nil, err
			}
			if err := CopyFile(f, d, 0o755); err != nil {
				return nil, err
			}
		}
	}
	return libs, nil
}

// Podman runs podman and returns its trimmed stdout, failing the test on
// error.
func Podman(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command("podman", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("podman %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// StartContainer starts a detached container running args in the test
// image and removes it when the test ends. It returns the full id.
func StartContainer(t testing.TB, name string, extra []string, args ...string) string {
	t.Helper()
	return StartContainerOf(t, Image, name, extra, args...)
}

// StartContainerOf is StartContainer with another image.
func StartContainerOf(t testing.TB, image, name string, extra []string, args ...string) string {
	t.Helper()
	_ = exec.Command("podman", "rm", "-f", "-t", "0", name).Run()
	runArgs := append([]string{"run", "-d", "--name", name}, extra...)
	runArgs = append(runArgs, image)
	runArgs = append(runArgs, args...)
	id := Podman(t, runArgs...)
	t.Cleanup(func() { _ = exec.Command("podman", "rm", "-f", "-t", "0", id).Run() })
	return id
}

// PodmanService serves podman's Docker-compatible API on a unix socket in
// a temporary directory until the test ends, and returns the socket path.
func PodmanService(t testing.TB) string {
	t.Helper()
	RequirePodman(t)
	sock := filepath.Join(t.TempDir(), "podman.sock")
	cmd := exec.Command("podman", "system", "service", "--time=0", "unix://"+sock)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start podman system service: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", sock); err == nil {
			_ = c.Close()
			return sock
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("podman system service did not listen on %s: %s", sock, stderr.String())
	return ""
}

// ConformanceDir returns the shared conformance data directory: the
// TRUESIGHT_CONFORMANCE_DIR variable, or shared/conformance beside the
// repository (../shared/conformance from the module root, found from the
// test's directory whatever its depth). Missing data skips the test with
// the reason, or fails it in CI. Every test that reads the data finds it
// here.
func ConformanceDir(t testing.TB) string {
	t.Helper()
	dir, err := conformanceDir()
	if err != nil {
		Missing(t, "%v", err)
	}
	return dir
}

func conformanceDir() (string, error) {
	dir := os.Getenv("TRUESIGHT_CONFORMANCE_DIR")
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", fmt.Errorf("conformance data not found (set TRUESIGHT_CONFORMANCE_DIR): %w", err)
		}
		dir = filepath.Join(filepath.Dir(root), "shared", "conformance")
	}
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("conformance data missing at %s (set TRUESIGHT_CONFORMANCE_DIR): %w", dir, err)
	}
	return dir, nil
}

// moduleRoot is the nearest directory at or above the working directory
// (a test's package directory) that holds go.mod.
func moduleRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod in %s or above", wd)
		}
	}
}

// Captures returns the scap capture files of the conformance data.
func Captures(t testing.TB) []string {
	t.Helper()
	dir := filepath.Join(ConformanceDir(t), "scap")
	files, _ := filepath.Glob(filepath.Join(dir, "*.scap"))
	if len(files) == 0 {
		Missing(t, "no captures in %s (set TRUESIGHT_CONFORMANCE_DIR)", dir)
	}
	return files
}

// Sysdig returns the path of Debian's sysdig, the reference capture reader.
func Sysdig(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("sysdig")
	if err != nil {
		Missing(t, "sysdig is not installed (apt-get install sysdig)")
	}
	return p
}

// Truesight builds the truesight command (static, as `make build` does)
// into the test's temporary directory and returns its path, for tests
// that run the agent as users do.
func Truesight(t testing.TB) string {
	t.Helper()
	bin, err := BuildTruesight(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// BuildTruesight builds the truesight command into dir and returns its
// path, for a test binary whose tests share one build.
func BuildTruesight(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("find the module root: %w", err)
	}
	bin := filepath.Join(dir, "truesight")
	build := exec.Command("go", "build", "-o", bin, "./cmd/truesight")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build truesight: %v\n%s", err, out)
	}
	return bin, nil
}

var (
	builtMu sync.Mutex
	built   = map[string]error{}
)

// BuildImage builds image (e.g. localhost/ts-<task>-img:latest) once per
// test process from a Containerfile text (FROM Image and RUN steps work
// offline) and returns its name. RemoveBuiltImages, called from TestMain,
// removes what was built.
func BuildImage(t testing.TB, image, containerfile string) string {
	t.Helper()
	RequirePodman(t)
	builtMu.Lock()
	defer builtMu.Unlock()
	err, ok := built[image]
	if !ok {
		err = buildFrom(image, containerfile)
		built[image] = err
	}
	if err != nil {
		t.Fatalf("build image %s: %v", image, err)
	}
	return image
}

func buildFrom(image, containerfile string) error {
	dir, err := os.MkdirTemp("", "truesight-build-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(containerfile), 0o644); err != nil {
		return err
	}
	if out, err := exec.Command("podman", "build", "-q", "-t", image, dir).CombinedOutput(); err != nil {
		return fmt.Errorf("podman build: %v: %s", err, out)
	}
	return nil
}

// RemoveBuiltImages removes the images BuildImage built in this process.
func RemoveBuiltImages() {
	builtMu.Lock()
	defer builtMu.Unlock()
	for image, err := range built {
		if err == nil {
			_ = exec.Command("podman", "rmi", "-f", image).Run()
		}
	}
}
