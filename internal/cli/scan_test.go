package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/testenv"
)

// startHiddenSleep starts, on the host, a sleep named name and a process
// with LD_PRELOAD of a hider for that name, and returns the sleep's PID.
func startHiddenSleep(t *testing.T, name string) int {
	t.Helper()
	testenv.RequireRoot(t)
	dir := t.TempDir()
	lib, _ := testenv.BuildHider(t, dir, name)
	sleep, err := os.ReadFile("/usr/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	if err := os.WriteFile(bin, sleep, 0o755); err != nil {
		t.Fatal(err)
	}
	start := func(env []string, path string) *exec.Cmd {
		cmd := exec.Command(path, "600")
		cmd.Env = env
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	hidden := start(nil, bin)
	start([]string{"LD_PRELOAD=" + lib}, "/usr/bin/sleep")
	time.Sleep(300 * time.Millisecond) // both have exec'd
	return hidden.Process.Pid
}

func TestScanJSONAlertsOnHiddenProcessAndExitsOne(t *testing.T) {
	pid := startHiddenSleep(t, "tshide_cli")
	var stdout, stderr bytes.Buffer
	code := Main([]string{"scan", "--format", "json"}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr.String())
	}
	found := false
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var a struct {
			Rule         string         `json:"rule"`
			Priority     string         `json:"priority"`
			Source       string         `json:"source"`
			Output       string         `json:"output"`
			OutputFields map[string]any `json:"output_fields"`
		}
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("not a JSON alert line: %q: %v", line, err)
		}
		if a.Rule == "Process hidden from libc tools" && a.OutputFields["proc.pid"] == float64(pid) {
			found = true
			if a.Priority != "Critical" || a.Source != "truesight" || a.OutputFields["proc.name"] != "tshide_cli" ||
				!strings.Contains(a.Output, "pid="+strconv.Itoa(pid)+" name=tshide_cli") {
				t.Errorf("alert %+v", a)
			}
		}
	}
	if !found {
		t.Fatalf("no alert for hidden pid %d in:\n%s", pid, stdout.String())
	}
}

func TestScanTextReportAndExitCodes(t *testing.T) {
	pid := startHiddenSleep(t, "tshide_cli2")
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"scan", "--no-kernel-view"}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{`CRITICAL Process hidden from libc tools\n`, `\n  process: +` + strconv.Itoa(pid) + ` tshide_cli2 `, `\nnote: no kernel view`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}

	// Findings no rule alerts on do not fail the scan.
	rules := filepath.Join(t.TempDir(), "quiet.yaml")
	if err := os.WriteFile(rules, []byte("- rule: never\n  desc: d\n  condition: evt.type = preload_env and proc.pid < 0\n  output: o\n  priority: INFO\n  source: truesight\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if code := Main([]string{"scan", "--no-kernel-view", "--no-default-rules", "-r", rules}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d with rules that never alert, want 0:\n%s", code, stdout.String())
	}
	if !strings.Contains(stdout.String(), "0 alerts") {
		t.Errorf("report:\n%s", stdout.String())
	}

	stderr.Reset()
	if code := Main([]string{"scan", "--format", "xml"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "--format") {
		t.Errorf("bad --format: exit %d, stderr %q", code, stderr.String())
	}
	if code := Main([]string{"scan", "--kernel-blind-spot", "init"}, &stdout, &stderr); code != 2 {
		t.Errorf("bad --kernel-blind-spot: exit %d", code)
	}
}
