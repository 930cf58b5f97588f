package agent

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/testenv"
)

// The field semantics upstream rules rely on, from live kernel events in a
// podman container: chmod's mode with Falco's names, fd.name as the path
// the process gave (/proc/self/exe keeps its name), and truesight's own
// rule seeing through a symlink to the preload file.
func TestLiveFieldSemanticsInAContainer(t *testing.T) {
	testenv.RequirePodman(t)
	own := rules.Source{Name: "semantics.yaml", Data: []byte(`
- rule: Setuid bit set
  desc: chmod family setting the setuid or setgid bit (as upstream's rule)
  condition: evt.type in (chmod, fchmod, fchmodat) and (evt.arg.mode contains "S_ISUID" or evt.arg.mode contains "S_ISGID")
  output: "setuid mode=%evt.arg.mode file=%evt.arg.filename type=%evt.type res=%evt.res container=%container.id"
  priority: NOTICE
- rule: Own executable opened
  desc: an open of /proc/self/exe keeps its name, as in Falco
  condition: evt.type in (open, openat) and fd.name = /proc/self/exe
  output: "exe opened name=%fd.name raw=%fd.nameraw resolved=%fd.container.path process=%proc.name container=%container.id"
  priority: NOTICE
`)}
	a := startAgent(t, append(defaultSources(), own), engine.Options{Matching: engine.MatchAll})
	script := strings.Join([]string{
		"set -e",
		"touch /tmp/tool",
		"chmod 4755 /tmp/tool",
		"cat /proc/self/exe > /dev/null",
		"ln -s /etc/ld.so.preload /tmp/p",
		"echo /lib/x.so > /tmp/p",
	}, "\n")
	id := testenv.StartContainer(t, "ts-e2e-semantics-"+strconv.Itoa(os.Getpid()), nil, "sh", "-c", script)
	if code := testenv.Podman(t, "wait", id); code != "0" {
		t.Fatalf("the script exited %s: %s", code, testenv.Podman(t, "logs", id))
	}
	inContainer := func(al *output.Alert) bool { return field(al, "container.id") == id[:12] }
	for _, c := range []struct {
		rule string
		want map[string]any
	}{
		{"Setuid bit set", map[string]any{"evt.arg.mode": "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID",
			"evt.arg.filename": "/tmp/tool", "evt.res": "SUCCESS"}},
		{"Own executable opened", map[string]any{"fd.name": "/proc/self/exe", "fd.nameraw": "/proc/self/exe", "fd.container.path": "/bin/busybox"}},
		{"Modify ld.so.preload", map[string]any{"fd.name": "/tmp/p", "fd.nameraw": "/tmp/p"}},
	} {
		got := a.waitFor(t, c.rule, func(al *output.Alert) bool {
			// runc's init opens /proc/self/exe too (its exe is runc): the
			// script's cat, a busybox applet busybox's sh starts through
			// /proc/self/exe, is meant.
			return inContainer(al) && (c.rule != "Own executable opened" || field(al, "fd.container.path") == "/bin/busybox")
		})
		al := got[0]
		for k, v := range c.want {
			if field(al, k) != v {
				t.Errorf("%s: %s = %v, want %v", c.rule, k, field(al, k), v)
			}
		}
	}
}

// evt.buffer live: a rule on the data of a write sees its first snaplen
// bytes, in a container, as Falco shows them.
func TestLiveWriteDataReachesEvtBuffer(t *testing.T) {
	testenv.RequirePodman(t)
	own := rules.Source{Name: "data.yaml", Data: []byte(`
- rule: Secret written
  desc: a write whose data holds a marker
  condition: evt.type = write and evt.buffer contains ts-secret-marker
  output: "secret written data=%evt.buffer arg=%evt.arg.data size=%evt.arg.size res=%evt.res rawres=%evt.rawres container=%container.id"
  priority: NOTICE
`)}
	a := startAgent(t, []rules.Source{own}, engine.Options{})
	id := testenv.StartContainer(t, "ts-e2e-data-"+strconv.Itoa(os.Getpid()), nil, "sh", "-c", "echo hello ts-secret-marker > /dev/null")
	if code := testenv.Podman(t, "wait", id); code != "0" {
		t.Fatalf("the script exited %s", code)
	}
	al := a.waitFor(t, "Secret written", func(al *output.Alert) bool { return field(al, "container.id") == id[:12] })[0]
	for k, v := range map[string]any{"evt.buffer": "hello ts-secret-marker\n", "evt.res": "SUCCESS", "evt.rawres": "23", "evt.arg.size": "23"} {
		if got := fmt.Sprint(field(al, k)); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}
