package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/testenv"
)

// agentConfig writes a configuration that loads one rules file and sends
// JSON alerts to a file, and loads it as `truesight run -c` would.
func agentConfig(t *testing.T, dir, name, rulesFile, alerts string) *config.Config {
	t.Helper()
	path := filepath.Join(dir, name)
	text := fmt.Sprintf(`rules_files: [%s]
json_output: true
stdout_output:
  enabled: false
file_output:
  enabled: true
  filename: %s
webserver:
  enabled: false
`, rulesFile, alerts)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.Load(path, nil)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return cfg
}

func writeRule(t *testing.T, dir, file, name, marker string) string {
	t.Helper()
	path := filepath.Join(dir, file)
	text := fmt.Sprintf("- rule: %s\n  desc: opens of the test's marker\n  condition: evt.type in (open, openat) and fd.name startswith %s\n  output: %s opened %%fd.name\n  priority: WARNING\n", name, marker, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// alertRules reads the rule and fd.name of each JSON alert in the file.
func alertRules(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var a struct {
			Rule   string            `json:"rule"`
			Fields map[string]string `json:"output_fields"`
		}
		if err := json.Unmarshal(line, &a); err != nil {
			t.Fatalf("alert %q: %v", line, err)
		}
		names = append(names, a.Rule+" "+a.Fields["fd.name"])
	}
	return names
}

// The assembly as `truesight run` uses it: New from a configuration, Run,
// Reload with another configuration whose rules file differs, and the
// alerts of each rule set in the configured output, flushed when Run ends.
func TestAgentAlertsThroughItsOutputsAndReloadTakesTheNewConfigurationsRules(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	marker := filepath.Join(dir, "marker")
	alerts := filepath.Join(dir, "alerts.json")
	first := agentConfig(t, dir, "first.yaml", writeRule(t, dir, "a.yaml", "Open A", marker), alerts)
	second := agentConfig(t, dir, "second.yaml", writeRule(t, dir, "b.yaml", "Open B", marker), alerts)

	var diag bytes.Buffer
	a, err := New(first, Options{NoDefaultRules: true, Stderr: &diag,
		Containers: container.Options{Docker: []string{}, Containerd: []string{}, CRI: []string{}}})
	if err != nil {
		t.Fatalf("New: %v\n%s", err, diag.String())
	}
	if st := a.Started(); st.Rules != 1 || st.Outputs != 1 || st.Processes == 0 {
		t.Errorf("Started() = %d rules, %d outputs, %d processes; want 1, 1 and the host's", st.Rules, st.Outputs, st.Processes)
	}
	// The workload is this test's child: not the agent's own helper.
	a.loop.Translator.SelfPid = -1
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	running := true
	defer func() {
		if running {
			cancel()
			<-done
		}
	}()

	open := func(name string) {
		t.Helper()
		if out, err := exec.Command("cat", marker+name).CombinedOutput(); err != nil {
			t.Fatalf("cat: %v: %s", err, out)
		}
	}
	// alerted opens the marker and waits until the loop has judged the open
	// into one more alert.
	alerted := func(name string) {
		t.Helper()
		before := a.loop.Counters.Alerts.Load()
		open(name)
		for deadline := time.Now().Add(15 * time.Second); a.loop.Counters.Alerts.Load() == before; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no alert for the open of %s%s within 15s", marker, name)
			}
		}
	}
	for _, n := range []string{"1", "2", "3"} {
		if err := os.WriteFile(marker+n, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Until the loop judges events, opens go unseen: open again until one
	// alert of the first rules arrives (through the counters; the file is
	// flushed at the end).
	for deadline := time.Now().Add(15 * time.Second); a.loop.Counters.Alerts.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no alert of the first rules within 15s")
		}
		open("1")
		time.Sleep(50 * time.Millisecond)
	}
	if err := a.Reload(second); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if got := a.Engine().Rules()[0].Name; got != "Open B" {
		t.Fatalf("after Reload the engine runs %q, want Open B", got)
	}
	alerted("2")
	bad := agentConfig(t, dir, "bad.yaml", filepath.Join(dir, "missing.yaml"), alerts)
	if err := a.Reload(bad); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Reload of a missing rules file: %v, want an error naming missing.yaml", err)
	}
	alerted("3")
	cancel()
	running = false
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	// Open A for each open of marker1 until the first alert; then one
	// Open B for marker2 and, the broken reload leaving B running, one
	// for marker3.
	got := alertRules(t, alerts)
	var want []string
	for range len(got) - 2 {
		want = append(want, "Open A "+marker+"1")
	}
	want = append(want, "Open B "+marker+"2", "Open B "+marker+"3")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if st := a.Stopped(); st.Alerts != uint64(len(got)) || st.Events == 0 {
		t.Errorf("Stopped() = %+v; want %d alerts and some events", st, len(got))
	}
}
