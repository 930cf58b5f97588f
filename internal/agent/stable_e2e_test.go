package agent

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/testenv"
)

// End-to-end test 3 of issue 3: with the upstream stable rules loaded,
// real actions on this machine (nearly all inside podman containers) make
// the rules fire, each asserted by exact rule name and key output fields.
//
// Safety: nothing here writes a host file outside t.TempDir(). Every
// "attack" happens inside a container we start (and podman removes):
// /etc/shadow, /var/log/syslog and release_agent are the container's own
// files, the kernel module is junk (and modules are compiled out: ENOSYS),
// the network actions run in a container without a network (--network
// none) whose loopback carries the "remote" addresses, so no packet leaves
// the machine. No action touches /etc/ld.so.preload.

// helperC is a small static multi-tool the actions need where busybox has
// no applet: it is compiled at test time and hard-linked under the program
// names rules look for (nginx, sshd, ssh, debugfs).
const helperC = `
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int spawn(char **argv) {
	pid_t p = fork();
	if (p < 0) { perror("fork"); return 1; }
	if (p == 0) { execv(argv[0], argv); perror("execv"); _exit(127); }
	int st = 0;
	waitpid(p, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int main(int argc, char **argv) {
	if (argc < 2) { fprintf(stderr, "usage: %s op ...\n", argv[0]); return 2; }
	const char *op = argv[1];
	if (!strcmp(op, "noop")) return 0;
	if (!strcmp(op, "spawn") && argc > 2) {
		/* spawn PROG ARGS...: run a program, then linger a second as a
		   login session does. */
		int rc = spawn(argv + 2);
		sleep(1);
		return rc;
	}
	if (!strcmp(op, "server") && argc > 3) {
		/* server MS FILE [PROG ARGS...]: a long-running server that reads
		   a file after MS milliseconds, then runs a program. */
		usleep(atoi(argv[2]) * 1000);
		int fd = open(argv[3], O_RDONLY);
		if (fd < 0) perror("open"); else close(fd);
		return argc > 4 ? spawn(argv + 4) : 0;
	}
	if (!strcmp(op, "packet")) {
		int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
		if (s < 0) { perror("socket"); return 1; }
		close(s);
		return 0;
	}
	if (!strcmp(op, "connect") && argc > 3) {
		/* connect IP PORT: listen on *:PORT, then connect to IP:PORT. */
		struct sockaddr_in a;
		memset(&a, 0, sizeof a);
		a.sin_family = AF_INET;
		a.sin_port = htons(atoi(argv[3]));
		a.sin_addr.s_addr = htonl(INADDR_ANY);
		int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4)) { perror("listen"); return 1; }
		if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) { fprintf(stderr, "bad address\n"); return 1; }
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(s, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }
		close(s);
		close(l);
		return 0;
	}
	if (!strcmp(op, "ptrace")) {
		/* A child that asks to be traced (anti-debug), and a child we
		   attach to (injection). */
		pid_t c = fork();
		if (c == 0) { ptrace(PTRACE_TRACEME, 0, 0, 0); _exit(0); }
		waitpid(c, NULL, 0);
		c = fork();
		if (c == 0) { for (;;) pause(); }
		usleep(50000);
		if (ptrace(PTRACE_ATTACH, c, 0, 0) == 0) {
			waitpid(c, NULL, 0);
			ptrace(PTRACE_DETACH, c, 0, 0);
		} else perror("ptrace attach");
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		return 0;
	}
	if (!strcmp(op, "memfd")) {
		/* Copy ourselves into an anonymous memory file and execute it. */
		int in = open("/proc/self/exe", O_RDONLY);
		int m = memfd_create("payload", MFD_CLOEXEC);
		if (in < 0 || m < 0) { perror("memfd"); return 1; }
		char buf[65536];
		ssize_t n;
		while ((n = read(in, buf, sizeof buf)) > 0)
			if (write(m, buf, n) != n) { perror("write"); return 1; }
		close(in);
		char *args[] = {"payload", "noop", NULL};
		fexecve(m, args, environ);
		perror("fexecve");
		return 1;
	}
	fprintf(stderr, "unknown op %s\n", op);
	return 2;
}
`

// buildHelper compiles helperC statically into a fresh directory (mode
// 0755, so a container user other than root can run it) and hard-links it
// under the given names.
func buildHelper(t *testing.T, names ...string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		testenv.Missing(t, "gcc is not installed (needed to build the static test helper)")
	}
	src := filepath.Join(t.TempDir(), "tshelper.c")
	if err := os.WriteFile(src, []byte(helperC), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "tshelper")
	if out, err := exec.Command("gcc", "-static", "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		testenv.Missing(t, "cannot build a static helper with gcc (libc6-dev?): %v: %s", err, out)
	}
	for _, n := range names {
		if err := os.Link(bin, filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// stableRulesSource reads the upstream stable rules from the shared
// conformance data.
func stableRulesSource(t *testing.T) rules.Source {
	t.Helper()
	path := filepath.Join(testenv.ConformanceDir(t), "falco", "falco_rules.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return rules.Source{Name: path, Data: data}
}

var ruleNameRE = regexp.MustCompile(`(?m)^- rule: (.+?)\s*$`)

// containerOutputs is a second rules file, as a user would load next to
// the upstream one, that appends the container's id and name to every
// rule's output (what Falco's append_output does): the stable rules'
// outputs do not name the container, and the test asserts it. Conditions
// are untouched.
func containerOutputs(stable []byte) (rules.Source, []string) {
	var names []string
	var b strings.Builder
	for _, m := range ruleNameRE.FindAllSubmatch(stable, -1) {
		name := string(m[1])
		names = append(names, name)
		fmt.Fprintf(&b, "- rule: %s\n  output: container_id=%%container.id\n  override:\n    output: append\n\n", name)
	}
	return rules.Source{Name: "append-container-output.yaml", Data: []byte(b.String())}, names
}

// action is one container the test runs, by a fixed name.
type action struct {
	name  string
	extra []string
	cmd   []string
}

// expectation is what one stable rule must alert with.
type expectation struct {
	rule string
	// ctr is the action whose container must raise the alert.
	ctr string
	// pick selects the alert among the container's alerts for the rule
	// (nil: any).
	pick func(al *output.Alert) bool
	// want are exact output field values (printed with %v).
	want map[string]string
	// check runs extra assertions on the chosen alert.
	check func(t *testing.T, al *output.Alert)
}

func fieldText(al *output.Alert, name string) string {
	v, ok := al.Fields[name]
	if !ok || v == nil {
		return "<NA>"
	}
	return fmt.Sprint(v)
}

func cmdlineIs(s string) func(al *output.Alert) bool {
	return func(al *output.Alert) bool { return fieldText(al, "proc.cmdline") == s }
}

func TestStableRulesFireOnRealActions(t *testing.T) {
	testenv.RequirePodman(t)
	start := time.Now()
	_, preloadErr := os.Stat("/etc/ld.so.preload")
	stable := stableRulesSource(t)
	extra, ruleNames := containerOutputs(stable.Data)
	if len(ruleNames) != 25 {
		t.Fatalf("found %d rules in %s, want the 25 stable rules", len(ruleNames), stable.Name)
	}
	helper := buildHelper(t, "nginx", "sshd", "ssh", "debugfs")

	// In a cluster, kubernetes.default.svc.cluster.local resolves to the
	// API server's service address; here a static table plays the
	// cluster's DNS (conditions compile the lookup at load).
	const apiServer = "10.96.0.1"
	oldResolver := engine.Resolver
	engine.Resolver = engine.StaticResolver{"kubernetes.default.svc.cluster.local": {netip.MustParseAddr(apiServer)}}
	t.Cleanup(func() { engine.Resolver = oldResolver })

	a := startAgentWithRuntime(t, []rules.Source{stable, extra}, engine.Options{Matching: engine.MatchAll})
	t.Logf("agent started in %v", time.Since(start).Round(time.Millisecond))

	ts := []string{"-v", helper + ":/ts:ro"}
	actions := []action{
		// A long-running "nginx" that reads /etc/shadow after its first
		// five seconds and then spawns a shell: started first, as it
		// takes longest.
		{name: "nginx", extra: ts, cmd: []string{"/ts/nginx", "server", "5500", "/etc/shadow", "/bin/sh", "-c", "echo pwned"}},
		// Applets are run by path: busybox's shell would otherwise run
		// them in-process or through /proc/self/exe (proc.name "exe"),
		// where a real distribution runs /bin/cat, /bin/grep...
		{name: "files", cmd: []string{"sh", "-c", strings.Join([]string{
			"/bin/cat /etc/shadow >/dev/null",
			"/bin/ln -s /etc/shadow /tmp/shadow-link",
			"/bin/ln /etc/shadow /tmp/shadow-hard",
			": > /var/log/syslog",
			"echo junk > /tmp/junk",
			"/bin/shred -n 1 -u /tmp/junk",
			"/bin/grep -rl 'BEGIN RSA PRIVATE' /etc",
			"/bin/find /root -name id_rsa",
			"/bin/find /root -path '*/.aws/credentials'",
			"/bin/cp /bin/busybox /tmp/whoami",
			"/tmp/whoami",
			"(/bin/timeout 5 /bin/nc -l -p 4444 >/dev/null &)",
			"/bin/sleep 0.5",
			"/bin/nc 127.0.0.1 4444 -e /bin/true",
			"true",
		}, "; ")}},
		// The entrypoint itself, so its parent is conmon, not a shell.
		{name: "traversal", cmd: []string{"cat", "/bin/../../etc/passwd"}},
		{name: "tty", extra: []string{"-t"}, cmd: []string{"sh", "-c", "sleep 0.2"}},
		{name: "shm", extra: []string{"--tmpfs", "/dev/shm:rw,exec"}, cmd: []string{"sh", "-c", "cp /bin/busybox /dev/shm/uname && /dev/shm/uname -a"}},
		// A system account's command below an "sshd" session. The session
		// lingers a second, as a real one does: user names are resolved
		// through /proc/<pid>/root/etc/passwd, which needs the process
		// alive when the agent handles its exec, and a root whose lookup
		// failed stays unresolved for the cache's TTL (state.Users), so
		// two processes that both exit within milliseconds may show
		// user.name <NA>.
		{name: "sysuser", extra: append([]string{"--user", "65534"}, ts...), cmd: []string{"/ts/sshd", "spawn", "/bin/id"}},
		{name: "caps", extra: append([]string{"--cap-add", "SYS_MODULE", "--cap-add", "SYS_ADMIN", "--cap-add", "NET_RAW"}, ts...),
			cmd: []string{"sh", "-c", "echo junk > /tmp/evil.ko; /bin/insmod /tmp/evil.ko; echo /tmp/x.sh > /tmp/release_agent; /ts/tshelper packet"}},
		{name: "priv", extra: append([]string{"--privileged"}, ts...), cmd: []string{"/ts/debugfs", "noop"}},
		{name: "trace", extra: ts, cmd: []string{"sh", "-c", "/ts/tshelper ptrace; /ts/tshelper memfd"}},
		// No network: the loopback carries the "public" SSH relay
		// (documentation range) and the API server's service address.
		{name: "net", extra: append([]string{"--network", "none", "--cap-add", "NET_ADMIN"}, ts...),
			cmd: []string{"sh", "-c", "/bin/ip addr add 203.0.113.1/32 dev lo && /bin/ip addr add " + apiServer + "/32 dev lo && /ts/ssh connect 203.0.113.1 443; /ts/tshelper connect " + apiServer + " 443"}},
	}
	// Names unique to this run: another run of the suite on the machine
	// must not remove our containers by name (alerts are told apart by
	// container id anyway).
	suffix := fmt.Sprintf("-%d", os.Getpid())
	ids := map[string]string{}
	for _, ac := range actions {
		ids[ac.name] = testenv.StartContainer(t, "ts-stable-"+ac.name+suffix, ac.extra, ac.cmd...)
	}
	for _, ac := range actions {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, "podman", "wait", ids[ac.name]).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("podman wait %s: %v: %s", ac.name, err, out)
		}
		if logs, err := exec.Command("podman", "logs", ids[ac.name]).CombinedOutput(); err == nil && len(logs) > 0 {
			t.Logf("%s (%s) output:\n%s", ac.name, ids[ac.name][:12], strings.TrimSpace(string(logs)))
		}
	}
	t.Logf("actions done after %v", time.Since(start).Round(time.Millisecond))

	root := map[string]string{"user.name": "root", "user.uid": "0"}
	with := func(m map[string]string, more map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for k, v := range more {
			out[k] = v
		}
		return out
	}
	cases := []expectation{
		{rule: "Directory traversal monitored file read", ctr: "traversal",
			want: with(root, map[string]string{"fd.name": "/etc/passwd", "fd.nameraw": "/bin/../../etc/passwd",
				"proc.name": "cat", "proc.pname": "conmon", "proc.cmdline": "cat /bin/../../etc/passwd", "evt.type": "openat"})},
		{rule: "Read sensitive file trusted after startup", ctr: "nginx",
			want: with(root, map[string]string{"fd.name": "/etc/shadow", "proc.name": "nginx", "proc.exepath": "/ts/nginx",
				"proc.pname": "conmon", "evt.type": "openat"})},
		{rule: "Read sensitive file untrusted", ctr: "files", pick: cmdlineIs("cat /etc/shadow"),
			want: with(root, map[string]string{"fd.name": "/etc/shadow", "proc.name": "cat", "proc.pname": "sh",
				"proc.exepath": "/bin/busybox", "evt.type": "openat"})},
		{rule: "Run shell untrusted", ctr: "nginx",
			want: with(root, map[string]string{"proc.name": "sh", "proc.pname": "nginx", "proc.cmdline": "sh -c echo pwned",
				"proc.pexepath": "/ts/nginx", "proc.aname[2]": "conmon", "evt.type": "execve"})},
		{rule: "System user interactive", ctr: "sysuser",
			want: map[string]string{"user.name": "nobody", "user.uid": "65534", "proc.name": "id", "proc.pname": "sshd",
				"proc.cmdline": "id", "evt.type": "execve"}},
		{rule: "Terminal shell in container", ctr: "tty",
			want: with(root, map[string]string{"proc.name": "sh", "proc.pname": "conmon", "proc.cmdline": "sh -c sleep 0.2", "evt.type": "execve"}),
			check: func(t *testing.T, al *output.Alert) {
				if tty := fieldText(al, "proc.tty"); tty == "0" || tty == "<NA>" {
					t.Errorf("proc.tty = %s, want the container's pty", tty)
				}
			}},
		{rule: "Contact K8S API Server From Container", ctr: "net",
			want: with(root, map[string]string{"proc.name": "tshelper", "fd.rport": "443", "fd.type": "ipv4", "fd.l4proto": "tcp",
				"evt.type": "connect", "proc.cmdline": "tshelper connect " + apiServer + " 443"}),
			check: func(t *testing.T, al *output.Alert) {
				if c := fieldText(al, "fd.name"); !strings.HasSuffix(c, "->"+apiServer+":443") {
					t.Errorf("connection = %s, want ...->%s:443", c, apiServer)
				}
			}},
		{rule: "Netcat Remote Code Execution in Container", ctr: "files",
			want: with(root, map[string]string{"proc.name": "nc", "proc.cmdline": "nc 127.0.0.1 4444 -e /bin/true",
				"proc.pname": "sh", "evt.type": "execve"})},
		{rule: "Search Private Keys or Passwords", ctr: "files", pick: cmdlineIs("grep -rl BEGIN RSA PRIVATE /etc"),
			want: with(root, map[string]string{"proc.name": "grep", "proc.pname": "sh", "evt.type": "execve"})},
		{rule: "Clear Log Activities", ctr: "files",
			want: with(root, map[string]string{"fd.name": "/var/log/syslog", "proc.name": "sh", "evt.type": "openat"})},
		{rule: "Remove Bulk Data from Disk", ctr: "files",
			want: with(root, map[string]string{"proc.name": "shred", "proc.cmdline": "shred -n 1 -u /tmp/junk", "evt.type": "execve"})},
		{rule: "Create Symlink Over Sensitive Files", ctr: "files",
			want: with(root, map[string]string{"evt.arg.target": "/etc/shadow", "evt.arg.linkpath": "/tmp/shadow-link",
				"proc.name": "ln", "proc.cmdline": "ln -s /etc/shadow /tmp/shadow-link"})},
		{rule: "Create Hardlink Over Sensitive Files", ctr: "files",
			want: with(root, map[string]string{"evt.arg.oldpath": "/etc/shadow", "evt.arg.newpath": "/tmp/shadow-hard",
				"proc.name": "ln", "proc.cmdline": "ln /etc/shadow /tmp/shadow-hard"})},
		{rule: "Packet socket created in container", ctr: "caps",
			want: with(root, map[string]string{"proc.name": "tshelper", "proc.cmdline": "tshelper packet", "evt.type": "socket"}),
			check: func(t *testing.T, al *output.Alert) {
				if s := fieldText(al, "evt.args"); !strings.Contains(s, "AF_PACKET") {
					t.Errorf("socket_info = %s, want the AF_PACKET domain", s)
				}
			}},
		{rule: "Redirect STDOUT/STDIN to Network Connection in Container", ctr: "files",
			pick: func(al *output.Alert) bool { return fieldText(al, "fd.rport") == "4444" },
			want: with(root, map[string]string{"proc.name": "nc", "proc.cmdline": "nc 127.0.0.1 4444 -e /bin/true",
				"fd.type": "ipv4", "fd.l4proto": "tcp", "fd.sip": "127.0.0.1", "evt.type": "dup2"})},
		{rule: "Linux Kernel Module Injection Detected", ctr: "caps",
			// busybox insmod tries finit_module, then init_module; both
			// return ENOSYS on this kernel (modules are compiled out).
			pick: func(al *output.Alert) bool { return fieldText(al, "evt.type") == "finit_module" },
			want: with(root, map[string]string{"proc.name": "insmod", "proc.args": "/tmp/evil.ko", "evt.res": "ENOSYS", "proc.pname": "sh"})},
		{rule: "Debugfs Launched in Privileged Container", ctr: "priv",
			// container.privileged comes from podman's API.
			want: with(root, map[string]string{"proc.name": "debugfs", "proc.exepath": "/ts/debugfs", "evt.type": "execve"})},
		{rule: "Detect release_agent File Container Escapes", ctr: "caps",
			want: with(root, map[string]string{"fd.name": "/tmp/release_agent", "proc.name": "sh", "evt.type": "openat"}),
			check: func(t *testing.T, al *output.Alert) {
				if c := fieldText(al, "thread.cap_effective"); !strings.Contains(c, "CAP_SYS_ADMIN") {
					t.Errorf("cap_effective = %s, want CAP_SYS_ADMIN in it", c)
				}
			}},
		{rule: "PTRACE attached to process", ctr: "trace",
			want: with(root, map[string]string{"proc.name": "tshelper", "proc.cmdline": "tshelper ptrace", "evt.type": "ptrace", "proc.pname": "sh"})},
		{rule: "PTRACE anti-debug attempt", ctr: "trace",
			want: with(root, map[string]string{"proc.name": "tshelper", "proc.cmdline": "tshelper ptrace", "evt.type": "ptrace", "proc.pname": "tshelper"})},
		{rule: "Find AWS Credentials", ctr: "files",
			want: with(root, map[string]string{"proc.name": "find", "proc.cmdline": "find /root -path */.aws/credentials", "evt.type": "execve"})},
		{rule: "Execution from /dev/shm", ctr: "shm",
			want: with(root, map[string]string{"proc.name": "uname", "proc.exepath": "/dev/shm/uname", "proc.cmdline": "uname -a", "evt.type": "execve"})},
		{rule: "Drop and execute new binary in container", ctr: "files",
			want: with(root, map[string]string{"proc.name": "whoami", "proc.exe": "/tmp/whoami", "proc.exepath": "/tmp/whoami", "evt.type": "execve"})},
		{rule: "Disallowed SSH Connection Non Standard Port", ctr: "net",
			want: with(root, map[string]string{"proc.name": "ssh", "proc.exepath": "/ts/ssh", "fd.rport": "443", "fd.type": "ipv4",
				"fd.l4proto": "tcp", "evt.type": "connect"}),
			check: func(t *testing.T, al *output.Alert) {
				if c := fieldText(al, "fd.name"); !strings.HasSuffix(c, "->203.0.113.1:443") {
					t.Errorf("connection = %s, want ...->203.0.113.1:443", c)
				}
			}},
		// fexecve is execveat(fd, "", AT_EMPTY_PATH), but the kernel
		// reports a successful execveat with the execve number at exit,
		// so Falco and we both see evt.type=execve. The new comm is the
		// memfd's name. The shell exec'd its last command, so the
		// parent is conmon.
		{rule: "Fileless execution via memfd_create", ctr: "trace",
			want: with(root, map[string]string{"proc.name": "memfd:payload", "proc.cmdline": "memfd:payload noop",
				"proc.sname": "memfd:payload", "evt.type": "execve", "evt.res": "SUCCESS", "proc.pname": "conmon"})},
	}
	if len(cases) != len(ruleNames) {
		t.Errorf("%d cases for %d rules", len(cases), len(ruleNames))
	}

	// Every action is done: give the pipeline a moment to drain, then
	// poll until every expected alert is in or the deadline passes.
	deadline := time.Now().Add(10 * time.Second)
	find := func(c expectation) []*output.Alert {
		id := ids[c.ctr][:12]
		return a.matching(c.rule, func(al *output.Alert) bool {
			return fieldText(al, "container.id") == id && (c.pick == nil || c.pick(al))
		})
	}
	for time.Now().Before(deadline) {
		missing := 0
		for _, c := range cases {
			if len(find(c)) == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)

	var fired, silent []string
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			got := find(c)
			if len(got) == 0 {
				silent = append(silent, c.rule)
				id := ids[c.ctr][:12]
				var here, elsewhere []string
				a.mu.Lock()
				all := append([]*output.Alert(nil), a.alerts...)
				a.mu.Unlock()
				for _, al := range all {
					if fieldText(al, "container.id") == id {
						here = append(here, al.Rule+": "+al.Message)
					} else if al.Rule == c.rule {
						elsewhere = append(elsewhere, al.Message)
					}
				}
				t.Fatalf("no alert from container %s (%s)\nalerts of this rule from elsewhere:\n  %s\nalerts from this container:\n  %s",
					c.ctr, id, strings.Join(elsewhere, "\n  "), strings.Join(here, "\n  "))
			}
			fired = append(fired, c.rule)
			al := got[0]
			t.Logf("%d alert(s); first: %s", len(got), al.Text(output.TextOptions{}))
			keys := make([]string, 0, len(c.want))
			for k := range c.want {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if got := fieldText(al, k); got != c.want[k] {
					t.Errorf("%s = %q, want %q", k, got, c.want[k])
				}
			}
			if c.check != nil {
				c.check(t, al)
			}
		})
	}
	sort.Strings(fired)
	t.Logf("%d of %d stable rules fired on real actions in %v:\n  %s", len(fired), len(cases), time.Since(start).Round(time.Millisecond), strings.Join(fired, "\n  "))
	if len(silent) > 0 {
		t.Logf("did not fire:\n  %s", strings.Join(silent, "\n  "))
	}
	if len(fired) < 15 {
		t.Errorf("only %d stable rules fired, want at least 15", len(fired))
	}
	if _, err := os.Stat("/etc/ld.so.preload"); err == nil && preloadErr != nil {
		t.Errorf("the host's /etc/ld.so.preload exists: no action may create it")
	}
}
