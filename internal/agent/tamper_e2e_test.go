package agent

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/testenv"
)

// Every way of tampering with the loader the scenario lists (step 1: renames
// over, hard links to, truncation and deletion of ld.so.preload, the
// loader's configuration and the loader itself), done for real in a
// container, raises its default rule from live kernel events.
func TestLoaderTamperingInContainerAlerts(t *testing.T) {
	testenv.RequirePodman(t)
	a := startAgent(t, defaultSources(), engine.Options{Matching: engine.MatchAll})
	script := strings.Join([]string{
		"set -e",
		"echo /lib/a.so > /tmp/p",
		"mv /tmp/p /etc/ld.so.preload",      // rename over
		"rm /etc/ld.so.preload",             // unlink
		"echo /lib/b.so > /tmp/q",           //
		"ln /tmp/q /etc/ld.so.preload",      // hard link onto
		"truncate -s 0 /etc/ld.so.preload",  // truncate
		"mv /etc/ld.so.preload /tmp/gone",   // rename away
		"mkdir -p /etc/ld.so.conf.d /lib64", //
		"echo /opt/x > /etc/ld.so.conf.d/x.conf",
		"echo x > /lib64/ld-linux-x86-64.so.2",
	}, "\n")
	id := testenv.StartContainer(t, "ts-e2e-tamper-"+strconv.Itoa(os.Getpid()), nil, "sh", "-c", script)
	if code := testenv.Podman(t, "wait", id); code != "0" {
		t.Fatalf("the script exited %s: %s", code, testenv.Podman(t, "logs", id))
	}
	inContainer := func(al *output.Alert) bool { return field(al, "container.id") == id[:12] }
	types := func(rule string, n int) []string {
		t.Helper()
		a.waitFor(t, rule, inContainer)
		got := a.matching(rule, inContainer)
		var ts []string
		for _, al := range got {
			s, _ := field(al, "evt.type").(string) // only where the output names it
			ts = append(ts, s)
		}
		if len(got) != n {
			t.Errorf("%s: %d alerts (%q), want %d", rule, len(got), ts, n)
		}
		return ts
	}
	family := func(ts []string, prefix string) bool {
		return slices.ContainsFunc(ts, func(s string) bool { return strings.HasPrefix(s, prefix) })
	}

	if ts := types("Replace ld.so.preload", 2); !family(ts, "rename") || !family(ts, "link") {
		t.Errorf("Replace ld.so.preload: syscalls %q, want a rename and a link", ts)
	}
	if ts := types("Remove or truncate ld.so.preload", 3); !family(ts, "unlink") || !family(ts, "rename") ||
		!family(ts, "truncate") && !family(ts, "ftruncate") {
		t.Errorf("Remove or truncate ld.so.preload: syscalls %q, want an unlink, a truncate and a rename", ts)
	}
	types("Modify dynamic loader configuration", 1)
	if got := a.matching("Modify dynamic loader configuration", inContainer); len(got) == 1 && field(got[0], "fd.name") != "/etc/ld.so.conf.d/x.conf" {
		t.Errorf("loader configuration alert names %v", field(got[0], "fd.name"))
	}
	types("Modify dynamic loader", 1)
	if got := a.matching("Modify dynamic loader", inContainer); len(got) == 1 && field(got[0], "fd.name") != "/lib64/ld-linux-x86-64.so.2" {
		t.Errorf("loader alert names %v", field(got[0], "fd.name"))
	}
}

// A program started with LD_PRELOAD (a library that does not exist: the
// loader only warns) raises its rule, with the library named.
func TestProgramStartedWithLDPreloadAlerts(t *testing.T) {
	a := startAgent(t, defaultSources(), engine.Options{})
	lib := "/nonexistent/ts-preload-" + strconv.Itoa(os.Getpid()) + ".so"
	cmd := exec.Command("/usr/bin/env", "LD_PRELOAD="+lib, "/bin/true")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("env: %v: %s", err, out)
	}
	got := a.waitFor(t, "Program started with LD_PRELOAD or LD_AUDIT", func(al *output.Alert) bool {
		return field(al, "proc.env[LD_PRELOAD]") == lib
	})
	if len(got) != 1 || field(got[0], "proc.exepath") != "/usr/bin/true" || field(got[0], "container.id") != "host" {
		t.Errorf("got %d alerts; first: %v", len(got), got[0].Fields)
	}
}

// A rule may name any syscall, not only those with an event of their own in
// the scap table: the sensor captures it for the rule.
func TestRuleOnAGenericSyscallFiresLive(t *testing.T) {
	src := rules.Source{Name: "generic.yaml", Data: []byte(`
- rule: sethostname in a namespace
  desc: d
  condition: evt.type = sethostname and evt.res = SUCCESS
  output: hostname set (pid=%proc.pid command=%proc.cmdline)
  priority: NOTICE
`)}
	a := startAgent(t, []rules.Source{src}, engine.Options{})
	name := "ts-uts-" + strconv.Itoa(os.Getpid())
	// A private UTS namespace: the machine's own hostname is untouched.
	args := []string{"-u", "hostname", name}
	if _, err := exec.LookPath("hostname"); err != nil {
		args = []string{"-u", "busybox", "hostname", name} // busybox-static is a test dependency
	}
	if out, err := exec.Command("unshare", args...).CombinedOutput(); err != nil {
		t.Fatalf("unshare %q: %v: %s", args, err, out)
	}
	got := a.waitFor(t, "sethostname in a namespace", func(al *output.Alert) bool {
		s, _ := field(al, "proc.cmdline").(string)
		return strings.HasSuffix(s, "hostname "+name)
	})
	if len(got) != 1 {
		t.Errorf("%d alerts, want 1", len(got))
	}
}

// A program started with its standard input on a TCP connection (a reverse
// shell's shape) shows it in proc.stdin.type and proc.stdin.name, from the
// fd table the sensor's dup2 and connect records keep.
func TestStdinOnANetworkConnection(t *testing.T) {
	src := rules.Source{Name: "stdin.yaml", Data: []byte(`
- rule: Program reading from the network
  desc: d
  condition: evt.type = execve and proc.stdin.type in (ipv4, ipv6) and proc.name = true
  output: stdin on the network (stdin=%proc.stdin.name stdout=%proc.stdout.type command=%proc.cmdline)
  priority: WARNING
`)}
	a := startAgent(t, []rules.Source{src}, engine.Options{})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			time.Sleep(time.Second)
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	cmd := exec.Command("/bin/bash", "-c", "exec 0<>/dev/tcp/127.0.0.1/"+strconv.Itoa(port)+"; exec /bin/true")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bash: %v: %s", err, out)
	}
	got := a.waitFor(t, "Program reading from the network", nil)
	name, _ := field(got[0], "proc.stdin.name").(string)
	if !strings.HasSuffix(name, "->127.0.0.1:"+strconv.Itoa(port)) {
		t.Errorf("proc.stdin.name = %q, want a connection to port %d", name, port)
	}
}

// A file of the container's image is on the overlay's lower layer; a file
// the container wrote is on the upper one.
func TestOverlayLayersOfOpenedFiles(t *testing.T) {
	testenv.RequirePodman(t)
	src := rules.Source{Name: "layers.yaml", Data: []byte(`
- rule: Open in container
  desc: d
  condition: evt.type in (open, openat) and container.id != host and fd.name in (/bin/busybox, /tmp/new)
  output: open (file=%fd.name upper=%fd.is_upper_layer lower=%fd.is_lower_layer container=%container.id)
  priority: NOTICE
`)}
	a := startAgent(t, []rules.Source{src}, engine.Options{})
	id := testenv.StartContainer(t, "ts-e2e-layers-"+strconv.Itoa(os.Getpid()), nil, "sh", "-c",
		"cat /bin/busybox > /dev/null; echo x > /tmp/new; cat /tmp/new > /dev/null")
	testenv.Podman(t, "wait", id)
	inContainer := func(al *output.Alert) bool { return field(al, "container.id") == id[:12] }
	a.waitFor(t, "Open in container", inContainer)
	layers := map[string][]string{}
	for _, al := range a.matching("Open in container", inContainer) {
		name, _ := field(al, "fd.name").(string)
		layers[name] = append(layers[name], fmt.Sprint(field(al, "fd.is_upper_layer"), field(al, "fd.is_lower_layer")))
	}
	if got := layers["/bin/busybox"]; len(got) == 0 || !slices.Contains(got, "false true") {
		t.Errorf("/bin/busybox (upper lower): %q, want an open from the lower layer", got)
	}
	if got := layers["/tmp/new"]; len(got) == 0 || !slices.Contains(got, "true false") {
		t.Errorf("/tmp/new (upper lower): %q, want an open from the upper layer", got)
	}
}
