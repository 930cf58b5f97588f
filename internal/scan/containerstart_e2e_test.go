package scan

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/testenv"
)

// containerStarts is how many containers the container-start test starts
// and stops (issue 12's requirement), startParallel how many at once.
const (
	containerStarts = 100
	startParallel   = 4
)

// jsonAlert is one of the agent's --json alert lines.
type jsonAlert struct {
	Rule         string         `json:"rule"`
	Priority     string         `json:"priority"`
	Source       string         `json:"source"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
}

func (a *jsonAlert) field(name string) string {
	v, ok := a.OutputFields[name]
	if !ok || v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// atLeastWarning are Falco's priorities from Warning up.
var atLeastWarning = []string{"Emergency", "Alert", "Critical", "Error", "Warning"}

// runtimeComms are the comms of the container runtime's processes on the
// host, used only to attribute an alert on the host to this test's
// container starts (the agent judges by identity, the test's filter may
// over-include).
var runtimeComms = []string{"podman", "conmon", "runc", "runc:[0:PARENT]", "runc:[1:CHILD]", "runc:[2:INIT]", "crun", "catatonit", "exe"}

// Plain container starts and stops raise nothing: 100 containers of the
// busybox image and of a dynamically linked image (host ps, ls and sleep
// with their libraries), alone and in pods with and without a shared PID
// namespace, started in parallel batches while the churn generator forks
// hundreds of short-lived processes per second, under a real `truesight
// run` that scans every second and at once for each new container: no
// finding about them and no alert of priority Warning or above.
func TestPlainContainerStartsRaiseNothing(t *testing.T) {
	testenv.RequirePodman(t)
	requirePsImage(t, imageHiders(t))
	requireOwnLibcImage(t)
	dir := t.TempDir()

	bin := testenv.Truesight(t)
	churn := buildTool(t, dir, "churn", "-pthread")
	churnCmd := startProcess(t, nil, churn, "300", "3600")

	tag := "ts-cstart-" + strconv.Itoa(os.Getpid())
	pods := map[string][]string{tag + "-pidpod": {"--share", "pid"}, tag + "-pod": nil}
	for pod, extra := range pods {
		_ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run()
		testenv.Podman(t, append([]string{"pod", "create", "--name", pod}, extra...)...)
		t.Cleanup(func() { _ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run() })
	}

	agent := testenv.StartAgent(t, bin, nil, "--scan-interval", "1s", "--json", "-o", "webserver.enabled=false",
		"--docker-socket", "", "--containerd-socket", "", "--cri-socket", "")
	var mu sync.Mutex
	// The scans of the agent's first seconds look at the machine as it is;
	// let one pass before the starts.
	time.Sleep(2 * time.Second)

	// Each start runs one container to its end and removes it.
	type start struct {
		name, image, pod string
		args             []string
	}
	images := []struct {
		image string
		args  []string
	}{
		{testenv.Image, []string{"sh", "-c", "ps >/dev/null; ls / >/dev/null; sleep 1"}},
		{psImage, []string{"sh", "-c", "/usr/bin/ps -A >/dev/null; /usr/bin/ls / >/dev/null; exec /usr/bin/sleep 1"}},
		{ownLibcImage, []string{"sh", "-c", "/usr/bin/ps -A >/dev/null; /usr/bin/ls / >/dev/null; exec /usr/bin/sleep 1"}},
	}
	podNames := []string{"", tag + "-pidpod", tag + "-pod"}
	var starts []start
	for i := 0; i < containerStarts; i++ {
		im := images[i%len(images)]
		starts = append(starts, start{name: fmt.Sprintf("%s-%d", tag, i), image: im.image, pod: podNames[(i/len(images))%len(podNames)], args: im.args})
	}
	ids := map[string]bool{}
	for pod := range pods {
		// The pods' infra containers.
		ids[testenv.Podman(t, "pod", "inspect", "-f", "{{.InfraContainerID}}", pod)[:12]] = true
	}
	var failed []string
	began := time.Now()
	sem := make(chan struct{}, startParallel)
	var wg sync.WaitGroup
	for _, st := range starts {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cid := filepath.Join(dir, st.name+".cid")
			args := []string{"run", "--rm", "--name", st.name, "--cidfile", cid}
			if st.pod != "" {
				args = append(args, "--pod", st.pod)
			}
			args = append(append(args, st.image), st.args...)
			out, err := exec.Command("podman", args...).CombinedOutput()
			b, _ := os.ReadFile(cid)
			mu.Lock()
			defer mu.Unlock()
			if id := strings.TrimSpace(string(b)); len(id) >= 12 {
				ids[id[:12]] = true
			}
			if err != nil {
				failed = append(failed, fmt.Sprintf("%s: %v: %s", st.name, err, out))
			}
		}()
	}
	wg.Wait()
	startsTook := time.Since(began)
	// Two more scans see the last containers gone.
	time.Sleep(3 * time.Second)
	agent.Stop()
	lines := agent.Lines()
	_ = churnCmd.Process.Kill()
	if len(failed) > 0 {
		t.Fatalf("%d of %d container starts failed:\n%s", len(failed), len(starts), strings.Join(failed, "\n"))
	}
	if len(ids) != len(starts)+len(pods) {
		t.Fatalf("%d container ids recorded, want %d", len(ids), len(starts)+len(pods))
	}

	// Alerts about this test's containers, or on the host by the container
	// runtime, are the test's; the rest is whatever else runs on the
	// machine (other tests), counted apart.
	byPriority := map[string]int{}
	var ours, others []string
	findingsOurs, warnOurs := 0, 0
	for _, line := range lines {
		var a jsonAlert
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("bad JSON alert %q: %v", line, err)
		}
		cid := a.field("container.id")
		_, printsPid := a.OutputFields["proc.pid"]
		mine := ids[cid] ||
			(a.Source == "truesight" && printsPid && (a.field("proc.pid") == "" || a.field("proc.pid") == "0")) ||
			((cid == "host" || cid == "") && (slices.Contains(runtimeComms, a.field("proc.name")) || strings.Contains(a.Output, tag)))
		if !mine {
			others = append(others, a.Priority+" "+a.Rule+": "+a.Output)
			continue
		}
		byPriority[a.Priority]++
		if a.Source == "truesight" {
			findingsOurs++
		}
		if slices.Contains(atLeastWarning, a.Priority) {
			warnOurs++
		}
		if a.Source == "truesight" || slices.Contains(atLeastWarning, a.Priority) {
			ours = append(ours, a.Priority+" "+a.Rule+": "+a.Output)
		}
	}
	prios := []string{}
	for p, n := range byPriority {
		prios = append(prios, fmt.Sprintf("%s=%d", p, n))
	}
	sort.Strings(prios)
	t.Logf("%d container starts (%d at once, %s) under churn; the agent printed %d alerts; about this test's containers: %d findings, %d alerts of Warning or above (all priorities: %v); %d about other activity on the machine",
		len(starts), startParallel, startsTook.Round(time.Second), len(lines), findingsOurs, warnOurs, prios, len(others))
	for _, o := range others {
		t.Logf("not this test's: %s", o)
	}
	if len(ours) > 0 {
		t.Fatalf("%d findings or alerts of priority Warning or above about plain container starts, want none:\n%s", len(ours), strings.Join(ours, "\n"))
	}
}
