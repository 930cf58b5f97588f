package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/testenv"
)

// liveAgent is a real `truesight run` with the console on, on a loopback
// port of its own, its token testToken.
type liveAgent struct {
	*testenv.Agent
	url string // http://127.0.0.1:PORT
}

// The agent's binary, built once for the package's tests.
var agentBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if agentBin.dir != "" {
		_ = os.RemoveAll(agentBin.dir)
	}
	os.Exit(code)
}

func truesightBin(t *testing.T) string {
	t.Helper()
	agentBin.once.Do(func() {
		if agentBin.dir, agentBin.err = os.MkdirTemp("", "truesight-console-bin-"); agentBin.err == nil {
			agentBin.path, agentBin.err = testenv.BuildTruesight(agentBin.dir)
		}
	})
	if agentBin.err != nil {
		t.Fatal(agentBin.err)
	}
	return agentBin.path
}

// freePort is a loopback TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startAgent builds truesight and runs it with the console, the rules
// in rulesYAML (when not empty) after the defaults, a scan every second
// and the docker socket given ("" for none), until the test ends.
func startAgent(t *testing.T, rulesYAML, dockerSocket string, extra ...string) *liveAgent {
	t.Helper()
	testenv.RequireRoot(t)
	bin := truesightBin(t)
	port := freePort(t)
	args := []string{"--json", "--scan-interval", "1s",
		"-o", "truesight.console.enabled=true", "-o", "webserver.listen_port=" + strconv.Itoa(port),
		"--docker-socket", dockerSocket, "--containerd-socket", "", "--cri-socket", ""}
	if rulesYAML != "" {
		f := filepath.Join(t.TempDir(), "console_rules.yaml")
		if err := os.WriteFile(f, []byte(rulesYAML), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-r", f)
	}
	args = append(args, extra...)
	return &liveAgent{Agent: testenv.StartAgent(t, bin, []string{"TRUESIGHT_CONSOLE_TOKEN=" + testToken}, args...),
		url: "http://127.0.0.1:" + strconv.Itoa(port)}
}

// get fetches path with the token and decodes its JSON into v.
func (a *liveAgent) get(t *testing.T, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", a.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: status %d: %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: not JSON: %v: %s", path, err, body)
	}
}

// probeRule alerts on a write open of a file whose name starts with
// prefix.
func probeRule(prefix string) string {
	return fmt.Sprintf(`
- rule: Console probe
  desc: a write open of the console test's probe files
  condition: open_write and fd.name startswith "%s"
  output: "probe file opened for writing (file=%%fd.name cmd=%%proc.cmdline pid=%%proc.pid container=%%container.id)"
  priority: WARNING
`, prefix)
}

// The API of a live agent: every endpoint needs the token (401 without),
// answers JSON with the token, and an event's alert is on the live
// stream within a second of the event, as Falco's JSON, the same alert
// the agent's own JSON output prints.
func TestLiveAgentAPI(t *testing.T) {
	prefix := filepath.Join(os.TempDir(), "ts-console-probe-"+strconv.Itoa(os.Getpid())+"-")
	a := startAgent(t, probeRule(prefix), "")

	endpoints := []string{"/ui/", "/ui/app.js", "/ui/api/alerts", "/ui/api/events", "/ui/api/containers",
		"/ui/api/processes", "/ui/api/processes?container=host", "/ui/api/findings", "/ui/api/health"}
	for _, ep := range endpoints {
		for _, auth := range []string{"", "Bearer not-the-token-at-all", "Bearer " + testToken[:len(testToken)-1]} {
			req, _ := http.NewRequest("GET", a.url+ep, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("GET %s with Authorization %q: status %d, want 401", ep, auth, resp.StatusCode)
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// openStream returns once the response's headers came: the stream is
	// subscribed.
	stream := openStream(t, ctx, a.url+"/ui/api/events?rule=Console+probe", nil)
	// A new process writes the file (a process the agent saw start). Its
	// alert must be on the stream within a second: the console adds no
	// more than that to when the agent emits it (its own JSON output's
	// line is the mark), whatever the pipeline's lag behind the kernel on
	// a machine shared with other jobs (logged, and the agent's own
	// benchmarks' business).
	file := prefix + "latency"
	t.Cleanup(func() { _ = os.Remove(file) })
	writer := exec.Command("/bin/sh", "-c", `echo x > "$1"`, "sh", file)
	began := time.Now()
	if err := writer.Run(); err != nil {
		t.Fatal(err)
	}
	var ev sseEvent
	select {
	case ev = <-stream:
	case <-time.After(20 * time.Second):
		t.Fatal("no alert on the live stream within 20s of the event")
	}
	streamed := time.Now()
	printed, printedAt, ok := a.WaitLine(10*time.Second, `"rule":"Console probe"`, file)
	if !ok {
		t.Fatal("the agent printed no alert for the probe")
	}
	t.Logf("the alert was on the live stream %v after the write, %v after the agent printed it", streamed.Sub(began), streamed.Sub(printedAt))
	if d := streamed.Sub(printedAt); d > time.Second {
		t.Errorf("the alert was on the live stream %v after the agent printed it, want within 1s", d)
	}
	var al struct {
		Rule         string         `json:"rule"`
		Priority     string         `json:"priority"`
		Output       string         `json:"output"`
		OutputFields map[string]any `json:"output_fields"`
	}
	if err := json.Unmarshal([]byte(ev.data), &al); err != nil {
		t.Fatalf("event data is not JSON: %v: %s", err, ev.data)
	}
	if al.Rule != "Console probe" || al.Priority != "Warning" || al.OutputFields["fd.name"] != file ||
		al.OutputFields["proc.pid"] != float64(writer.Process.Pid) || !strings.HasPrefix(fmt.Sprint(al.OutputFields["proc.cmdline"]), "sh -c echo x") {
		t.Errorf("streamed alert %+v, want the probe rule's Warning about %s by sh, pid %d", al, file, writer.Process.Pid)
	}
	// The agent's own --json line of the same alert says the same.
	var out struct {
		Output string `json:"output"`
	}
	if err := json.Unmarshal([]byte(printed), &out); err != nil || out.Output != al.Output {
		t.Errorf("stdout's alert %q (%v), the stream's output %q", printed, err, al.Output)
	}

	var alerts struct {
		Last   uint64 `json:"last"`
		Alerts []struct {
			Seq   uint64         `json:"seq"`
			Alert map[string]any `json:"alert"`
		} `json:"alerts"`
	}
	a.get(t, "/ui/api/alerts?rule=Console+probe", &alerts)
	if len(alerts.Alerts) != 1 || ev.id != strconv.FormatUint(alerts.Alerts[0].Seq, 10) || alerts.Alerts[0].Alert["output"] != al.Output {
		t.Errorf("/ui/api/alerts?rule=Console probe = %+v, want the one streamed alert (id %s)", alerts, ev.id)
	}

	var health struct {
		EventsTotal uint64 `json:"events_total"`
		RulesLoaded int    `json:"rules_loaded"`
		Kernel      struct {
			Events uint64 `json:"events"`
		} `json:"kernel"`
		Console struct {
			AlertsReceived uint64 `json:"alerts_received"`
			Clients        int    `json:"clients"`
		} `json:"console"`
	}
	a.get(t, "/ui/api/health", &health)
	if health.EventsTotal == 0 || health.RulesLoaded < 10 || health.Kernel.Events == 0 || health.Console.AlertsReceived == 0 || health.Console.Clients != 1 {
		t.Errorf("health %+v: want events, the default rules and the probe loaded, alerts received, 1 live client", health)
	}

	var ctrs []containerView
	a.get(t, "/ui/api/containers", &ctrs)
	if len(ctrs) == 0 || ctrs[0].ID != "host" || ctrs[0].Processes == 0 {
		t.Errorf("containers %+v: want the host first, with processes", ctrs)
	}
	var tree struct {
		Container string         `json:"container"`
		Processes []*processNode `json:"processes"`
	}
	a.get(t, "/ui/api/processes?container=host", &tree)
	var me *processNode
	for _, p := range tree.Processes {
		if p.Pid == int64(os.Getpid()) {
			me = p
		}
	}
	if tree.Container != "host" || me == nil || me.PPid != int64(os.Getppid()) || me.Comm != "console.test" {
		t.Errorf("host tree (%d processes): this test's process %+v, want pid %d, ppid %d", len(tree.Processes), me, os.Getpid(), os.Getppid())
	}
	var findings []findingEntry
	a.get(t, "/ui/api/findings", &findings)
	var notFound map[string]string
	req, _ := http.NewRequest("GET", a.url+"/ui/api/processes?container=nosuchcontainer", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&notFound); resp.StatusCode != 404 || err != nil || !strings.Contains(notFound["error"], "nosuchcontainer") {
		t.Errorf("unknown container: status %d, %v, %v; want 404 naming it", resp.StatusCode, notFound, err)
	}
}

// A write into a pod sibling's loader configuration that `truesight run
// --enforce` blocks is a finding about both containers: the writer's and
// the one whose file it aimed at. Only this test's containers are
// protected (a selector), no other container of the machine.
func TestLiveAgentBlockedWriteConcernsBothContainers(t *testing.T) {
	sock := testenv.PodmanService(t)
	suffix := strconv.Itoa(os.Getpid())
	a := startAgent(t, "", sock, "--enforce", "-o", "truesight.enforce.state_file="+filepath.Join(t.TempDir(), "enforce.state"),
		"-o", "truesight.enforce.selectors=[{name: 'ts-console-enf-*'}]")
	pod := "ts-console-enf-pod-" + suffix
	_ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run()
	testenv.Podman(t, "pod", "create", "--name", pod, "--share", "pid")
	t.Cleanup(func() { _ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run() })
	sidecar := testenv.StartContainer(t, "ts-console-enf-sidecar-"+suffix, []string{"--pod", pod}, "sleep", "300")
	attacker := testenv.StartContainer(t, "ts-console-enf-attacker-"+suffix, []string{"--pod", pod}, "sleep", "300")
	target := "/proc/" + strconv.Itoa(testenv.NSPid(t, testenv.ContainerPid(t, sidecar))) + "/root/etc/ld.so.preload"

	// Each container is protected shortly after the registry describes
	// it: until then the write goes through.
	var denied bool
	for deadline := time.Now().Add(30 * time.Second); !denied && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, err := exec.Command("podman", "exec", attacker, "sh", "-c", "echo /tmp/x.so >> "+target).CombinedOutput()
		denied = err != nil && strings.Contains(string(out), "Operation not permitted")
	}
	if !denied {
		t.Fatal("the write into the sidecar's /etc/ld.so.preload was never denied within 30s")
	}
	count := func(ctrs []containerView, id string) int {
		for _, c := range ctrs {
			if c.FullID == id {
				return c.Findings["enforce"]
			}
		}
		return 0
	}
	var ctrs []containerView
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		a.get(t, "/ui/api/containers", &ctrs)
		if count(ctrs, sidecar) > 0 && count(ctrs, attacker) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containers %+v: want an enforce finding on the sidecar %.12s and the attacker %.12s", ctrs, sidecar, attacker)
		}
	}
	var findings []findingEntry
	a.get(t, "/ui/api/findings?container="+sidecar[:12], &findings)
	var block *findingEntry
	for i := range findings {
		if findings[i].Kind == "enforce" {
			block = &findings[i]
		}
	}
	if block == nil || block.Detail["target_container"] != sidecar[:12] || block.ContainerID != attacker || block.Detail["path"] != "/etc/ld.so.preload" {
		t.Errorf("the sidecar's enforce finding %+v: want the write to /etc/ld.so.preload by the attacker %.12s", block, attacker)
	}
}
