package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/testenv"
)

// truesight's own rules print the pod and namespace of the container, as
// Falco's -pk does for container fields: a write to ld.so.preload in a
// container that kubelet's labels place in pod web-0 of namespace prod,
// seen by the agent (the real binary: the agent passes over its own
// process's events) through a podman service that only DOCKER_HOST names.
func TestOwnRulesPrintThePodAndNamespace(t *testing.T) {
	testenv.RequireRoot(t)
	sock := testenv.PodmanService(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "truesight")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/truesight")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v: %s", err, out)
	}

	alertFile := filepath.Join(dir, "alerts.json")
	cmd := exec.Command(bin, "run", "--duration", "60s", "--json", "-o", "webserver.enabled=false",
		"-o", "stdout_output.enabled=false", "-o", "file_output.enabled=true", "-o", "file_output.filename="+alertFile,
		"--containerd-socket", "", "--cri-socket", "")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DOCKER_HOST=unix://" + sock}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	watching := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "truesight: watching") {
				close(watching)
			}
		}
	}()
	select {
	case <-watching:
	case <-time.After(30 * time.Second):
		t.Fatal("agent not watching within 30s")
	}

	id := testenv.StartContainer(t, "ts-cli-k8s-output", []string{
		"--label", "io.kubernetes.pod.name=web-0", "--label", "io.kubernetes.pod.namespace=prod",
	}, "sh", "-c", "echo /lib/ts-k8s.so >> /etc/ld.so.preload; sleep 60")

	var got map[string]any
	for deadline := time.Now().Add(30 * time.Second); got == nil; time.Sleep(100 * time.Millisecond) {
		data, _ := os.ReadFile(alertFile)
		if time.Now().After(deadline) {
			t.Fatalf("no Modify ld.so.preload alert from container %s within 30s:\n%s", id[:12], data)
		}
		for _, line := range bytes.Split(data, []byte("\n")) {
			var a map[string]any
			if json.Unmarshal(line, &a) != nil {
				continue
			}
			if f, _ := a["output_fields"].(map[string]any); a["rule"] == "Modify ld.so.preload" && f["container.id"] == id[:12] {
				got = a
			}
		}
	}
	f := got["output_fields"].(map[string]any)
	if f["k8s.ns.name"] != "prod" || f["k8s.pod.name"] != "web-0" {
		t.Errorf("output_fields k8s.ns.name=%v k8s.pod.name=%v, want prod web-0", f["k8s.ns.name"], f["k8s.pod.name"])
	}
	if out, _ := got["output"].(string); !strings.HasSuffix(out, " k8s_ns=prod k8s_pod_name=web-0)") {
		t.Errorf("output %q does not end with the pod and namespace", out)
	}
}
