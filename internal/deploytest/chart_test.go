package deploytest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/testenv"
)

// moduleRoot is two levels above this package.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, Chart, "Chart.yaml")); err != nil {
		t.Fatalf("chart not found: %v", err)
	}
	return root
}

func requireHelm(t *testing.T) {
	t.Helper()
	if _, err := Helm(); err != nil {
		testenv.Missing(t, "%v", err)
	}
}

func render(t *testing.T, set ...string) *Objects {
	t.Helper()
	out, err := Render(moduleRoot(t), set...)
	if err != nil {
		t.Fatal(err)
	}
	o, err := Decode(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return o
}

func TestChartLints(t *testing.T) {
	requireHelm(t)
	helm, _ := Helm()
	for _, set := range [][]string{nil, {"tier=enforce"}, {"falcosidekick.enabled=true", "serviceMonitor.create=true"}} {
		args := []string{"lint", "--strict", filepath.Join(moduleRoot(t), Chart)}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		if out, err := exec.Command(helm, args...).CombinedOutput(); err != nil {
			t.Errorf("helm %v: %v\n%s", args, err, out)
		}
	}
}

// agentContainer is the DaemonSet's agent container.
func agentContainer(t *testing.T, o *Objects) corev1.Container {
	t.Helper()
	spec := o.DaemonSet.Spec.Template.Spec
	if len(spec.Containers) != 1 || spec.Containers[0].Name != "truesight" {
		t.Fatalf("containers: %+v", spec.Containers)
	}
	return spec.Containers[0]
}

func TestChartTiersGrantExactlyTheirCapabilities(t *testing.T) {
	requireHelm(t)
	detect := []corev1.Capability{"BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH", "SYS_CHROOT"}
	tests := []struct {
		name string
		set  []string
		add  []corev1.Capability
		tier string
	}{
		{"default is detect", nil, detect, "detect"},
		{"detect", []string{"tier=detect"}, detect, "detect"},
		{"enforce adds SYS_ADMIN and KILL", []string{"tier=enforce"}, append(slices.Clone(detect), "SYS_ADMIN", "KILL"), "enforce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := render(t, tt.set...)
			spec := o.DaemonSet.Spec.Template.Spec
			if !spec.HostPID {
				t.Error("hostPID is not set")
			}
			if len(spec.InitContainers) != 1 || spec.InitContainers[0].Name != "preflight" {
				t.Fatalf("init containers: %+v", spec.InitContainers)
			}
			pre := spec.InitContainers[0]
			wantArgs := []string{"preflight", "--tier=" + tt.tier, "--host-root=/host", "--config=/etc/truesight/config/falco.yaml"}
			if !slices.Equal(pre.Args, wantArgs) {
				t.Errorf("preflight args %q, want %q", pre.Args, wantArgs)
			}
			for _, c := range []corev1.Container{pre, agentContainer(t, o)} {
				sc := c.SecurityContext
				if sc == nil || sc.Capabilities == nil {
					t.Fatalf("%s: no capabilities", c.Name)
				}
				if !slices.Equal(sc.Capabilities.Add, tt.add) || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
					t.Errorf("%s: add %v drop %v, want add %v drop [ALL]", c.Name, sc.Capabilities.Add, sc.Capabilities.Drop, tt.add)
				}
				if sc.Privileged == nil || *sc.Privileged || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
					t.Errorf("%s: privileged %v, allowPrivilegeEscalation %v", c.Name, sc.Privileged, sc.AllowPrivilegeEscalation)
				}
				if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.RunAsUser == nil || *sc.RunAsUser != 0 {
					t.Errorf("%s: readOnlyRootFilesystem %v runAsUser %v", c.Name, sc.ReadOnlyRootFilesystem, sc.RunAsUser)
				}
				if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeUnconfined {
					t.Errorf("%s: seccompProfile %+v, want Unconfined", c.Name, sc.SeccompProfile)
				}
				var host *corev1.VolumeMount
				for i, m := range c.VolumeMounts {
					if m.Name == "host-root" {
						host = &c.VolumeMounts[i]
					}
				}
				if host == nil || host.MountPath != "/host" || !host.ReadOnly {
					t.Errorf("%s: host-root mount %+v, want /host read-only", c.Name, host)
				}
			}
		})
	}
}

func TestChartRefusesAnUnknownTierAndDriver(t *testing.T) {
	requireHelm(t)
	for _, tt := range []struct{ set, want string }{
		{"tier=privileged", `tier: "privileged" is not detect or enforce`},
		{"driver.kind=kmod", `driver.kind: "kmod" is not supported: truesight has one driver, ebpf (CO-RE)`},
		{"serviceMonitor.create=true,metrics.enabled=false", "serviceMonitor.create needs metrics.enabled"},
	} {
		_, err := Render(moduleRoot(t), tt.set)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--set %s: got %v, want an error with %q", tt.set, err, tt.want)
		}
	}
}

func TestChartProbesAndMetricsServiceUseTheWebServer(t *testing.T) {
	requireHelm(t)
	o := render(t)
	c := agentContainer(t, o)
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "web" {
			t.Errorf("%s probe: %+v", name, p)
		}
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "web" || c.Ports[0].ContainerPort != 8765 {
		t.Errorf("ports: %+v", c.Ports)
	}
	svc := o.Services["truesight-metrics"]
	if svc == nil {
		t.Fatalf("no metrics service: %v", o.Services)
	}
	want := map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8765", "prometheus.io/path": "/metrics"}
	for k, v := range want {
		if svc.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, svc.Annotations[k], v)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8765 || svc.Spec.Ports[0].TargetPort.String() != "web" {
		t.Errorf("service ports: %+v", svc.Spec.Ports)
	}
	if len(o.ServiceMonitors) != 0 {
		t.Errorf("a ServiceMonitor by default: %v", o.ServiceMonitors)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources: %+v", c.Resources)
	}

	o = render(t, "serviceMonitor.create=true", "priorityClassName=system-node-critical")
	sm := o.ServiceMonitors["truesight"]
	if sm == nil || len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Selector.MatchLabels["type"] != "truesight-metrics" {
		t.Errorf("service monitor: %+v", sm)
	}
	if got := o.DaemonSet.Spec.Template.Spec.PriorityClassName; got != "system-node-critical" {
		t.Errorf("priorityClassName %q", got)
	}
}

// loadRendered loads the rendered falco.yaml as the agent would.
func loadRendered(t *testing.T, o *Objects) *config.Config {
	t.Helper()
	cm := o.ConfigMaps["truesight"]
	if cm == nil {
		t.Fatalf("no configuration ConfigMap: %v", o.ConfigMaps)
	}
	p := filepath.Join(t.TempDir(), "falco.yaml")
	if err := os.WriteFile(p, []byte(cm.Data["falco.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, warnings, err := config.Load(p, nil)
	if err != nil {
		t.Fatalf("the rendered falco.yaml does not load: %v\n%s", err, cm.Data["falco.yaml"])
	}
	if len(warnings) > 0 {
		t.Fatalf("the rendered falco.yaml warns: %v", warnings)
	}
	return cfg
}

func TestChartConfigurationLoadsAsTheAgentReadsIt(t *testing.T) {
	requireHelm(t)
	cfg := loadRendered(t, render(t))
	if got := cfg.Truesight.Containers.HostRoot; got != "/host" {
		t.Errorf("host_root %q", got)
	}
	if !slices.Equal(cfg.RulesFiles, []string{"/etc/truesight/rules.d"}) {
		t.Errorf("rules_files %q", cfg.RulesFiles)
	}
	if !cfg.WatchConfigFiles || cfg.HTTPOutput.Enabled {
		t.Errorf("watch_config_files %v, http_output.enabled %v", cfg.WatchConfigFiles, cfg.HTTPOutput.Enabled)
	}
	if ws := cfg.Webserver; !ws.Enabled || ws.Address() != "0.0.0.0:8765" || ws.K8sHealthzEndpoint != "/healthz" || !ws.PrometheusMetricsEnabled {
		t.Errorf("webserver %+v", ws)
	}

	if e := cfg.Truesight.Enforce; e.Enabled {
		t.Errorf("the detect tier enables enforce: %+v", e)
	}
	// The enforce tier turns protection on, its state file on the pod's
	// memory-backed /run/truesight (the root filesystem is read-only).
	o := render(t, "tier=enforce")
	if e := loadRendered(t, o).Truesight.Enforce; !e.Enabled || e.Mode != "enforce" || e.StateFile != "/run/truesight/enforce.state" {
		t.Errorf("enforce tier: truesight.enforce %+v", e)
	}
	run := false
	for _, m := range agentContainer(t, o).VolumeMounts {
		run = run || (m.Name == "run" && m.MountPath == "/run/truesight" && !m.ReadOnly)
	}
	for _, v := range o.DaemonSet.Spec.Template.Spec.Volumes {
		if v.Name == "run" && (v.EmptyDir == nil || v.EmptyDir.Medium != corev1.StorageMediumMemory) {
			t.Errorf("run volume %+v, want a memory emptyDir", v)
		}
	}
	if !run {
		t.Errorf("enforce tier: no writable /run/truesight mount: %+v", agentContainer(t, o).VolumeMounts)
	}
	if e := loadRendered(t, render(t, "tier=enforce", "falco.truesight.enforce.mode=detect")).Truesight.Enforce; !e.Enabled || e.Mode != "detect" {
		t.Errorf("enforce tier with mode=detect in the values: %+v", e)
	}

	cfg = loadRendered(t, render(t, "falcosidekick.enabled=true", "falcosidekick.url=http://sidekick.monitoring:2801/"))
	if !cfg.HTTPOutput.Enabled || cfg.HTTPOutput.URL != "http://sidekick.monitoring:2801/" || !cfg.JSONOutput {
		t.Errorf("falcosidekick: http_output %+v json_output %v", cfg.HTTPOutput, cfg.JSONOutput)
	}
}

func TestChartCustomRulesAreFilesOfTheRulesDirectory(t *testing.T) {
	requireHelm(t)
	o := render(t, "customRules.my-rules\\.yaml=- list: my_list\n  items: [a]\n")
	cm := o.ConfigMaps["truesight-rules"]
	if cm == nil {
		t.Fatalf("no rules ConfigMap: %v", o.ConfigMaps)
	}
	if got := cm.Data["my-rules.yaml"]; got != "- list: my_list\n  items: [a]" {
		t.Errorf("my-rules.yaml = %q", got)
	}
	c := agentContainer(t, o)
	for _, m := range c.VolumeMounts {
		if m.Name == "rules" && (m.MountPath != "/etc/truesight/rules.d" || m.SubPath != "") {
			t.Errorf("rules mount %+v: want the directory /etc/truesight/rules.d (no subPath, so ConfigMap edits arrive)", m)
		}
		if m.Name == "config" && (m.MountPath != "/etc/truesight/config" || m.SubPath != "") {
			t.Errorf("config mount %+v: want the directory /etc/truesight/config (no subPath, so ConfigMap edits arrive)", m)
		}
	}
}

// The plain manifests under deploy/kubernetes are the chart rendered for
// each tier (scripts/manifests.sh writes them), and decode strictly.
func TestManifestsAreTheChartRendered(t *testing.T) {
	requireHelm(t)
	root := moduleRoot(t)
	for _, tier := range []string{"detect", "enforce"} {
		path := filepath.Join(root, "deploy/kubernetes/truesight-"+tier+".yaml")
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v: run scripts/manifests.sh", err)
		}
		want, err := Render(root, "tier="+tier)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from helm template --set tier=%s: run scripts/manifests.sh and commit", path, tier)
		}
		if _, err := Decode(got); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}
