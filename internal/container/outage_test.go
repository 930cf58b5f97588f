package container_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/testenv"
)

// lookupFast asserts that Lookup answers at once, whatever the runtime is
// doing, and returns what it answered.
func lookupFast(t *testing.T, reg *container.Registry, id string) *container.Info {
	t.Helper()
	start := time.Now()
	i := reg.Lookup(id)
	if d := time.Since(start); d > 10*time.Millisecond {
		t.Errorf("Lookup(%s) took %v: it must never wait on a runtime", id[:12], d)
	}
	return i
}

func TestDaemonKilledMidRunKeepsLookupsFastWarnsOnceAndReconnects(t *testing.T) {
	sock, stop := startPodmanService(t)
	reg, warns := runRegistry(t, container.Options{Docker: []string{sock}, MaxBackoff: 400 * time.Millisecond})

	before := testenv.StartContainer(t, "ts-outage-before", nil, "sleep", "1000")
	waitInfo(t, reg, before, started)

	stop()
	// Containers started while the daemon is away are unknown, without
	// blocking the caller; known ones keep their metadata.
	during := testenv.StartContainer(t, "ts-outage-during", nil, "sleep", "1000")
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if i := lookupFast(t, reg, before); i == nil || i.Name != "ts-outage-before" {
			t.Fatalf("metadata of a known container lost during the outage: %+v", i)
		}
		if i := lookupFast(t, reg, during); i != nil {
			t.Fatalf("metadata of %s from a dead daemon: %+v", during[:12], i)
		}
		time.Sleep(20 * time.Millisecond)
	}
	w := warns.list("WARN")
	if len(w) != 1 || !strings.Contains(w[0], sock) || !strings.Contains(w[0], "retrying with backoff") {
		t.Fatalf("want exactly one warning naming %s after several failed reconnections, got %q", sock, w)
	}
	for _, rt := range reg.Runtimes() {
		if rt.Connected {
			t.Errorf("runtime %s reported connected while its daemon is dead", rt.Socket)
		}
	}

	restartPodmanService(t, sock)
	got := waitInfo(t, reg, during, started)
	if got.Name != "ts-outage-during" || got.Type != "podman" {
		t.Errorf("after reconnection: %+v", got)
	}
	if i := lookupFast(t, reg, before); i == nil || i.Name != "ts-outage-before" {
		t.Errorf("known container after reconnection: %+v", i)
	}
	if w := warns.list("WARN"); len(w) != 1 {
		t.Errorf("warnings after reconnection: %q", w)
	}
	if info := warns.list("INFO"); len(info) != 1 || !strings.Contains(info[0], "answers again") {
		t.Errorf("want one note that the runtime answers again, got %q", info)
	}
}

func TestMissingSocketWarnsOnceAndIsPickedUpWhenItAppears(t *testing.T) {
	testenv.RequirePodman(t)
	sock := filepath.Join(t.TempDir(), "late.sock")
	reg, warns := runRegistry(t, container.Options{Docker: []string{sock}, MaxBackoff: 300 * time.Millisecond})
	time.Sleep(time.Second)
	w := warns.list("WARN")
	if len(w) != 1 || !strings.Contains(w[0], sock) || !strings.Contains(w[0], "no such file") {
		t.Fatalf("want exactly one warning about the missing socket, got %q", w)
	}

	restartPodmanService(t, sock)
	id := testenv.StartContainer(t, "ts-late-socket", nil, "sleep", "1000")
	if got := waitInfo(t, reg, id, started); got.Name != "ts-late-socket" {
		t.Errorf("got %+v", got)
	}
	if w := warns.list("WARN"); len(w) != 1 {
		t.Errorf("warnings: %q", w)
	}
}

func TestNoRuntimeAtAllGivesOneSummaryWarning(t *testing.T) {
	// Default sockets that do not exist are not an error each, but the
	// agent says once that no metadata will come.
	dir := t.TempDir()
	_, warns := runRegistryRaw(t, container.Options{HostRoot: dir})
	got := warns.list("WARN")
	if len(got) != 1 || !strings.Contains(got[0], "no container runtime answered") {
		t.Fatalf("want one summary warning, got %q", got)
	}
	for _, want := range []string{dir + "/run/docker.sock", dir + "/run/containerd/containerd.sock", dir + "/run/crio/crio.sock"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("warning does not name %s: %s", want, got[0])
		}
	}
}
