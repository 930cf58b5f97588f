package engine

import (
	"net/netip"
	"testing"

	"github.com/truesightsec/truesight/internal/condition"
	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/state"
)

// testCtx is an openat of /etc/ld.so.preload for writing by sh, child of
// bash, child of sshd, inside a container.
func testCtx() *fields.Ctx {
	sshd := &state.Process{Pid: 100, Exe: "/usr/sbin/sshd", ExePath: "/usr/sbin/sshd"}
	sshd.SetComm("sshd")
	bash := &state.Process{Pid: 200, PPid: 100, Parent: sshd, ExePath: "/usr/bin/bash"}
	bash.SetComm("bash")
	bash.SetArgs("-bash", nil)
	sh := &state.Process{Pid: 300, PPid: 200, Parent: bash, ExePath: "/usr/bin/dash", UID: 0,
		ContainerID: "3f2a9c1d5e7b8a6f4c2e0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f",
		Env:         []string{"PATH=/bin", "LD_PRELOAD=/tmp/x.so"}}
	sh.SetComm("sh")
	sh.SetArgs("sh", []string{"-c", "echo /lib/x.so >> /etc/ld.so.preload"})
	sh.Container.Store(&container.Info{Name: "web", Image: "nginx:1.25", ImageRepository: "nginx",
		Labels: map[string]string{"app": "web"}})
	e := &event.Event{Num: 42, Time: 1_700_000_000_123456789, Type: event.MustType("openat"), Tid: 300, Pid: 300, Res: 3, HasRes: true}
	e.AddParam("fd", "3", 3)
	e.AddParam("dirfd", "AT_FDCWD", -100)
	e.AddParam("name", "/etc/ld.so.preload", 0)
	e.AddParam("flags", "O_WRONLY|O_CREAT|O_APPEND", 0o2101)
	e.FD = &event.FD{Num: 3, Type: event.FDFile, Name: "/etc/ld.so.preload", NameRaw: "/etc/ld.so.preload"}
	return &fields.Ctx{Evt: e, Proc: sh, Hostname: "node1"}
}

func netCtx() *fields.Ctx {
	c := testCtx()
	e := &event.Event{Num: 43, Type: event.MustType("connect"), Res: 0, HasRes: true}
	e.FD = &event.FD{Num: 4, Type: event.FDIPv4, L4: event.L4TCP,
		ClientIP: netip.MustParseAddr("10.1.2.3"), ClientPort: 40000,
		ServerIP: netip.MustParseAddr("192.168.7.9"), ServerPort: 443, Connected: true, Role: event.RoleClient}
	c.Evt = e
	return c
}

func TestCompiledConditionsEvaluate(t *testing.T) {
	cases := []struct {
		cond string
		want bool
	}{
		{"evt.type = openat", true},
		{"evt.type in (open, openat, openat2)", true},
		{"evt.type = execve", false},
		{"fd.name = /etc/ld.so.preload", true},
		{"fd.name != /etc/ld.so.preload", false},
		{"fd.name startswith /etc/", true},
		{"fd.name endswith .preload", true},
		{"fd.name contains so.pre", true},
		{"fd.name icontains SO.PRE", true},
		{"fd.name glob /etc/*.preload", true},
		{"fd.name glob '/e?c/ld.so.*'", true},
		{"fd.name glob /etc", false},
		{"fd.name iglob /ETC/*", true},
		{`fd.name regex '/etc/ld\\.so\\..*'`, true},
		{`fd.name regex 'ld\\.so'`, false}, // full match, not search
		{"fd.name pmatch (/etc)", true},
		{"fd.name pmatch (/et)", false},
		{"fd.directory = /etc", true},
		{"fd.filename = ld.so.preload", true},
		{"fd.typechar = f", true},
		{"fd.num >= 0", true},
		{"fd.num < 3", false},
		{"evt.is_open_write = true", true},
		{"evt.is_open_read = true", false},
		{"evt.res = SUCCESS", true},
		{"evt.rawres = 3", true},
		{"evt.num > 41 and evt.num <= 42", true},
		{"evt.arg.flags contains O_APPEND", true},
		{"evt.arg[flags] contains O_CREAT", true},
		{"evt.arg.nope = x", false},
		{"evt.arg.nope != x", false}, // missing field: != is false too
		{"not evt.arg.nope = x", true},
		{"evt.arg.nope exists", false},
		{"evt.arg.name exists", true},
		{"proc.name = sh", true},
		{"proc.pname = bash", true},
		{"proc.aname[2] = sshd", true},
		{"proc.aname[0] = sh", true},
		{"proc.aname = sshd", true},
		{"proc.aname = sh", false}, // unindexed: ancestors only, not itself
		{"proc.aname[3] = sshd", false},
		{"proc.aname[3] exists", false},
		{"proc.cmdline = \"sh -c echo /lib/x.so >> /etc/ld.so.preload\"", true},
		{"proc.args startswith -c", true},
		{"proc.pcmdline = bash", true},
		{"proc.exepath = /usr/bin/dash", true},
		{"proc.env[LD_PRELOAD] = /tmp/x.so", true},
		{"proc.env[LD_AUDIT] exists", false},
		{"user.name = root", true},
		{"user.uid = 0", true},
		{"container.id = 3f2a9c1d5e7b", true},
		{"container.name = web", true},
		{"container.image.repository in (nginx, redis)", true},
		{"container.label[app] = web", true},
		{"container.label.app = web", true},
		{"container.privileged = false", true},
		{"tolower(proc.name) = sh", true},
		{"toupper(proc.name) = SH", true},
		{"basename(fd.name) = ld.so.preload", true},
		{"len(proc.name) = 2", true},
		{"proc.name = val(proc.pname)", false},
		{"proc.name != val(proc.pname)", true},
		{"fd.name startswith oneof (/usr, /etc)", true},
		{"fd.name contains allof (etc, preload)", true},
		{"fd.name contains allof (etc, passwd)", false},
		{"fd.name endswith anyof (.conf, .preload)", true},
		{"proc.name intersects (sh, bash)", true},
		{"evt.type = openat and not proc.name in (bash, zsh)", true},
		{"evt.type = openat and (proc.name = bash or proc.pname = bash)", true},
	}
	for _, tc := range cases {
		t.Run(tc.cond, func(t *testing.T) {
			expr, err := condition.Parse(tc.cond)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			p, err := Compile(expr)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			if got := p.Eval(testCtx()); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNetworkConditionsEvaluate(t *testing.T) {
	cases := []struct {
		cond string
		want bool
	}{
		{"fd.sip = 192.168.7.9", true},
		{"fd.cip = 192.168.7.9", false},
		{"fd.ip = 10.1.2.3", true},
		{"fd.net = 192.168.0.0/16", true},
		{"fd.snet in (10.0.0.0/8, 172.16.0.0/12)", false},
		{"fd.cnet = 10.0.0.0/8", true},
		{"fd.sport = 443", true},
		{"fd.sport in (80, 443)", true},
		{"fd.port = 40000", true},
		{"fd.l4proto = tcp", true},
		{"fd.typechar = 4", true},
		{"fd.connected = true", true},
		{"fd.sip.name = example.com", false},
	}
	for _, tc := range cases {
		t.Run(tc.cond, func(t *testing.T) {
			expr, err := condition.Parse(tc.cond)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			p, err := Compile(expr)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			if got := p.Eval(netCtx()); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCompileErrorsPointAtTheProblem(t *testing.T) {
	cases := []struct {
		cond string
		pos  condition.Pos
		msg  string
	}{
		{"proc.nope = x", 0, "unknown field 'proc.nope' (run `truesight fields` for the list)"},
		{"evt.type = open and fd.num = abc", 29, `fd.num is a number (int64): "abc" is not`},
		{"fd.name regex '('", 8, "invalid regular expression \"(\": error parsing regexp: missing closing ): `^(?:()$`"},
		{"proc.name = x and my_macro", 18, "undefined macro 'my_macro' (define it before this rule, or check the spelling)"},
		{"fd.connected = maybe", 15, `fd.connected is a boolean: compare it with true or false, not "maybe"`},
		{"fd.sip = notanip", 9, `fd.sip is an IP address: "notanip" is neither an address nor a CIDR network`},
	}
	for _, tc := range cases {
		t.Run(tc.cond, func(t *testing.T) {
			expr, err := condition.Parse(tc.cond)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			_, err = Compile(expr)
			ce, ok := err.(*CompileError)
			if !ok {
				t.Fatalf("got %v, want a *CompileError", err)
			}
			if ce.Pos != tc.pos || ce.Msg != tc.msg {
				t.Errorf("got %d %q, want %d %q", ce.Pos, ce.Msg, tc.pos, tc.msg)
			}
		})
	}
}

func TestGlobIsFnmatchWithoutPathname(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"*", "/a/b", true},
		{"/etc/*", "/etc/a/b", true},
		{"?", "/", true},
		{"[a-c]x", "bx", true},
		{"[!a-c]x", "bx", false},
		{"[^a-c]x", "dx", true},
		{"\\*", "*", true},
		{"\\*", "a", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"[", "[", true},
		{"", "", true},
	}
	for _, c := range cases {
		if got := fields.GlobMatch(c.p, c.s, false); got != c.want {
			t.Errorf("glob(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
}
