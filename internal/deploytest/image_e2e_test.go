package deploytest

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/truesightsec/truesight/internal/testenv"
)

// agentImage is the agent's image built by scripts/image.sh (what `make
// image` runs) from a freshly built binary, once for the package's tests
// and removed by TestMain.
type agentImage struct {
	repo, tag string
	binSHA256 string // of the binary put into it
}

func (im agentImage) ref() string { return im.repo + ":" + im.tag }

var (
	imageOnce  sync.Once
	imageBuilt *agentImage
	imageErr   error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if imageBuilt != nil {
		_ = exec.Command("podman", "rmi", "-f", imageBuilt.ref(), imageBuilt.repo+":latest").Run()
	}
	os.Exit(code)
}

func buildAgentImage(t *testing.T) agentImage {
	t.Helper()
	testenv.RequirePodman(t)
	imageOnce.Do(func() {
		bin := testenv.Truesight(t)
		im := agentImage{repo: "localhost/ts-kube-truesight", tag: "e2e-" + strconv.Itoa(os.Getpid()), binSHA256: testenv.FileSHA256(t, bin)}
		cmd := exec.Command("bash", filepath.Join(moduleRoot(t), "scripts/image.sh"), bin, im.repo)
		cmd.Env = append(os.Environ(), "VERSION="+im.tag, "REVISION=e2e")
		if out, err := cmd.CombinedOutput(); err != nil {
			imageErr = fmt.Errorf("scripts/image.sh: %v\n%s", err, out)
			return
		}
		imageBuilt = &im
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	if imageBuilt == nil {
		t.Fatal("the agent image was not built (an earlier test failed building it)")
	}
	return *imageBuilt
}

// The image holds the static binary and the CA bundle and nothing else:
// no shell, no loader, no libc for a preload library to poison.
func TestImageHoldsExactlyTheBinaryAndCABundle(t *testing.T) {
	im := buildAgentImage(t)
	mnt := testenv.Podman(t, "image", "mount", im.ref())
	t.Cleanup(func() { _ = exec.Command("podman", "image", "unmount", im.ref()).Run() })
	var got []string
	err := filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(mnt, p)
		if rel != "." && !d.IsDir() {
			got = append(got, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"etc/ssl/certs/ca-certificates.crt", "usr/bin/truesight"}
	if !slices.Equal(got, want) {
		t.Fatalf("image files %q, want exactly %q", got, want)
	}
	if a, b := testenv.FileSHA256(t, filepath.Join(mnt, "usr/bin/truesight")), im.binSHA256; a != b {
		t.Errorf("the image's binary (sha256 %s) is not the one built (%s)", a, b)
	}
	if a, b := testenv.FileSHA256(t, filepath.Join(mnt, want[0])), testenv.FileSHA256(t, "/etc/ssl/certs/ca-certificates.crt"); a != b {
		t.Errorf("the image's CA bundle (sha256 %s) is not the host's (%s)", a, b)
	}
	if st, err := os.Stat(filepath.Join(mnt, "usr/bin/truesight")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("usr/bin/truesight: %v %v, want mode 0755", st.Mode(), err)
	}

	checks := map[string]string{
		"{{.Config.Entrypoint}}": "[/usr/bin/truesight]",
		"{{.Config.Cmd}}":        "[run --host-root /host]",
		`{{index .Labels "org.opencontainers.image.version"}}`:  im.tag,
		`{{index .Labels "org.opencontainers.image.revision"}}`: "e2e",
		`{{index .Labels "org.opencontainers.image.source"}}`:   "https://github.com/truesightsec/truesight",
	}
	for format, want := range checks {
		if got := testenv.Podman(t, "image", "inspect", "--format", format, im.ref()); got != want {
			t.Errorf("image %s = %q, want %q", format, got, want)
		}
	}
	t.Logf("image size: %s bytes", testenv.Podman(t, "image", "inspect", "--format", "{{.Size}}", im.ref()))
}

// runArgs are podman run's flags for a container with the chart's
// detect-tier privileges: the node's PID namespace and root (read-only),
// capabilities dropped but for caps, no privilege escalation, seccomp
// unconfined, a read-only root filesystem.
func runArgs(name string, caps []corev1.Capability) []string {
	add := make([]string, len(caps))
	for i, c := range caps {
		add[i] = string(c)
	}
	args := []string{"run", "--rm", "--name", name, "--pid", "host", "-v", "/:/host:ro", "--read-only",
		"--cap-drop", "ALL", "--security-opt", "seccomp=unconfined", "--security-opt", "no-new-privileges"}
	if len(add) > 0 {
		args = append(args, "--cap-add", strings.Join(add, ","))
	}
	return args
}

// preflight in the image passes with the detect tier's capabilities and,
// with any one of them removed, names it and exits non-zero.
func TestPreflightInTheImageNamesARemovedCapability(t *testing.T) {
	requireHelm(t)
	im := buildAgentImage(t)
	caps := agentContainer(t, render(t)).SecurityContext.Capabilities.Add
	name := "ts-kube-preflight-" + strconv.Itoa(os.Getpid())
	run := func(caps []corev1.Capability) (string, int) {
		args := append(runArgs(name, caps), im.ref(), "preflight", "--host-root", "/host", "--tier", "detect")
		out, err := exec.Command("podman", args...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("podman %v: %v", args, err)
		}
		return string(out), code
	}
	if out, code := run(caps); code != 0 {
		t.Fatalf("preflight with the detect tier's capabilities %v exited %d:\n%s", caps, code, out)
	}
	for i, c := range caps {
		if c == "SYS_RESOURCE" {
			continue // needed only before Linux 5.11, and preflight says so
		}
		t.Run(string(c), func(t *testing.T) {
			out, code := run(slices.Delete(slices.Clone(caps), i, i+1))
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			line := ""
			for l := range strings.SplitSeq(out, "\n") {
				if f := strings.Fields(l); len(f) >= 2 && f[0] == "CAP_"+string(c) {
					line = l
				}
			}
			if !strings.Contains(line, "missing") || !strings.Contains(line, "securityContext.capabilities.add") {
				t.Errorf("no missing line with what to do for CAP_%s:\n%s", c, out)
			}
			// The error lists what is missing: this capability and no other
			// (bpf() itself fails too without CAP_BPF).
			_, list, _ := strings.Cut(out, "preflight: missing for the detect tier: [")
			list, _, _ = strings.Cut(list, "]")
			var named []string
			for _, n := range strings.Fields(list) {
				if strings.HasPrefix(n, "CAP_") {
					named = append(named, n)
				}
			}
			if !slices.Equal(named, []string{"CAP_" + string(c)}) {
				t.Errorf("the error names capabilities %q, want [CAP_%s]:\n%s", named, c, out)
			}
		})
	}
}

// The scan in the detect tier (no CAP_SYS_ADMIN, no CAP_SETPCAP) runs a
// container's own tools under its root with no capability at all and
// no_new_privs: a library the container preloads into them (here one
// that writes down its privileges) gains nothing from the agent's.
func TestScanRunsContainerToolsWithoutCapabilities(t *testing.T) {
	requireHelm(t)
	im := buildAgentImage(t)
	testenv.RequireGCC(t)
	suffix := strconv.Itoa(os.Getpid())
	dir := t.TempDir()
	src, err := filepath.Abs("testdata/capdump.c")
	if err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(dir, "libcapdump.so")
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Fatalf("build capdump: %v\n%s", err, out)
	}
	image := "localhost/ts-kube-capdump:" + suffix
	if err := testenv.BuildDynamicImage(image, map[string]string{"capdump": lib}, nil); err != nil {
		t.Fatalf("build %s: %v", image, err)
	}
	t.Cleanup(func() { _ = exec.Command("podman", "rmi", "-f", image).Run() })
	name := "ts-kube-capdump-" + suffix
	_ = exec.Command("podman", "rm", "-f", "-t", "0", name).Run()
	id := testenv.Podman(t, "run", "-d", "--name", name, image, "sh", "-c",
		"echo /usr/local/lib/libcapdump.so > /etc/ld.so.preload && exec /usr/bin/sleep 1000")
	t.Cleanup(func() { _ = exec.Command("podman", "rm", "-f", "-t", "0", id).Run() })
	testenv.WaitContainerProc(t, id, "sleep")

	caps := agentContainer(t, render(t)).SecurityContext.Capabilities.Add
	args := append(runArgs("ts-kube-capscan-"+suffix, caps), im.ref(), "scan", "--host-root", "/host")
	out, _ := exec.Command("podman", args...).CombinedOutput()
	if !strings.Contains(string(out), "Library preloaded by configuration") {
		t.Fatalf("the scan did not report the container's preload file:\n%s", out)
	}
	dump := testenv.Podman(t, "exec", id, "cat", "/tmp/caps.txt")
	const none = "eff=0000000000000000 prm=0000000000000000 inh=0000000000000000 nnp=1"
	listings := 0
	for l := range strings.SplitSeq(dump, "\n") {
		if !strings.HasPrefix(l, "comm=ls ") {
			continue // the container's own sleep, with the container's privileges
		}
		listings++
		if !strings.HasSuffix(l, none) {
			t.Errorf("the scan's listing ran with privileges: %s", l)
		}
	}
	if listings == 0 {
		t.Fatalf("no listing of the scan loaded the container's preload library:\n%s\nscan:\n%s", dump, out)
	}
}
