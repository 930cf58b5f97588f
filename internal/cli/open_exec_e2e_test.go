package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/truesightsec/truesight/internal/testenv"
)

// evt.is_open_exec live, in a container, with the condition of upstream's
// "Container Drift Detected (open+create)": copying an executable creates
// the file with mode 0755 and raises it; creating an ordinary file (0666
// from the shell) does not.
func TestOpenCreatingAnExecutableInAContainerIsOpenExec(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequirePodman(t)
	rules := filepath.Join(t.TempDir(), "drift.yaml")
	rule := `- rule: Drift by open+create
  desc: upstream's Container Drift Detected (open+create), without its runc exceptions
  condition: >
    evt.type in (open,openat,openat2,creat) and evt.rawres>=0 and evt.is_open_exec=true
    and container.id != host and fd.name startswith /tmp/ts-drift-
  output: created executable (file=%fd.name mode=%evt.arg.mode flags=%evt.arg.flags container_id=%container.id)
  priority: ERROR
- rule: Sentinel
  desc: the container's last write, after which every alert it causes is in
  condition: evt.type in (open,openat) and evt.is_open_write=true and fd.name = /tmp/ts-drift-after
  output: sentinel (file=%fd.name)
  priority: INFO
`
	if err := os.WriteFile(rules, []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	agent := startAgent(t, nil, "--no-default-rules", "-r", rules,
		"--docker-socket", "", "--containerd-socket", "", "--cri-socket", "")

	id := testenv.StartContainer(t, "ts-cli-open-exec", nil, "sh", "-c",
		"echo x > /tmp/ts-drift-plain; cp /bin/busybox /tmp/ts-drift-exe; echo y > /tmp/ts-drift-after; sleep 60")
	got := agent.waitFor(t, "for /tmp/ts-drift-exe", func(rule string, f map[string]any) bool {
		return rule == "Drift by open+create" && f["fd.name"] == "/tmp/ts-drift-exe"
	})
	f := got["output_fields"].(map[string]any)
	// The live mode is the st_mode cp asks for (0100755; libsinsp keeps
	// the permission bits only).
	if mode, _ := f["evt.arg.mode"].(string); f["container.id"] != id[:12] || !strings.HasSuffix(mode, "755") {
		t.Errorf("output_fields %v, want container.id %s and mode ...755", f, id[:12])
	}
	agent.waitFor(t, "Sentinel", func(rule string, _ map[string]any) bool { return rule == "Sentinel" })
	for _, a := range agent.read() {
		if f, _ := a["output_fields"].(map[string]any); a["rule"] == "Drift by open+create" && f["fd.name"] != "/tmp/ts-drift-exe" {
			t.Errorf("drift alert for a file created without execute bits: %v", a["output"])
		}
	}
}
