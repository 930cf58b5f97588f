package cli

import (
	"strings"
	"testing"

	"github.com/truesightsec/truesight/internal/testenv"
)

// truesight's own rules print the pod and namespace of the container, as
// Falco's -pk does for container fields: a write to ld.so.preload in a
// container that kubelet's labels place in pod web-0 of namespace prod,
// seen by the agent through a podman service that only DOCKER_HOST names.
func TestOwnRulesPrintThePodAndNamespace(t *testing.T) {
	testenv.RequireRoot(t)
	sock := testenv.PodmanService(t)
	agent := startAgent(t, []string{"DOCKER_HOST=unix://" + sock}, "--containerd-socket", "", "--cri-socket", "")

	id := testenv.StartContainer(t, "ts-cli-k8s-output", []string{
		"--label", "io.kubernetes.pod.name=web-0", "--label", "io.kubernetes.pod.namespace=prod",
	}, "sh", "-c", "echo /lib/ts-k8s.so >> /etc/ld.so.preload; sleep 60")

	got := agent.waitFor(t, "Modify ld.so.preload from container "+id[:12], func(rule string, f map[string]any) bool {
		return rule == "Modify ld.so.preload" && f["container.id"] == id[:12]
	})
	f := got["output_fields"].(map[string]any)
	if f["k8s.ns.name"] != "prod" || f["k8s.pod.name"] != "web-0" {
		t.Errorf("output_fields k8s.ns.name=%v k8s.pod.name=%v, want prod web-0", f["k8s.ns.name"], f["k8s.pod.name"])
	}
	if out, _ := got["output"].(string); !strings.HasSuffix(out, " k8s_ns=prod k8s_pod_name=web-0)") {
		t.Errorf("output %q does not end with the pod and namespace", out)
	}
}
