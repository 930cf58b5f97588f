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

// liveAgent is the real truesight binary running `truesight run` with its
// alerts, as JSON lines, in a file. The binary, not Main in this process:
// the agent passes over its own process's events, and the containers a
// test starts descend from it.
type liveAgent struct {
	alerts string
	cmd    *exec.Cmd
}

// startAgent builds the binary and runs it with args after
// `run --json` and the outputs' keys, in env (PATH is added), until the
// test ends; it returns once the agent is watching.
func startAgent(t *testing.T, env []string, args ...string) *liveAgent {
	t.Helper()
	dir := t.TempDir()
	bin := testenv.Truesight(t)
	a := &liveAgent{alerts: filepath.Join(dir, "alerts.json")}
	cmd := exec.Command(bin, append([]string{"run", "--duration", "90s", "--json", "-o", "webserver.enabled=false",
		"-o", "stdout_output.enabled=false", "-o", "file_output.enabled=true", "-o", "file_output.filename=" + a.alerts}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a.cmd = cmd
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
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
	return a
}

// read returns the alerts written so far.
func (a *liveAgent) read() []map[string]any {
	data, _ := os.ReadFile(a.alerts)
	var out []map[string]any
	for _, line := range bytes.Split(data, []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// waitFor returns the first alert that match accepts, failing the test
// when none comes within 30s.
func (a *liveAgent) waitFor(t *testing.T, what string, match func(rule string, fields map[string]any) bool) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		for _, m := range a.read() {
			rule, _ := m["rule"].(string)
			f, _ := m["output_fields"].(map[string]any)
			if match(rule, f) {
				return m
			}
		}
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(a.alerts)
			t.Fatalf("no alert %s within 30s; alerts:\n%s", what, data)
		}
	}
}
