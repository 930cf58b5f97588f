package posture

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/truesightsec/truesight/internal/testenv"
)

// Test images: a static program alone (what a distroless static image
// is), and bash, dpkg and sleep from the host with their libraries and
// the loader (a Debian-like image).
const (
	staticImage  = "localhost/ts-posture-static:test"
	dynamicImage = "localhost/ts-posture-dynamic:test"
)

// requireImages builds the test images and removes them when the test
// ends.
func requireImages(t *testing.T) {
	t.Helper()
	testenv.RequirePodman(t)
	t.Cleanup(func() { _ = exec.Command("podman", "rmi", "-f", staticImage, dynamicImage).Run() })
	if err := buildImages(); err != nil {
		t.Fatalf("build test images: %v", err)
	}
}

func buildImages() error {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return err
	}
	static, err := os.MkdirTemp("", "ts-posture-static-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(static)
	// busybox outside the bin directories, under a name no applet has:
	// a static program and nothing else.
	if _, err := testenv.CopyProgram(static, busybox, "/opt/app/busybox"); err != nil {
		return err
	}
	if err := testenv.ImportRootfs(static, nil, staticImage, "/opt/app"); err != nil {
		return err
	}
	dynamic, err := os.MkdirTemp("", "ts-posture-dynamic-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dynamic)
	for _, p := range []struct{ src, dst string }{{"/bin/bash", "/bin/bash"}, {"/usr/bin/dpkg", "/usr/bin/dpkg"}, {"/usr/bin/sleep", "/usr/bin/sleep"}} {
		if _, err := testenv.CopyProgram(dynamic, p.src, p.dst); err != nil {
			return err
		}
	}
	return testenv.ImportRootfs(dynamic, nil, dynamicImage, "/usr/bin:/bin")
}

func TestImageContentsOfRealContainers(t *testing.T) {
	requireImages(t)
	tests := []struct {
		name, image string
		args        []string
		want        Contents
		checks      []string
	}{
		{"busybox: a shell and its dpkg applet (rpm is the same file), no loader", testenv.Image, []string{"sleep", "600"},
			Contents{Shells: []string{"/bin/sh"}, PackageManagers: []string{"/bin/dpkg"}},
			[]string{ImageShell, ImagePackageMgr}},
		{"static program alone: nothing to poison", staticImage, []string{"/opt/app/busybox", "sleep", "600"},
			Contents{}, nil},
		{"dynamically linked: the loader, bash and dpkg", dynamicImage, []string{"/usr/bin/sleep", "600"},
			Contents{Loaders: []string{"/lib64/ld-linux-x86-64.so.2"}, Shells: []string{"/bin/bash"}, PackageManagers: []string{"/usr/bin/dpkg"}},
			[]string{ImageLoader, ImageShell, ImagePackageMgr}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := testenv.StartContainerOf(t, tt.image, "ts-posture-img"+string(rune('a'+i)), []string{"--read-only"}, tt.args...)
			pid := testenv.Podman(t, "inspect", "--format", "{{.State.Pid}}", id)
			got := InspectRoot(filepath.Join("/proc", pid, "root"))
			if !slices.Equal(got.Loaders, tt.want.Loaders) || !slices.Equal(got.Shells, tt.want.Shells) || !slices.Equal(got.PackageManagers, tt.want.PackageManagers) || got.Err != "" {
				t.Errorf("contents %+v, want %+v", got, tt.want)
			}
			var ids []string
			checkContents(got, func(id, msg string) { ids = append(ids, id) })
			if !slices.Equal(ids, tt.checks) {
				t.Errorf("checks %q, want %q", ids, tt.checks)
			}
		})
	}
}

// A root whose absolute symbolic links point at the host's files: they
// are resolved inside the root, so the host's loader and shell are not
// the image's.
func TestInspectRootStaysInsideTheRoot(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"lib64", "bin", "usr/bin", "lib"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"lib64/ld-linux-x86-64.so.2": "/lib64/ld-linux-x86-64.so.2", // to itself inside the root: missing
		"bin/sh":                     "/bin/bash",                   // missing inside the root
		"usr/bin/apt":                "../../../../../../usr/bin/apt",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	// A real file reached by two names counts once, by its first.
	if err := os.WriteFile(filepath.Join(root, "lib/ld-musl-x86_64.so.1"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/dash"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/bin/dash", filepath.Join(root, "usr/bin/sh")); err != nil {
		t.Fatal(err)
	}
	got := InspectRoot(root)
	if !slices.Equal(got.Loaders, []string{"/lib/ld-musl-x86_64.so.1"}) || !slices.Equal(got.Shells, []string{"/bin/dash"}) || len(got.PackageManagers) != 0 {
		t.Errorf("contents %+v", got)
	}
	if c := InspectRoot(filepath.Join(root, "missing")); c.Err == "" || !strings.Contains(c.Err, "no such file") {
		t.Errorf("missing root: %+v", c)
	}
}
