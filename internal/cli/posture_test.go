package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/truesightsec/truesight/internal/deploytest"
	"github.com/truesightsec/truesight/internal/posture"
	"github.com/truesightsec/truesight/internal/testenv"
)

const postureData = "../posture/testdata/"

// runPosture runs `truesight posture args...` in-process with stdin in.
func runPosture(t *testing.T, in []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	var r io.Reader
	if in != nil {
		r = bytes.NewReader(in)
	}
	code = mainWithInput(append([]string{"posture"}, args...), r, &o, &e)
	return code, o.String(), e.String()
}

type postureJSON struct {
	Findings []posture.Finding  `json:"findings"`
	Notes    []posture.Note     `json:"notes"`
	Errors   []string           `json:"errors"`
	Node     *posture.Node      `json:"node"`
	Running  []posture.Observed `json:"running"`
}

func decodePosture(t *testing.T, out string) postureJSON {
	t.Helper()
	var r postureJSON
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not the JSON report: %v\n%s", err, out)
	}
	return r
}

func TestPostureExitCodesAndFailOn(t *testing.T) {
	seed, hardened := postureData+"manifests/seed-pod.yaml", postureData+"manifests/hardened.yaml"
	tests := []struct {
		name string
		args []string
		code int
		out  string // a line the text report must hold
	}{
		{"seed pod fails at the default low", []string{seed}, 1, "    HIGH     TSP008 shared-pid-writable-etc line 10: ubuntu (neither runAsNonRoot: true nor a non-zero runAsUser (the image's user, often root)) can write its /etc and reaches nginx through /proc/<pid>/root"},
		{"seed pod passes --fail-on critical", []string{"--fail-on", "critical", seed}, 0, "16 findings: 2 high, 11 medium, 3 low"},
		{"seed pod fails --fail-on high", []string{"--fail-on", "high", seed}, 1, "Pod shared (" + seed + ")"},
		{"hardened passes", []string{hardened}, 0, "no findings"},
		{"a directory", []string{"--fail-on", "critical", postureData + "manifests"}, 1, "    CRITICAL TSP004 privileged line 15: privileged: true"},
		{"malformed input is an error", []string{postureData + "bad/malformed.yaml"}, 2, "error: " + postureData + "bad/malformed.yaml:8: malformed YAML: did not find expected ',' or ']'"},
		{"missing file is an error", []string{postureData + "nope.yaml"}, 2, "error: stat " + postureData + "nope.yaml: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runPosture(t, nil, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %s", code, tt.code, errOut)
			}
			if !slices.Contains(strings.Split(out, "\n"), tt.out) {
				t.Errorf("no line %q in\n%s", tt.out, out)
			}
		})
	}
	for _, bad := range [][]string{{"--fail-on", "severe", seed}, {"--format", "xml", seed}, {}} {
		if code, _, errOut := runPosture(t, nil, bad...); code != 2 || !strings.HasPrefix(errOut, "truesight: ") {
			t.Errorf("%q: exit %d, stderr %q; want 2 and a message", bad, code, errOut)
		}
	}
}

func TestPostureJSON(t *testing.T) {
	code, out, _ := runPosture(t, nil, "--format", "json", postureData+"manifests/seed-pod.yaml")
	r := decodePosture(t, out)
	if code != 1 || len(r.Findings) != 16 {
		t.Fatalf("exit %d, %d findings", code, len(r.Findings))
	}
	f := r.Findings[0]
	if f.File != postureData+"manifests/seed-pod.yaml" || f.Workload != "Pod shared" || f.Line == 0 || f.Remediation == "" || f.Reason == "" {
		t.Errorf("first finding %+v", f)
	}
}

func TestPostureSARIF(t *testing.T) {
	file := postureData + "manifests/seed-pod.yaml"
	code, out, _ := runPosture(t, nil, "--format", "sarif", file)
	if code != 1 {
		t.Errorf("exit %d", code)
	}
	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID                   string `json:"id"`
						Help                 struct{ Text string }
						DefaultConfiguration struct{ Level string }
						Properties           map[string]any `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex int    `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct{ Text string }
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine int }
					}
				}
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || !strings.Contains(log.Schema, "sarif-2.1.0") || len(log.Runs) != 1 {
		t.Fatalf("version %q schema %q runs %d", log.Version, log.Schema, len(log.Runs))
	}
	run := log.Runs[0]
	if len(run.Tool.Driver.Rules) != len(posture.Checks) {
		t.Errorf("%d rules, want %d", len(run.Tool.Driver.Rules), len(posture.Checks))
	}
	for i, r := range run.Tool.Driver.Rules {
		if r.ID != fmt.Sprintf("TSP%03d", i+1) || r.Properties["security-severity"] == nil || r.Help.Text == "" {
			t.Errorf("rule %d: %+v", i, r)
		}
	}
	lines := strings.Split(readFile(t, file), "\n")
	var attack []string
	for _, res := range run.Results {
		if run.Tool.Driver.Rules[res.RuleIndex].ID != res.RuleID || !slices.Contains([]string{"error", "warning", "note"}, res.Level) {
			t.Errorf("result %+v", res)
		}
		loc := res.Locations[0].PhysicalLocation
		if loc.ArtifactLocation.URI != file || loc.Region.StartLine < 1 || loc.Region.StartLine > len(lines) {
			t.Errorf("result %s at %+v", res.RuleID, loc)
		}
		if res.RuleID == posture.AttackPath {
			attack = append(attack, strings.TrimSpace(lines[loc.Region.StartLine-1]))
		}
	}
	if want := []string{"- name: nginx", "- name: ubuntu"}; !slices.Equal(attack, want) || len(run.Results) != 16 {
		t.Errorf("attack path results at %q, want %q (%d results)", attack, want, len(run.Results))
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// helm template of the project's own chart and kubectl kustomize of the
// seed's pod, on stdin: findings point at lines of what the tool printed.
func TestPostureReadsHelmAndKustomizeOnStdin(t *testing.T) {
	tools := map[string][]string{}
	if helm, err := deploytest.Helm(); err == nil {
		tools["helm"] = []string{helm, "template", "ts", "../../" + deploytest.Chart}
	}
	if _, err := exec.LookPath("kubectl"); err == nil {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("namespace: shop\nresources: [pod.yaml]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "pod.yaml"), []byte(readFile(t, postureData+"manifests/seed-pod.yaml")), 0o644); err != nil {
			t.Fatal(err)
		}
		tools["kustomize"] = []string{"kubectl", "kustomize", dir}
	}
	if tools["helm"] == nil {
		testenv.Missing(t, "helm is not installed (scripts/deps.sh installs it)")
	}
	if tools["kustomize"] == nil {
		// kubectl is not among what scripts/deps.sh installs: the helm
		// half still runs.
		t.Log("kubectl is not installed: kustomize's output not tried")
	}
	want := map[string]struct {
		check, workload, line string
	}{
		"helm":      {posture.HostPID, "DaemonSet default/ts-truesight", "hostPID: true"},
		"kustomize": {posture.AttackPath, "Pod shop/shared", ""},
	}
	for name, argv := range tools {
		t.Run(name, func(t *testing.T) {
			in, err := exec.Command(argv[0], argv[1:]...).Output()
			if err != nil {
				t.Fatalf("%s: %v", strings.Join(argv, " "), err)
			}
			code, out, errOut := runPosture(t, in, "--format", "json", "-")
			r := decodePosture(t, out)
			if code != 1 || len(r.Errors) != 0 {
				t.Fatalf("exit %d errors %v stderr %s", code, r.Errors, errOut)
			}
			lines := strings.Split(string(in), "\n")
			w := want[name]
			found := false
			for _, f := range r.Findings {
				if f.File != "-" || f.Line < 1 || f.Line > len(lines) {
					t.Errorf("finding %s at %s:%d", f.Check, f.File, f.Line)
					continue
				}
				if f.Check == w.check && f.Workload == w.workload {
					found = true
					// kustomize sorts keys: a container's item may start
					// with args: before its name:.
					item := strings.TrimSpace(lines[f.Line-1])
					if !strings.HasPrefix(item, "- ") && item != w.line {
						t.Errorf("%s at line %d: %q, want %q", f.Check, f.Line, item, w.line)
					}
					if f.Container != "" && !strings.Contains(strings.Join(lines[f.Line-1:min(len(lines), f.Line+8)], "\n"), "name: "+f.Container) {
						t.Errorf("%s at line %d is not container %s's item", f.Check, f.Line, f.Container)
					}
				}
			}
			if !found {
				t.Errorf("no %s for %s", w.check, w.workload)
			}
		})
	}
}

func TestPostureRunningNamesContainersAndTheNode(t *testing.T) {
	sock := testenv.PodmanService(t)
	_ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", "ts-posture-cli").Run()
	testenv.Podman(t, "pod", "create", "--share", "pid", "--name", "ts-posture-cli")
	t.Cleanup(func() { _ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", "ts-posture-cli").Run() })
	web := testenv.StartContainer(t, "ts-posture-cli-web", []string{"--pod", "ts-posture-cli"}, "sleep", "600")
	testenv.StartContainer(t, "ts-posture-cli-side", []string{"--pod", "ts-posture-cli", "--read-only", "--user", "1000"}, "sleep", "600")

	code, out, errOut := runPosture(t, nil, "--running", "--wait", "60s", "--docker-socket", sock, "--containerd-socket=", "--cri-socket=", "--format", "json")
	r := decodePosture(t, out)
	if code != 1 || len(r.Errors) != 0 {
		t.Fatalf("exit %d errors %v stderr %s", code, r.Errors, errOut)
	}
	if r.Node == nil || r.Node.AppArmor != slices.Contains(r.Node.LSMs, "apparmor") {
		t.Fatalf("node %+v", r.Node)
	}
	var attack, node []posture.Finding
	for _, f := range r.Findings {
		switch {
		case f.Check == posture.AttackPath && f.ContainerID == web:
			attack = append(attack, f)
		case f.Check == posture.NodeNoAppArmor:
			node = append(node, f)
		}
	}
	if len(attack) != 1 || attack[0].Container != "ts-posture-cli-web" || !strings.Contains(attack[0].Message, "ts-posture-cli-side") {
		t.Errorf("attack path findings %+v", attack)
	}
	if !r.Node.AppArmor && (len(node) != 1 || !strings.Contains(node[0].Message, "AppArmor unavailable on this node")) {
		t.Errorf("node findings %+v", node)
	}
	code, out, _ = runPosture(t, nil, "--running", "--wait", "60s", "--docker-socket", sock, "--containerd-socket=", "--cri-socket=")
	if !r.Node.AppArmor && (code != 1 || !strings.Contains(out, "AppArmor unavailable on this node")) {
		t.Errorf("text report (exit %d) does not say AppArmor is unavailable:\n%s", code, out)
	}
}
