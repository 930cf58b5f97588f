package fim

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/testenv"
)

// testImage is an image of two layers: the busybox test image, and one
// that adds an (empty) /etc/ld.so.preload, a library and /usr/local/bin.
const testImage = "localhost/ts-fim-img:latest"

// TestImageFile is the Containerfile of testImage.
const testImageFile = "FROM " + testenv.Image + "\nRUN mkdir -p /usr/local/bin /usr/lib && touch /etc/ld.so.preload && echo lib1 > /usr/lib/libfoo.so.1\n"

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuiltImages()
	os.Exit(code)
}

func requireImage(t *testing.T) { testenv.BuildImage(t, testImage, testImageFile) }

// startContainer runs a container of the test image that sleeps, and
// returns it as the FIM sees it.
func startContainer(t *testing.T, name string) *Container {
	t.Helper()
	_ = exec.Command("podman", "rm", "-f", "-t", "0", name).Run()
	id := testenv.Podman(t, "run", "-d", "--name", name, testImage, "sleep", "1000")
	t.Cleanup(func() { _ = exec.Command("podman", "rm", "-f", "-t", "0", id).Run() })
	pid, err := strconv.Atoi(testenv.Podman(t, "inspect", "-f", "{{.State.Pid}}", id))
	must(t, err)
	ov, err := container.ReadOverlay("/proc", pid)
	must(t, err)
	return &Container{ID: id, Name: name, Image: testImage, Pid: pid, Overlay: ov}
}

func TestDriftOfAContainerIsEachChangeOfItsUpperLayerAndNothingElse(t *testing.T) {
	requireImage(t)
	s, _, _ := newStore(t)
	m := &Monitor{Store: s}
	c := startContainer(t, "ts-fim-drift")
	if len(c.Overlay.Lower) != 2 {
		t.Fatalf("lower layers %v, want the image's 2", c.Overlay.Lower)
	}
	cs, created, err := m.Drift(context.Background(), c)
	must(t, err)
	if len(cs) != 0 || len(created) != 2 {
		t.Fatalf("a fresh container: changes %+v, layers baselined %v", cs, created)
	}
	testenv.Podman(t, "exec", c.ID, "sh", "-c", strings.Join([]string{
		"echo /usr/local/lib/x.so >> /etc/ld.so.preload",
		"echo x > /usr/local/bin/x && chmod 755 /usr/local/bin/x",
		"chmod u+s /bin/busybox",
		"rm /etc/passwd",
		"echo lib2 > /usr/lib/libfoo.so.1.new && mv /usr/lib/libfoo.so.1.new /usr/lib/libfoo.so.1",
	}, " && "))
	cs, created, err = m.Drift(context.Background(), c)
	must(t, err)
	if len(created) != 0 {
		t.Errorf("layers baselined again: %v", created)
	}
	want := map[string]Kind{
		"/etc/ld.so.preload":   Modified,
		"/usr/local/bin/x":     Added,
		"/bin/busybox":         Metadata,
		"/etc/passwd":          Deleted,
		"/usr/lib/libfoo.so.1": Modified,
	}
	got := kinds(cs)
	if len(cs) != len(want) {
		t.Errorf("%d changes, want %d: %+v", len(cs), len(want), cs)
	}
	for p, k := range want {
		if got[p] != k {
			t.Errorf("%s: %q, want %q", p, got[p], k)
		}
	}
	for _, ch := range cs {
		switch ch.Path {
		case "/bin/busybox":
			if ch.Old.Mode != 0o755 || ch.New.Mode != 0o4755 || !slices.Equal(ch.Attrs, []string{"mode"}) {
				t.Errorf("busybox: %o -> %o %v", ch.Old.Mode, ch.New.Mode, ch.Attrs)
			}
		case "/etc/ld.so.preload", "/usr/lib/libfoo.so.1":
			// The file came from the image's second layer: the topmost.
			if ch.Layer == "" || !strings.Contains(ch.Layer, mustLayer(t, c.Overlay.Lower[0])) {
				t.Errorf("%s: layer %q, want the image's top layer %s", ch.Path, ch.Layer, c.Overlay.Lower[0])
			}
			if ch.Old.Digest == ch.New.Digest {
				t.Errorf("%s: digest unchanged", ch.Path)
			}
		}
	}
	// One path at a time (the real-time path) agrees.
	ids, _, err := m.Layers(context.Background(), c)
	must(t, err)
	one, err := m.DriftPath(context.Background(), c, ids, "/etc/passwd")
	must(t, err)
	if len(one) != 1 || one[0].Kind != Deleted {
		t.Errorf("DriftPath /etc/passwd = %+v", one)
	}
	one, err = m.DriftPath(context.Background(), c, ids, "/etc/group")
	must(t, err)
	if len(one) != 0 {
		t.Errorf("DriftPath of an untouched file = %+v", one)
	}
	// Accepting a change takes it out of the drift.
	for _, ch := range cs {
		if ch.Path == "/usr/local/bin/x" {
			must(t, s.AcceptContainer(c.ID, ch.Path, ch.New, ch.Kind, "test"))
		}
	}
	cs, _, err = m.Drift(context.Background(), c)
	must(t, err)
	if _, ok := kinds(cs)["/usr/local/bin/x"]; ok || len(cs) != 4 {
		t.Errorf("after accepting /usr/local/bin/x: %+v", cs)
	}
}

func mustLayer(t *testing.T, lower string) string {
	t.Helper()
	_, real, _, _, err := LayerID(lower)
	must(t, err)
	return real
}

func TestAnOpaqueDirectoryDeletesWhatTheLayersBelowHeld(t *testing.T) {
	requireImage(t)
	s, _, _ := newStore(t)
	m := &Monitor{Store: s}
	c := startContainer(t, "ts-fim-opaque")
	// rm -rf and mkdir again: overlayfs makes /usr/lib an opaque directory.
	testenv.Podman(t, "exec", c.ID, "sh", "-c", "rm -rf /usr/lib && mkdir /usr/lib && echo new > /usr/lib/other")
	cs, _, err := m.Drift(context.Background(), c)
	must(t, err)
	got := kinds(cs)
	if got["/usr/lib/libfoo.so.1"] != Deleted || got["/usr/lib/other"] != Added || len(cs) != 2 {
		t.Errorf("changes %+v", cs)
	}
}

func TestTenContainersOfOneImageShareOneBaselinePerLayer(t *testing.T) {
	requireImage(t)
	s, _, _ := newStore(t)
	m := &Monitor{Store: s}
	made := 0
	for i := range 10 {
		c := startContainer(t, "ts-fim-ten-"+strconv.Itoa(i))
		_, created, err := m.Layers(context.Background(), c)
		must(t, err)
		made += len(created)
	}
	bls, bad, err := s.Baselines()
	must(t, err)
	if len(bad) != 0 || len(bls) != 2 || made != 2 {
		t.Fatalf("%d baselines (%d made), want one per layer of the image (2): %v", len(bls), made, bls)
	}
	for _, bl := range bls {
		if bl.Kind != "layer" || bl.Images[0] != testImage || bl.Entries == 0 {
			t.Errorf("baseline %+v", bl)
		}
	}
}

func TestAContainerRemovedDuringTheCheckIsNotExistNotACrash(t *testing.T) {
	requireImage(t)
	s, _, _ := newStore(t)
	m := &Monitor{Store: s}
	c := startContainer(t, "ts-fim-gone")
	_, _, err := m.Layers(context.Background(), c)
	must(t, err)
	testenv.Podman(t, "rm", "-f", "-t", "0", c.ID)
	_, _, err = m.Drift(context.Background(), c)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("drift of a removed container: %v, want not exist", err)
	}
}

func TestALayerChangedOnTheNodeIsReportedOnceWithEveryContainerUsingIt(t *testing.T) {
	requireImage(t)
	s, _, _ := newStore(t)
	m := &Monitor{Store: s}
	a := startContainer(t, "ts-fim-layer-a")
	b := startContainer(t, "ts-fim-layer-b")
	a.Name, b.Name = "ts-fim-layer-a", "ts-fim-layer-b"
	if rep := m.Check(context.Background(), nil, []*Container{a, b}, false); rep.Changes() != 0 || len(rep.Errors) != 0 {
		t.Fatalf("clean node: %+v", rep)
	}
	// Tamper with the image's own top layer on the node (this test's
	// image only), and put it back afterwards.
	_, top, _, _, err := LayerID(a.Overlay.Lower[0])
	must(t, err)
	lib := top + "/usr/lib/libfoo.so.1"
	orig, err := os.ReadFile(lib)
	must(t, err)
	t.Cleanup(func() { _ = os.WriteFile(lib, orig, 0o644) })
	must(t, os.WriteFile(lib, []byte("evil\n"), 0o644))
	rep := m.Check(context.Background(), nil, []*Container{a, b}, false)
	if len(rep.Layers) != 1 || rep.Layers[0].Path != top || !slices.Equal(rep.Layers[0].Containers, []string{"ts-fim-layer-a", "ts-fim-layer-b"}) {
		t.Fatalf("layers %+v", rep.Layers)
	}
	if ch := rep.Layers[0].Changes; len(ch) != 1 || ch[0].Path != "/usr/lib/libfoo.so.1" || ch[0].Kind != Modified {
		t.Errorf("layer changes %+v", ch)
	}
	for _, c := range rep.Containers {
		if len(c.Changes) != 0 {
			t.Errorf("container %s has drift %+v: the layer's change is the layer's, reported once", c.Name, c.Changes)
		}
	}
}
