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
