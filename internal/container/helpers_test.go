package container_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/testenv"
)

// startPodmanService serves podman's Docker-compatible API on a socket in a
// temporary directory and stops it (by its pid) when the test ends.
func startPodmanService(t *testing.T) (sock string, stop func()) {
	t.Helper()
	testenv.RequirePodman(t)
	sock = filepath.Join(t.TempDir(), "podman.sock")
	cmd := exec.Command("podman", "system", "service", "--time=0", "unix://"+sock)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start podman system service: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(stop)
	waitSocket(t, sock, &stderr)
	return sock, stop
}

// restartPodmanService serves the API again on the same socket.
func restartPodmanService(t *testing.T, sock string) (stop func()) {
	t.Helper()
	_ = os.Remove(sock)
	cmd := exec.Command("podman", "system", "service", "--time=0", "unix://"+sock)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("restart podman system service: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(stop)
	waitSocket(t, sock, &stderr)
	return stop
}

func waitSocket(t *testing.T, sock string, stderr *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", sock); err == nil {
			_ = c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not come up: %s", sock, stderr.String())
}

// warnings collects the registry's log records.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	w.mu.Lock()
	w.msgs = append(w.msgs, b.String())
	w.mu.Unlock()
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

func (w *warnings) list(level string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, m := range w.msgs {
		if strings.HasPrefix(m, level+" ") {
			out = append(out, m)
		}
	}
	return out
}

// runRegistry starts a registry and stops it when the test ends.
func runRegistry(t *testing.T, opts container.Options) (*container.Registry, *warnings) {
	t.Helper()
	if opts.Docker == nil {
		opts.Docker = []string{}
	}
	if opts.Containerd == nil {
		opts.Containerd = []string{}
	}
	if opts.CRI == nil {
		opts.CRI = []string{}
	}
	return runRegistryRaw(t, opts)
}

// runRegistryRaw starts a registry with the options as given (nil socket
// lists meaning the defaults).
func runRegistryRaw(t *testing.T, opts container.Options) (*container.Registry, *warnings) {
	t.Helper()
	w := &warnings{}
	opts.Logger = slog.New(w)
	reg := container.NewRegistry(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = reg.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-reg.Synced():
	case <-time.After(30 * time.Second):
		t.Fatal("registry did not finish its first sync")
	}
	return reg, w
}

// waitInfo polls Lookup until ok accepts the metadata.
func waitInfo(t *testing.T, reg *container.Registry, id string, ok func(*container.Info) bool) *container.Info {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		i := reg.Lookup(id)
		if i != nil && ok(i) {
			return i
		}
		if time.Now().After(deadline) {
			t.Fatalf("metadata of %s not complete in time: %+v", id, i)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func started(i *container.Info) bool { return i.StartTs != 0 }

// podmanJSON runs podman and decodes its JSON output.
func podmanJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := testenv.Podman(t, args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("podman %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func rfc3339(t *testing.T, s string) int64 {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("parse time %q: %v", s, err)
	}
	return ts.UnixNano()
}

// containerd is a containerd daemon the test started, with its own root,
// state and socket in a temporary directory.
type containerd struct {
	t    *testing.T
	dir  string
	sock string
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

// startContainerd starts containerd with the busybox test image imported
// into the given namespaces; stop and cleanup happen when the test ends
// (containers first, so that no mount or shim outlives the test).
func startContainerd(t *testing.T, configExtra string, namespaces ...string) *containerd {
	t.Helper()
	testenv.RequirePodman(t)
	for _, bin := range []string{"containerd", "ctr", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(bin); err != nil {
			testenv.Missing(t, "%s is not installed (apt-get install containerd)", bin)
		}
	}
	dir := t.TempDir()
	c := &containerd{t: t, dir: dir, sock: filepath.Join(dir, "containerd.sock"), log: &bytes.Buffer{}}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
%s`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock, c.sock+".ttrpc", configExtra)
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	// One cleanup for the daemon, whichever instance runs at the end; it
	// runs after the containers' cleanups, registered later.
	c.t.Cleanup(func() { c.kill() })
	c.start()
	archive := filepath.Join(dir, "bb.tar")
	testenv.Podman(t, "save", "--format", "oci-archive", "-o", archive, testenv.Image)
	for _, ns := range namespaces {
		c.ctr(ns, "images", "import", archive)
	}
	return c
}

func (c *containerd) start() {
	c.t.Helper()
	c.cmd = exec.Command("containerd", "--config", filepath.Join(c.dir, "config.toml"))
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		c.t.Fatalf("start containerd: %v", err)
	}
	waitSocket(c.t, c.sock, c.log)
}

// kill stops the daemon abruptly, as a crash would.
func (c *containerd) kill() {
	if c.cmd != nil && c.cmd.ProcessState == nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	}
}

// ctr runs ctr against this daemon in a namespace and returns its output.
func (c *containerd) ctr(ns string, args ...string) string {
	c.t.Helper()
	full := append([]string{"-a", c.sock, "-n", ns}, args...)
	out, err := exec.Command("ctr", full...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("ctr %s: %v: %s", strings.Join(full, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// run starts a detached container and removes it when the test ends.
func (c *containerd) run(ns, id string, flags []string, args ...string) {
	c.t.Helper()
	full := append([]string{"run", "-d"}, flags...)
	full = append(full, testenv.Image, id)
	full = append(full, args...)
	c.ctr(ns, full...)
	c.t.Cleanup(func() {
		for _, a := range [][]string{{"task", "kill", "-s", "KILL", id}, {"task", "delete", "-f", id}, {"containers", "delete", id}} {
			_ = exec.Command("ctr", append([]string{"-a", c.sock, "-n", ns}, a...)...).Run()
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// randomID returns a 64-hex container id, the form Kubernetes and Docker
// use and the cgroup parser recognises.
func randomID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	f, err := os.Open("/dev/urandom")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

// PauseImage is the test's stand-in for the Kubernetes pause image: the
// busybox image sleeping forever, for CRI pod sandboxes.
const PauseImage = "localhost/truesight-test-pause:latest"

var (
	pauseOnce sync.Once
	pauseErr  error
)

// requirePauseImage builds PauseImage with podman from the test image.
func requirePauseImage(t *testing.T) {
	t.Helper()
	testenv.RequirePodman(t)
	pauseOnce.Do(func() {
		if exec.Command("podman", "image", "exists", PauseImage).Run() == nil {
			return
		}
		dir, err := os.MkdirTemp("", "truesight-pause-")
		if err != nil {
			pauseErr = err
			return
		}
		defer func() { _ = os.RemoveAll(dir) }()
		file := "FROM " + testenv.Image + "\nCMD [\"sleep\", \"2147483647\"]\n"
		if err := os.WriteFile(filepath.Join(dir, "Containerfile"), []byte(file), 0o644); err != nil {
			pauseErr = err
			return
		}
		out, err := exec.Command("podman", "build", "--network=none", "-t", PauseImage, dir).CombinedOutput()
		if err != nil {
			pauseErr = fmt.Errorf("podman build: %v: %s", err, out)
		}
	})
	if pauseErr != nil {
		t.Fatalf("prepare pause image: %v", pauseErr)
	}
}

// importImage exports a podman image and imports it into containerd.
func (c *containerd) importImage(ns, image string) {
	c.t.Helper()
	archive := filepath.Join(c.dir, strings.NewReplacer("/", "_", ":", "_").Replace(image)+".tar")
	testenv.Podman(c.t, "save", "--format", "oci-archive", "-o", archive, image)
	c.ctr(ns, "images", "import", archive)
}
