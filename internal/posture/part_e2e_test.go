package posture

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/testenv"
)

// A real `truesight run` with truesight.posture.enabled judges a pod that
// starts after it and alerts, through the default rule, on the seed's
// attack path for the root container only.
func TestAgentAlertsOnTheAttackPathOfANewPod(t *testing.T) {
	sock := testenv.PodmanService(t)
	bin := testenv.Truesight(t)
	agent := testenv.StartAgent(t, bin, nil, "--json", "-o", "webserver.enabled=false",
		"-o", "truesight.posture.enabled=true", "-o", "truesight.posture.interval=1s",
		"--docker-socket", sock, "--containerd-socket", "", "--cri-socket", "")

	const pod = "ts-posture-agent"
	_ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run()
	testenv.Podman(t, "pod", "create", "--share", "pid", "--name", pod)
	t.Cleanup(func() { _ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run() })
	web := testenv.StartContainer(t, pod+"-web", []string{"--pod", pod}, "sleep", "600")
	side := testenv.StartContainer(t, pod+"-side", []string{"--pod", pod, "--read-only", "--user", "1000"}, "sleep", "600")

	type alert struct {
		Rule         string         `json:"rule"`
		Priority     string         `json:"priority"`
		Source       string         `json:"source"`
		Output       string         `json:"output"`
		OutputFields map[string]any `json:"output_fields"`
	}
	// The sweeps may see web before side starts (it then shares with the
	// pod's infra container only): the finding is reported again when
	// side joins.
	namesSide := func(a alert) bool {
		msg, _ := a.OutputFields["finding.detail[message]"].(string)
		return strings.Contains(msg, pod+"-side")
	}
	var byContainer map[string][]alert
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && !slices.ContainsFunc(byContainer[web[:12]], namesSide) {
		time.Sleep(500 * time.Millisecond)
		byContainer = map[string][]alert{}
		for _, l := range agent.Lines() {
			var a alert
			if json.Unmarshal([]byte(l), &a) != nil || a.Rule != "Container posture opens the preload attack" {
				continue
			}
			id, _ := a.OutputFields["container.id"].(string)
			byContainer[id] = append(byContainer[id], a)
		}
	}
	got := byContainer[web[:12]]
	if !slices.ContainsFunc(got, namesSide) || len(got) > 2 {
		t.Fatalf("alerts for %s: %+v (all: %v)", pod+"-web", got, byContainer)
	}
	for _, a := range got {
		f := a.OutputFields
		if a.Priority != "Warning" || a.Source != "truesight" || f["finding.detail[check]"] != AttackPath || f["finding.detail[severity]"] != "high" ||
			f["container.name"] != pod+"-web" || !strings.Contains(a.Output, "container_name="+pod+"-web") {
			t.Errorf("alert %+v", a)
		}
	}
	if len(byContainer[side[:12]]) != 0 {
		t.Errorf("alerts for the non-root read-only sidecar: %+v", byContainer[side[:12]])
	}
}
