package deploytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/truesightsec/truesight/internal/testenv"
)

// hideName is the comm of the seed's miner, which the hider hides.
const hideName = "tshide_kube"

// playPod runs manifest with podman kube play and removes its pods when
// the test ends. hostPID plays the pods in the host's PID namespace:
// podman 4.3's kube play ignores the field, so the run's containers.conf
// says so instead (pidns = "host").
func playPod(t *testing.T, manifest []byte, hostPID bool, pods ...string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "pod.yaml")
	if err := os.WriteFile(path, manifest, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		_ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", p).Run()
	}
	t.Cleanup(func() {
		for _, p := range pods {
			_ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", p).Run()
		}
	})
	cmd := exec.Command("podman", "kube", "play", path)
	if hostPID {
		conf, err := os.ReadFile("/etc/containers/containers.conf")
		if err != nil {
			t.Fatal(err)
		}
		s := string(conf)
		if strings.Contains(s, "[containers]\n") {
			s = strings.Replace(s, "[containers]\n", "[containers]\npidns = \"host\"\n", 1)
		} else {
			s += "\n[containers]\npidns = \"host\"\n"
		}
		cc := filepath.Join(dir, "containers.conf")
		if err := os.WriteFile(cc, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+cc)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		var logs strings.Builder
		for _, p := range pods {
			ids, _ := exec.Command("podman", "ps", "-a", "-q", "--filter", "pod="+p).Output()
			for _, id := range strings.Fields(string(ids)) {
				l, _ := exec.Command("podman", "logs", id).CombinedOutput()
				fmt.Fprintf(&logs, "--- log of container %s:\n%s", id, l)
			}
		}
		t.Fatalf("podman kube play: %v\n%s\n%s\n%s", err, out, logs.String(), manifest)
	}
}

// procStatus reads the fields of /proc/<pid>/status.
func procStatus(t *testing.T, pid string) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for l := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// capMask is the capability set of names (CAP_ omitted) as /proc shows it.
func capMask(t *testing.T, names []corev1.Capability) string {
	t.Helper()
	bits := map[corev1.Capability]uint{"DAC_READ_SEARCH": 2, "KILL": 5, "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_ADMIN": 21, "SYS_RESOURCE": 24, "PERFMON": 38, "BPF": 39}
	var m uint64
	for _, n := range names {
		b, ok := bits[n]
		if !ok {
			t.Fatalf("capability %s: no bit known", n)
		}
		m |= 1 << b
	}
	return fmt.Sprintf("%016x", m)
}

// alert is the part of a JSON alert line the test reads.
type alert struct {
	Rule   string         `json:"rule"`
	Fields map[string]any `json:"output_fields"`
}

// alerts reads the JSON alert lines of out, skipping other lines.
func alerts(out string) []alert {
	var as []alert
	for l := range strings.SplitSeq(out, "\n") {
		var a alert
		if strings.HasPrefix(l, "{") && json.Unmarshal([]byte(l), &a) == nil && a.Rule != "" {
			as = append(as, a)
		}
	}
	return as
}

// chartAgent is the chart's DaemonSet pod played by podman.
type chartAgent struct {
	pod, container string
	sc             *corev1.SecurityContext
	preflightArgs  []string // the init container's
}

func (a chartAgent) log() string {
	b, _ := exec.Command("podman", "logs", a.container).CombinedOutput()
	return string(b)
}

// playChartAgent renders the chart for tier (the agent's image, the
// podman API socket for container names), plays the DaemonSet's pod as
// podman 4.3 can, checks the privileges the runtime applied, and waits
// until the readiness probe's endpoint answers. truesight is YAML added
// under falco.truesight in the values (indented by four spaces).
func playChartAgent(t *testing.T, tier, truesight string) chartAgent {
	t.Helper()
	requireHelm(t)
	im := buildAgentImage(t)
	// The runtime's API, for container names: the agent finds the socket
	// below /host, as a DaemonSet finds the node's.
	sock := testenv.PodmanService(t)
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, fmt.Appendf(nil, `tier: %s
image:
  registry: localhost
  repository: ts-kube-truesight
  tag: %s
falco:
  truesight:
    scan_interval: 0s
    containers:
      docker_sockets: [%s]
      containerd_sockets: []
      cri_sockets: []
%s`, tier, im.tag, sock, truesight), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := RenderWith(moduleRoot(t), values)
	if err != nil {
		t.Fatal(err)
	}
	o, err := Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	a := chartAgent{pod: "ts-kube-agent-" + tier + "-" + strconv.Itoa(os.Getpid())}
	a.container = a.pod + "-truesight"
	pod := o.Pod(a.pod)
	a.sc = pod.Spec.Containers[0].SecurityContext
	if a.sc.Privileged == nil || *a.sc.Privileged || !pod.Spec.HostPID {
		t.Fatalf("the rendered pod is privileged or not in the host PID namespace: %+v hostPID %v", a.sc, pod.Spec.HostPID)
	}
	// podman 4.3's kube play reads a pod's seccomp profile from the
	// annotation Kubernetes used before securityContext.seccompProfile.
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if p := c.SecurityContext.SeccompProfile; p == nil || p.Type != corev1.SeccompProfileTypeUnconfined {
			t.Fatalf("%s: seccompProfile %+v, want Unconfined", c.Name, p)
		}
	}
	pod.Annotations["seccomp.security.alpha.kubernetes.io/pod"] = "unconfined"
	// podman 4.3's kube play spends some 20 seconds on any init container
	// (and its removal of a finished one races with the exit). The
	// preflight init container has the agent's security context (the
	// chart tests check it), so preflight runs in the agent's container
	// instead.
	if len(pod.Spec.InitContainers) != 1 || !equality.Semantic.DeepEqual(pod.Spec.InitContainers[0].SecurityContext, a.sc) {
		t.Fatalf("init containers: %+v", pod.Spec.InitContainers)
	}
	a.preflightArgs = pod.Spec.InitContainers[0].Args
	pod.Spec.InitContainers = nil
	// podman 4.3 holds annotations to the 63-character limit of label
	// values (Kubernetes does not); the checksum only restarts pods on a
	// configuration change.
	delete(pod.Annotations, "checksum/config")
	cms, err := o.VolumeConfigMaps(pod)
	if err != nil {
		t.Fatal(err)
	}
	// kube play keeps a ConfigMap's files in a podman volume of the
	// ConfigMap's name, shared by every play and left behind: the test's
	// own names, removed at the end.
	for i, v := range pod.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		name := a.pod + "-" + v.ConfigMap.Name
		for _, cm := range cms {
			if cm.Name == v.ConfigMap.Name {
				cm.Name = name
			}
		}
		pod.Spec.Volumes[i].ConfigMap.Name = name
		t.Cleanup(func() { _ = exec.Command("podman", "volume", "rm", "-f", name).Run() })
	}
	manifest, err := Manifest(append([]any{pod}, anys(cms)...)...)
	if err != nil {
		t.Fatal(err)
	}
	playPod(t, manifest, true, a.pod)

	// The privileges as the runtime applied them: the node's PID
	// namespace, no seccomp filter, no_new_privs, and exactly the tier's
	// capabilities (CAP_SYS_RESOURCE aside: this VM cannot grant it, and
	// Linux 5.11 and newer do not need it).
	pid := testenv.Podman(t, "inspect", "-f", "{{.State.Pid}}", a.container)
	if ns, _ := os.Readlink("/proc/" + pid + "/ns/pid"); ns != mustReadlink(t, "/proc/self/ns/pid") {
		t.Errorf("agent's PID namespace %s is not the node's", ns)
	}
	st := procStatus(t, pid)
	var granted []corev1.Capability
	for _, c := range a.sc.Capabilities.Add {
		if c != "SYS_RESOURCE" {
			granted = append(granted, c)
		}
	}
	if want := capMask(t, granted); st["CapEff"] != want || st["CapBnd"] != want {
		t.Errorf("agent's capabilities: effective %s bounding %s, want %s (%v)", st["CapEff"], st["CapBnd"], want, granted)
	}
	if st["Seccomp"] != "0" || st["NoNewPrivs"] != "1" {
		t.Errorf("agent's Seccomp %s NoNewPrivs %s, want 0 and 1", st["Seccomp"], st["NoNewPrivs"])
	}

	// Ready: the readiness probe's endpoint answers on the pod's address.
	ip := testenv.Podman(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", a.container)
	if ip == "" {
		infra := testenv.Podman(t, "pod", "inspect", "-f", "{{.InfraContainerID}}", a.pod)
		ip = testenv.Podman(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", infra)
	}
	healthz := "http://" + ip + ":8765/healthz"
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(healthz)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within 30s (%v); agent log:\n%s", healthz, err, a.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// preflight, as the init container runs it, passes.
	if out, err := exec.Command("podman", append([]string{"exec", a.container, "/usr/bin/truesight"}, a.preflightArgs...)...).CombinedOutput(); err != nil {
		t.Fatalf("preflight %q in the agent's container: %v\n%s", a.preflightArgs, err, out)
	}
	return a
}

// playSeedPod plays the scenario's pod: a sidecar ("ubuntu") whose ps and
// ls a preload file would poison, and an "nginx" container running the
// miner, with the hider at /usr/local/lib. It returns both containers'
// names and the sidecar's root as nginx reaches it (/proc/<pid>/root).
func playSeedPod(t *testing.T) (sidecar, nginx, target string) {
	t.Helper()
	testenv.RequireGCC(t)
	suffix := strconv.Itoa(os.Getpid())
	seedImage := "localhost/ts-kube-seed:" + suffix
	lib, _ := testenv.BuildHider(t, t.TempDir(), hideName)
	if err := testenv.BuildDynamicImage(seedImage, map[string]string{hideName: lib}, nil); err != nil {
		t.Fatalf("build %s: %v", seedImage, err)
	}
	t.Cleanup(func() { _ = exec.Command("podman", "rmi", "-f", seedImage).Run() })
	seedPod := "ts-kube-shared-" + suffix
	seed := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: seedPod, Labels: map[string]string{"app": "nginx"}},
		Spec: corev1.PodSpec{
			ShareProcessNamespace: new(true),
			Containers: []corev1.Container{
				{Name: "ubuntu", Image: seedImage, Command: []string{"sh"},
					Args: []string{"-c", "--", "while true; do /usr/bin/ps -A >/dev/null; /usr/bin/sleep 1; done"}},
				{Name: "nginx", Image: seedImage, Command: []string{"sh"},
					Args: []string{"-c", "cp /usr/bin/sleep /tmp/" + hideName + " && exec /tmp/" + hideName + " 1000"}},
			},
		},
	}
	manifest, err := Manifest(seed)
	if err != nil {
		t.Fatal(err)
	}
	playPod(t, manifest, false, seedPod)
	sidecar, nginx = seedPod+"-ubuntu", seedPod+"-nginx"
	target = "/proc/" + strconv.Itoa(testenv.NSPid(t, testenv.ContainerPid(t, sidecar))) + "/root"
	return sidecar, nginx, target
}

// The chart's DaemonSet pod, played by podman with the detect tier's
// capabilities only (not privileged), catches the scenario's pod attack:
// the agent's log carries the cross-container rule with both containers
// named, and `truesight scan` in the agent's container finds the process
// the poisoned sidecar's libc tools no longer show.
func TestChartPodCatchesTheSeedScenarioWithTheDetectTier(t *testing.T) {
	began := time.Now()
	step := func(what string) { t.Logf("%5.1fs %s", time.Since(began).Seconds(), what) }
	a := playChartAgent(t, "detect", "")
	if n := len(a.sc.Capabilities.Add); n != 6 {
		t.Fatalf("the detect tier adds %d capabilities, want 6: %v", n, a.sc.Capabilities.Add)
	}
	agent, agentLog := a.container, a.log
	step("agent ready, preflight passed")
	sidecar, nginx, target := playSeedPod(t)
	step("seed pod played")
	testenv.Podman(t, "exec", nginx, "sh", "-c",
		"cp /usr/local/lib/lib"+hideName+".so "+target+"/tmp/libx.so && echo /tmp/libx.so >> "+target+"/etc/ld.so.preload")

	// The agent's log: the cross-container write, both containers named.
	const rule = "Modify ld.so.preload of another container"
	var got []alert
	deadline := time.Now().Add(20 * time.Second)
	for len(got) == 0 && time.Now().Before(deadline) {
		for _, a := range alerts(agentLog()) {
			if a.Rule == rule && a.Fields["container.name"] == nginx {
				got = append(got, a)
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	if len(got) == 0 {
		t.Fatalf("no %q alert from %s in the agent's log within 20s:\n%s", rule, nginx, agentLog())
	}
	step("alert logged")
	if f := got[0].Fields; f["fd.container.name"] != sidecar || f["fd.container.path"] != "/etc/ld.so.preload" || f["fd.nameraw"] != target+"/etc/ld.so.preload" {
		t.Errorf("alert fields: target container %v path %v given %v, want %s /etc/ld.so.preload %s",
			f["fd.container.name"], f["fd.container.path"], f["fd.nameraw"], sidecar, target+"/etc/ld.so.preload")
	}

	// truesight scan in the agent's container finds the hidden miner.
	nginxID := testenv.Podman(t, "inspect", "-f", "{{.Id}}", nginx)
	miner := testenv.WaitContainerProc(t, nginxID, hideName)
	scan := exec.Command("podman", "exec", agent, "/usr/bin/truesight", "scan", "--config=/etc/truesight/config/falco.yaml", "--format=json")
	var stderr bytes.Buffer
	scan.Stderr = &stderr
	scanOut, err := scan.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("scan in the agent's container: %v (want exit 1: findings)\n%s\n%s", err, scanOut, stderr.String())
	}
	step("scan ran")
	var hidden []alert
	for _, a := range alerts(string(scanOut)) {
		if a.Rule == "Process hidden from libc tools" && a.Fields["proc.pid"] == float64(miner) {
			hidden = append(hidden, a)
		}
	}
	if len(hidden) != 1 {
		t.Fatalf("got %d hidden-process alerts for the miner (pid %d), want 1:\n%s\n%s", len(hidden), miner, scanOut, stderr.String())
	}
	if f := hidden[0].Fields; f["container.id"] != nginxID[:12] || f["proc.name"] != hideName || f["finding.library"] != "/tmp/libx.so" {
		t.Errorf("hidden process alert: %v", f)
	}
}

func mustReadlink(t *testing.T, p string) string {
	t.Helper()
	s, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// The chart's enforce tier, played the same way, denies the scenario's
// write: nginx's append to the sidecar's /etc/ld.so.preload through
// /proc/<pid>/root fails with EPERM, and the agent's log says it denied
// it, naming the writer and the target container.
func TestChartEnforcePodDeniesTheSeedWrite(t *testing.T) {
	// Only the test's own pod is protected: every open on a marked
	// filesystem waits for this agent, and other tests share the machine.
	a := playChartAgent(t, "enforce", "    enforce:\n      selectors: [{name: ts-kube-shared-*}]\n")
	if !slices.Contains(a.sc.Capabilities.Add, "SYS_ADMIN") || !slices.Contains(a.sc.Capabilities.Add, "KILL") {
		t.Fatalf("the enforce tier's capabilities: %v", a.sc.Capabilities.Add)
	}
	sidecar, nginx, target := playSeedPod(t)
	// Protection of a container starts once the runtime has described it
	// to the agent: attack until the kernel refuses.
	attack := "echo /tmp/libx.so >> " + target + "/etc/ld.so.preload"
	var out []byte
	denied := false
	for deadline := time.Now().Add(20 * time.Second); !denied && time.Now().Before(deadline); {
		var err error
		out, err = exec.Command("podman", "exec", nginx, "sh", "-c", attack).CombinedOutput()
		denied = err != nil && strings.Contains(string(out), "Operation not permitted")
		if !denied {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !denied {
		t.Fatalf("the write was never denied within 20s (last: %s); agent log:\n%s", out, a.log())
	}
	const rule = "Write to a protected loader file"
	var got *alert
	for deadline := time.Now().Add(10 * time.Second); got == nil && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		for _, al := range alerts(a.log()) {
			if al.Rule == rule && al.Fields["finding.detail[action]"] == "denied" && al.Fields["container.name"] == nginx {
				got = &al
			}
		}
	}
	if got == nil {
		t.Fatalf("no %q alert (denied) from %s in the agent's log:\n%s", rule, nginx, a.log())
	}
	if f := got.Fields; f["finding.detail[target_name]"] != sidecar || f["finding.detail[path]"] != "/etc/ld.so.preload" {
		t.Errorf("denied alert: target %v path %v, want %s /etc/ld.so.preload", f["finding.detail[target_name]"], f["finding.detail[path]"], sidecar)
	}
}
