package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/testenv"
)

// driftAlert is what the tests read of a file drift alert.
type driftAlert struct {
	Rule   string         `json:"rule"`
	Output map[string]any `json:"output_fields"`
	Source string         `json:"source"`
	Tags   []string       `json:"tags"`
}

func (a driftAlert) field(k string) string {
	v, _ := a.Output[k].(string)
	return v
}

// startFimAgent runs `truesight run` with real-time FIM on, its database
// in a temporary directory, and waits until it watches each container
// (by full id).
func startFimAgent(t *testing.T, sock string, ids ...string) *testenv.Agent {
	t.Helper()
	bin := testenv.Truesight(t)
	dir := t.TempDir()
	a := testenv.StartAgent(t, bin, nil, "--json", "-o", "webserver.enabled=false",
		"-o", "truesight.fim.enabled=true", "-o", "truesight.fim.db="+filepath.Join(dir, "fim.db"),
		"-o", "truesight.fim.key_file="+filepath.Join(dir, "fim.key"), "-o", "truesight.scan_interval=0s",
		"--docker-socket", sock, "--containerd-socket", "", "--cri-socket", "")
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range ids {
		for !strings.Contains(a.Log(), `msg="fim: watching container" container=`+id[:12]) {
			if time.Now().After(deadline) {
				t.Fatalf("the agent does not watch %s:\n%s", id, a.Log())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return a
}

// driftAlerts returns the file drift alerts about the container with
// this short id.
func driftAlerts(t *testing.T, a *testenv.Agent, shortID string) []driftAlert {
	t.Helper()
	var out []driftAlert
	for _, l := range a.Lines() {
		var al driftAlert
		if json.Unmarshal([]byte(l), &al) != nil || al.Source != "truesight" || al.field("finding.container_id") != shortID {
			continue
		}
		out = append(out, al)
	}
	return out
}

func TestRunReportsEachFileDriftOfAContainerAsItHappensAndNothingElse(t *testing.T) {
	testenv.BuildImage(t, fimImage, fimImageFile)
	sock := testenv.PodmanService(t)
	id := fimContainer(t, "ts-fim-rt-a")
	a := startFimAgent(t, sock, id)
	steps := []struct {
		cmd, path, change, rule string
	}{
		{"echo /usr/local/lib/x.so >> /etc/ld.so.preload", "/etc/ld.so.preload", "modified", "Sensitive file drifted in a container"},
		{"echo x > /usr/local/bin/x", "/usr/local/bin/x", "added", "File drifted in a container"},
		{"chmod u+s /bin/busybox", "/bin/busybox", "metadata", "Sensitive file drifted in a container"},
		{"rm /etc/passwd", "/etc/passwd", "deleted", "Sensitive file drifted in a container"},
		// The new library is staged in /tmp, where the default rules
		// expect writes, and renamed over the old one.
		{"echo lib2 > /tmp/lib && mv /tmp/lib /usr/lib/libfoo.so.1", "/usr/lib/libfoo.so.1", "modified", "File drifted in a container"},
	}
	for _, s := range steps {
		start := time.Now()
		testenv.Podman(t, "exec", id, "sh", "-c", s.cmd)
		line, at, ok := a.WaitLine(10*time.Second, `"finding.container_id":"`+id[:12]+`"`, `"finding.path":"`+s.path+`"`, `"finding.change":"`+s.change+`"`)
		if !ok {
			t.Fatalf("%s: no %s finding for %s", s.cmd, s.change, s.path)
		}
		t.Logf("%s: alert %v after the command began", s.path, at.Sub(start).Round(time.Millisecond))
		var al driftAlert
		if err := json.Unmarshal([]byte(line), &al); err != nil {
			t.Fatal(err)
		}
		if al.Rule != s.rule || al.field("finding.container_id") != id[:12] || al.field("finding.container_name") != "ts-fim-rt-a" ||
			al.field("finding.container_image") != fimImage || al.field("finding.writer") == "" {
			t.Errorf("%s: alert %s", s.path, line)
		}
	}
	time.Sleep(500 * time.Millisecond) // anything else would have come by now
	got := map[string]bool{}
	for _, al := range driftAlerts(t, a, id[:12]) {
		got[al.field("finding.path")+" "+al.field("finding.change")] = true
	}
	if len(got) != len(steps) {
		t.Errorf("alerts about the container: %v, want only the %d changes", got, len(steps))
	}
}

func TestRunReportsASiblingsWriteThroughProcRootOnTheTargetNamingTheWriter(t *testing.T) {
	testenv.BuildImage(t, fimImage, fimImageFile)
	sock := testenv.PodmanService(t)
	pod := "ts-fim-rt-pod"
	_ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run()
	testenv.Podman(t, "pod", "create", "--name", pod, "--share", "pid")
	t.Cleanup(func() { _ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run() })
	side := fimContainer(t, "ts-fim-rt-side", "--pod", pod)
	web := fimContainer(t, "ts-fim-rt-web", "--pod", pod)
	a := startFimAgent(t, sock, side, web)
	// The sidecar's sleep as the pod's shared PID namespace numbers it.
	hostPid := testenv.Podman(t, "inspect", "-f", "{{.State.Pid}}", side)
	status, err := os.ReadFile("/proc/" + hostPid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var nsPid string
	for _, l := range strings.Split(string(status), "\n") {
		if f, ok := strings.CutPrefix(l, "NSpid:"); ok {
			fs := strings.Fields(f)
			nsPid = fs[len(fs)-1]
		}
	}
	if _, err := strconv.Atoi(nsPid); err != nil {
		t.Fatalf("NSpid of the sidecar: %q", nsPid)
	}
	// The writer stays a moment, so it is read while it lives.
	testenv.Podman(t, "exec", web, "sh", "-c", "echo /usr/local/lib/x.so >> /proc/"+nsPid+"/root/etc/ld.so.preload; sleep 1")
	line, _, ok := a.WaitLine(10*time.Second, `"finding.container_id":"`+side[:12]+`"`, `"finding.path":"/etc/ld.so.preload"`)
	if !ok {
		t.Fatalf("no finding for the sidecar's /etc/ld.so.preload")
	}
	var al driftAlert
	if err := json.Unmarshal([]byte(line), &al); err != nil {
		t.Fatal(err)
	}
	if al.field("finding.container_id") != side[:12] || al.field("finding.container_name") != "ts-fim-rt-side" ||
		al.field("container.id") != web[:12] || al.field("container.name") != "ts-fim-rt-web" ||
		!strings.Contains(al.field("finding.writer"), "in container "+web[:12]) || al.field("finding.change") != "modified" {
		t.Errorf("alert %s: want the sidecar %s as target and the web container %s as writer", line, side, web)
	}
	if n := len(driftAlerts(t, a, web[:12])); n != 0 {
		t.Errorf("%d drift alerts about the writer's own container", n)
	}
}
