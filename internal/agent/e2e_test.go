package agent

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/ruleset"
	"github.com/truesightsec/truesight/internal/sensor"
	"github.com/truesightsec/truesight/internal/state"
	"github.com/truesightsec/truesight/internal/testenv"
)

// liveAgent is a running sensor+engine collecting alerts.
type liveAgent struct {
	mu     sync.Mutex
	alerts []*output.Alert
	cancel context.CancelFunc
	done   chan error
	loop   *Loop
}

func defaultSources() []rules.Source {
	return []rules.Source{{Name: ruleset.DefaultName, Data: ruleset.Default}}
}

// startAgent loads rules, attaches the sensor and runs the loop until the
// test ends.
func startAgent(t *testing.T, srcs []rules.Source, opts engine.Options) *liveAgent {
	return startAgentWith(t, srcs, opts, false)
}

// startAgentWithRuntime also serves podman's API and feeds container
// metadata to the fields, as `truesight run` does.
func startAgentWithRuntime(t *testing.T, srcs []rules.Source, opts engine.Options) *liveAgent {
	return startAgentWith(t, srcs, opts, true)
}

func startAgentWith(t *testing.T, srcs []rules.Source, opts engine.Options, withRuntime bool) *liveAgent {
	t.Helper()
	testenv.RequireRoot(t)
	eng, _, diags := engine.Load(srcs, opts)
	if diags.HasErrors() {
		t.Fatalf("load rules: %v", diags.Errors())
	}
	plan := PlanFor(eng)
	snaplen := 0
	if plan.Data {
		snaplen = sensor.DefaultSnaplen
	}
	s, err := sensor.Open(sensor.Options{Syscalls: plan.Syscalls, Snaplen: snaplen})
	if err != nil {
		t.Fatalf("open sensor: %v", err)
	}
	var reg *container.Registry
	if withRuntime {
		sock := testenv.PodmanService(t)
		reg = container.NewRegistry(container.Options{Docker: []string{sock}, Containerd: []string{}, CRI: []string{}})
	}
	table := state.NewTable(0)
	tr := NewTranslator(table, state.NewUsers(), ownMntNS(t))
	// The test process is both the agent and the workload's parent: its
	// children must not be taken for the agent's own helpers.
	tr.SelfPid = -1
	if reg != nil {
		tr.SeenContainer = reg.Seen
	}
	tasks, err := s.Snapshot()
	if err != nil {
		s.Close()
		t.Fatalf("snapshot: %v", err)
	}
	tr.Seed(tasks)
	a := &liveAgent{done: make(chan error, 1)}
	a.loop = &Loop{Sensor: s, Translator: tr, Hostname: "test-host", Containers: reg, Emit: func(al *output.Alert) {
		a.mu.Lock()
		a.alerts = append(a.alerts, al)
		a.mu.Unlock()
	}}
	a.loop.Engine.Store(eng)
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	if reg != nil {
		regDone := make(chan struct{})
		go func() { _ = reg.Run(ctx); close(regDone) }()
		t.Cleanup(func() { cancel(); <-regDone })
		select {
		case <-reg.Synced():
		case <-time.After(10 * time.Second):
			t.Fatal("container registry did not sync with podman within 10s")
		}
	}
	go func() { a.done <- a.loop.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-a.done; err != nil {
			t.Errorf("agent loop: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("close sensor: %v", err)
		}
	})
	return a
}

func ownMntNS(t *testing.T) uint32 {
	t.Helper()
	link, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	var n uint32
	for _, c := range link {
		if c >= '0' && c <= '9' {
			n = n*10 + uint32(c-'0')
		}
	}
	return n
}

// waitFor returns the alerts of a rule once at least one arrived and the
// stream has been quiet for a moment, or fails after the timeout.
func (a *liveAgent) waitFor(t *testing.T, rule string, match func(*output.Alert) bool) []*output.Alert {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if got := a.matching(rule, match); len(got) > 0 {
			time.Sleep(500 * time.Millisecond) // let duplicates, if any, arrive
			return a.matching(rule, match)
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var seen []string
	for _, al := range a.alerts {
		seen = append(seen, al.Rule+": "+al.Message)
	}
	t.Fatalf("no %q alert within 15s; alerts seen:\n%s", rule, strings.Join(seen, "\n"))
	return nil
}

func (a *liveAgent) matching(rule string, match func(*output.Alert) bool) []*output.Alert {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []*output.Alert
	for _, al := range a.alerts {
		if al.Rule == rule && (match == nil || match(al)) {
			out = append(out, al)
		}
	}
	return out
}

func field(a *output.Alert, name string) any { return a.Fields[name] }

func TestPreloadWriteInContainerAlertsWithContainerContext(t *testing.T) {
	testenv.RequirePodman(t)
	a := startAgentWithRuntime(t, defaultSources(), engine.Options{})
	id := testenv.StartContainer(t, "ts-e2e-preload-"+strconv.Itoa(os.Getpid()), nil, "sh", "-c", "echo /lib/x.so >> /etc/ld.so.preload")
	testenv.Podman(t, "wait", id)
	got := a.waitFor(t, "Modify ld.so.preload", func(al *output.Alert) bool { return field(al, "container.id") == id[:12] })
	if len(got) != 1 {
		t.Fatalf("got %d alerts, want exactly 1: %v", len(got), got)
	}
	al := got[0]
	t.Logf("alert: %s", al.Text(output.TextOptions{}))
	want := map[string]any{
		"fd.name":         "/etc/ld.so.preload",
		"user.name":       "root",
		"proc.cmdline":    "sh -c echo /lib/x.so >> /etc/ld.so.preload",
		"container.id":    id[:12],
		"fd.container.id": id[:12],
		"proc.exepath":    "/bin/busybox",
		// runc's init execs the command; conmon (which double-forks) is
		// its parent once runc is gone.
		"proc.pname":    "conmon",
		"proc.aname[2]": "conmon",
		// From podman's API.
		"container.name":             "ts-e2e-preload-" + strconv.Itoa(os.Getpid()),
		"container.image.repository": "localhost/truesight-test-bb",
	}
	for k, v := range want {
		if field(al, k) != v {
			t.Errorf("%s = %v, want %v", k, field(al, k), v)
		}
	}
	if field(al, "proc.pname") == nil || field(al, "proc.pcmdline") == nil || field(al, "proc.aname[2]") == nil {
		t.Errorf("parent, parent command line and grandparent must be known: %v", al.Fields)
	}
	if n := len(a.matching("Modify ld.so.preload of another container", func(al *output.Alert) bool { return field(al, "container.id") == id[:12] })); n != 0 {
		t.Errorf("a write to the container's own preload file raised %d cross-container alerts", n)
	}
}

func TestPreloadWriteOnHostInPrivateMountNamespaceSaysHost(t *testing.T) {
	testenv.RequireRoot(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		testenv.Missing(t, "unshare (util-linux) not installed")
	}
	a := startAgent(t, defaultSources(), engine.Options{})
	// A private mount namespace with a tmpfs over /etc: the host's real
	// /etc/ld.so.preload is never touched.
	marker := "ts-host-" + filepath.Base(t.TempDir())
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		"mount -t tmpfs tmpfs /etc && echo /lib/"+marker+".so >> /etc/ld.so.preload")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unshare: %v: %s", err, out)
	}
	got := a.waitFor(t, "Modify ld.so.preload", func(al *output.Alert) bool {
		s, _ := field(al, "proc.cmdline").(string)
		return strings.Contains(s, marker)
	})
	if len(got) != 1 {
		t.Fatalf("got %d alerts, want 1", len(got))
	}
	if c := field(got[0], "container.id"); c != "host" {
		t.Errorf("container.id = %v, want host", c)
	}
	if f := field(got[0], "fd.name"); f != "/etc/ld.so.preload" {
		t.Errorf("fd.name = %v", f)
	}
	if _, err := os.Stat("/etc/ld.so.preload"); err == nil {
		t.Errorf("the host's /etc/ld.so.preload exists: the test must never create it")
	}
}

// The scenario's pod: containers share a PID namespace, so one can reach
// another's root through /proc/<pid>/root and poison its preload file.
func TestPreloadWriteThroughProcRootNamesBothContainers(t *testing.T) {
	testenv.RequirePodman(t)
	a := startAgentWithRuntime(t, defaultSources(), engine.Options{})
	sidecar, attacker, target := podAttack(t, "ts-e2e")
	got := a.waitFor(t, "Modify ld.so.preload of another container", func(al *output.Alert) bool { return field(al, "container.id") == attacker[:12] })
	if len(got) != 1 {
		for _, al := range got {
			t.Logf("alert: %s", al.Text(output.TextOptions{}))
		}
		t.Fatalf("got %d alerts, want exactly 1", len(got))
	}
	al := got[0]
	t.Logf("alert: %s", al.Text(output.TextOptions{}))
	want := map[string]any{
		// fd.name is the path as given, as in Falco; where it leads is
		// the sidecar's /etc/ld.so.preload.
		"fd.name":           target,
		"fd.container.path": "/etc/ld.so.preload",
		"fd.nameraw":        target,
		"container.id":      attacker[:12],
		"fd.container.id":   sidecar[:12],
		"proc.cmdline":      "sh -c echo /lib/x.so >> " + target,
		// Both containers named, from podman's API.
		"container.name":     "ts-e2e-attacker-" + strconv.Itoa(os.Getpid()),
		"fd.container.name":  "ts-e2e-sidecar-" + strconv.Itoa(os.Getpid()),
		"fd.container.image": "localhost/truesight-test-bb:latest",
	}
	for k, v := range want {
		if field(al, k) != v {
			t.Errorf("%s = %v, want %v", k, field(al, k), v)
		}
	}
	if al.Priority != "Critical" {
		t.Errorf("priority %s, want Critical", al.Priority)
	}
	if out := testenv.Podman(t, "exec", sidecar, "cat", "/etc/ld.so.preload"); out != "/lib/x.so" {
		t.Errorf("the sidecar's preload file holds %q: the attack did not happen as staged", out)
	}
	if n := len(a.matching("Modify ld.so.preload", func(al *output.Alert) bool { return field(al, "container.id") == attacker[:12] })); n != 0 {
		t.Errorf("first-match: the generic rule also alerted %d times", n)
	}
}
