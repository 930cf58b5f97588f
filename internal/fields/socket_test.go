package fields

import (
	"net/netip"
	"testing"

	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/state"
)

// socketValues renders the address and port fields of one fd, "<NA>" for
// those that cannot be extracted.
func socketValues(t *testing.T, fd *event.FD) map[string]string {
	t.Helper()
	c := &Ctx{Evt: &event.Event{Type: event.MustType("connect"), FD: fd}}
	out := map[string]string{}
	for _, name := range []string{"fd.sip", "fd.cip", "fd.lip", "fd.rip", "fd.sport", "fd.cport", "fd.lport", "fd.rport", "fd.l4proto", "fd.connected", "fd.is_server"} {
		b, err := Resolve(name)
		if err != nil {
			t.Fatal(err)
		}
		v, ok := b.Extract(c)
		if !ok {
			out[name] = "<NA>"
			continue
		}
		out[name] = Text(b.Field.Type, v)
	}
	return out
}

func checkSocket(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s = %s, want %s", what, k, got[k], w)
		}
	}
}

// The ends of a socket follow its role, as libsinsp's do: none from socket()
// until a connect, bind or accept; a bound socket without a peer has only
// its server end; a connection has both, local and remote by its side.
func TestSocketFieldsFollowTheRole(t *testing.T) {
	server := netip.MustParseAddrPort("10.0.0.2:8080")
	client := netip.MustParseAddrPort("10.0.0.9:40000")

	fresh := &event.FD{Num: 3, Type: event.FDIPv4, L4: event.L4TCP}
	checkSocket(t, "socket()", socketValues(t, fresh), map[string]string{
		"fd.sip": "<NA>", "fd.cip": "<NA>", "fd.lip": "<NA>", "fd.rip": "<NA>",
		"fd.sport": "<NA>", "fd.cport": "<NA>", "fd.lport": "<NA>", "fd.rport": "<NA>",
		"fd.l4proto": "<NA>", "fd.connected": "false",
	})

	bound := &event.FD{Num: 3, Type: event.FDIPv4, L4: event.L4TCP, Role: event.RoleServer, LocalIsServer: true,
		ServerIP: server.Addr(), ServerPort: server.Port()}
	checkSocket(t, "bind", socketValues(t, bound), map[string]string{
		"fd.sip": "10.0.0.2", "fd.sport": "8080", "fd.is_server": "true", "fd.l4proto": "tcp",
		"fd.cip": "<NA>", "fd.lip": "<NA>", "fd.rip": "<NA>", "fd.cport": "<NA>", "fd.lport": "<NA>", "fd.rport": "<NA>",
	})

	accepted := &event.FD{Num: 4, Type: event.FDIPv4, L4: event.L4TCP, Role: event.RoleServer, LocalIsServer: true, Connected: true,
		ServerIP: server.Addr(), ServerPort: server.Port(), ClientIP: client.Addr(), ClientPort: client.Port()}
	checkSocket(t, "accept", socketValues(t, accepted), map[string]string{
		"fd.sip": "10.0.0.2", "fd.cip": "10.0.0.9", "fd.lip": "10.0.0.2", "fd.rip": "10.0.0.9",
		"fd.sport": "8080", "fd.cport": "40000", "fd.lport": "8080", "fd.rport": "40000", "fd.connected": "true",
	})

	connected := &event.FD{Num: 5, Type: event.FDIPv4, L4: event.L4TCP, Role: event.RoleClient, Connected: true,
		ServerIP: server.Addr(), ServerPort: server.Port(), ClientIP: client.Addr(), ClientPort: client.Port()}
	checkSocket(t, "connect", socketValues(t, connected), map[string]string{
		"fd.lip": "10.0.0.9", "fd.rip": "10.0.0.2", "fd.lport": "40000", "fd.rport": "8080", "fd.is_server": "false",
	})

	raw := &event.FD{Num: 6, Type: event.FDIPv4, L4: event.L4Raw}
	checkSocket(t, "raw socket()", socketValues(t, raw), map[string]string{"fd.l4proto": "raw", "fd.sip": "<NA>"})
}

func render(t *testing.T, c *Ctx, name string) string {
	t.Helper()
	b, err := Resolve(name)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := b.Extract(c)
	if !ok {
		return "<NA>"
	}
	return Text(b.Field.Type, v)
}

// The standard streams, the session and process-group leaders, and the
// deprecated Kubernetes fields old rules still name.
func TestStdioLeaderAndDeprecatedFields(t *testing.T) {
	sshd := &state.Process{Pid: 10, VPid: 10, Sid: 10, VPgid: 10, Exe: "/usr/sbin/sshd", ExePath: "/usr/sbin/sshd"}
	sshd.SetComm("sshd")
	sh := &state.Process{Pid: 20, VPid: 20, Sid: 10, VPgid: 20, Parent: sshd, Exe: "sh", ExePath: "/usr/bin/dash",
		FDs: map[int64]*event.FD{
			0: {Num: 0, Type: event.FDIPv4, Name: "10.0.0.9:40000->10.0.0.2:4444", Role: event.RoleClient},
			1: {Num: 1, Type: event.FDPipe, Name: "pipe:[77]"},
		}}
	sh.SetComm("sh")
	c := &Ctx{Evt: &event.Event{Type: event.MustType("execve")}, Proc: sh}
	for name, want := range map[string]string{
		"proc.stdin.type": "ipv4", "proc.stdin.name": "10.0.0.9:40000->10.0.0.2:4444",
		"proc.stdout.type": "pipe", "proc.stderr.type": "<NA>", "proc.fdopencount": "2",
		"proc.sname": "sshd", "proc.sid.exe": "/usr/sbin/sshd", "proc.sid.exepath": "/usr/sbin/sshd",
		"proc.vpgid.name": "sh", "proc.vpgid.exepath": "/usr/bin/dash",
		"k8s.deployment.name": "<NA>", "k8s.ns.label[team]": "<NA>", "k8s.svc.labels": "<NA>",
		"evt.is_io": "false", "evt.io_dir": "<NA>",
	} {
		if got := render(t, c, name); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	c.Evt.FD = &event.FD{Num: 3, Type: event.FDFile, Name: "/etc/ld.so.preload"}
	if got := render(t, c, "fd.containerdirectory"); got != "host:/etc" {
		t.Errorf("fd.containerdirectory = %s", got)
	}
	c.Evt.Type = event.MustType("recvfrom")
	if got := render(t, c, "evt.io_dir"); got != "read" {
		t.Errorf("evt.io_dir of recvfrom = %s", got)
	}
}
