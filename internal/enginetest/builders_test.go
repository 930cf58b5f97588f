package enginetest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/enginetest"
	"github.com/truesightsec/truesight/internal/fields"
)

// param returns an event parameter's text and number.
func param(t *testing.T, c *fields.Ctx, name string) (string, int64) {
	t.Helper()
	p, ok := c.Evt.Param(name)
	if !ok {
		t.Fatalf("%s event has no parameter %q", c.Evt.Type, name)
	}
	return p.Text, p.Num
}

// The translator renders the parameters the expected alert lines rely on.
func TestParametersAreTheTranslatorsRendering(t *testing.T) {
	for _, tc := range []struct {
		name     string
		evt      func() *fields.Ctx
		param    string
		wantText string
		wantNum  int64
	}{
		{"open for writing, created and truncated", func() *fields.Ctx {
			return enginetest.Open(alice(), "/tmp/x", enginetest.OWrOnly|enginetest.OCreat|enginetest.OTrunc)
		}, "flags", "O_TRUNC|O_CREAT|O_WRONLY", enginetest.OWrOnly | enginetest.OCreat | enginetest.OTrunc},
		{"open read-only, close-on-exec", func() *fields.Ctx {
			return enginetest.Open(alice(), "/etc/hosts", enginetest.ORdOnly|enginetest.OCloexec)
		}, "flags", "O_RDONLY|O_CLOEXEC", enginetest.OCloexec},
		{"exec of a file root dropped into the upper layer", func() *fields.Ctx {
			return enginetest.Exec(shopAPI().Child("./xmrig").UpperLayer(enginetest.Ago(time.Minute), enginetest.Ago(time.Minute)))
		}, "flags", "EXE_WRITABLE|EXE_UPPER_LAYER", 3},
		{"exec of a root-owned file by a user", func() *fields.Ctx {
			return enginetest.Exec(alice().Child("id"))
		}, "flags", "0", 0},
		{"exec in the image's lower layer", func() *fields.Ctx {
			return enginetest.Exec(shopAPI().Child("/usr/bin/curl"))
		}, "flags", "EXE_WRITABLE|EXE_LOWER_LAYER", 9},
		{"ptrace request", func() *fields.Ctx {
			return enginetest.Ptrace(sudoGDB(), "PTRACE_SEIZE", 1423)
		}, "request", "PTRACE_SEIZE", 20}, // the kernel's 0x4206 in Falco's encoding
	} {
		t.Run(tc.name, func(t *testing.T) {
			text, num := param(t, tc.evt(), tc.param)
			if text != tc.wantText || num != tc.wantNum {
				t.Errorf("%s = %q (%d), want %q (%d)", tc.param, text, num, tc.wantText, tc.wantNum)
			}
		})
	}
}

func TestProcessAttributesComeFromTheState(t *testing.T) {
	if got := enginetest.PTS(0); got != 34816 {
		t.Errorf("PTS(0) = %d", got)
	}
	if p := enginetest.Proc("/usr/bin/containerd-shim-runc-v2").Process(); p.Comm != "containerd-shim" {
		t.Errorf("comm %q, want it cut to 15 bytes", p.Comm)
	}
	login := alice().Process()
	if login.Comm != "bash" || login.Exe != "-bash" || login.ExePath != "/usr/bin/bash" || login.Cmdline != "bash" {
		t.Errorf("login shell: comm %q exe %q exepath %q cmdline %q", login.Comm, login.Exe, login.ExePath, login.Cmdline)
	}
	if login.UserName != "alice" || login.UID != 1000 || login.GroupName != "alice" || login.LoginUID != 1000 || login.LoginName != "alice" {
		t.Errorf("login shell: user %q (%d) group %q login %d %q", login.UserName, login.UID, login.GroupName, login.LoginUID, login.LoginName)
	}
	if login.Cwd != "/home/alice/" || login.TTY != enginetest.PTS(0) {
		t.Errorf("login shell: cwd %q tty %d", login.Cwd, login.TTY)
	}
	if login.Sid != login.VPid {
		t.Errorf("login shell: sid %d, want its own pid %d (setsid)", login.Sid, login.VPid)
	}
	var chain []string
	for a := login; a != nil; a = a.Parent {
		chain = append(chain, a.Comm)
	}
	if got := strings.Join(chain, " < "); got != "bash < sshd < sshd < sshd < systemd" {
		t.Errorf("ancestry %s", got)
	}
	// The privilege-separated sshd forked and changed user with
	// setresgid and setresuid.
	if sep := login.Parent; sep.UID != 1000 || sep.EUID != 1000 || sep.GID != 1000 || sep.UserName != "alice" {
		t.Errorf("forked sshd: uid %d euid %d gid %d user %q", sep.UID, sep.EUID, sep.GID, sep.UserName)
	}
	// cron's forked job changed directory with chdir.
	if job := cronJob("true").Process(); job.Parent.Cwd != "/root/" || job.Cwd != "/root/" {
		t.Errorf("cron job: parent cwd %q, cwd %q", job.Parent.Cwd, job.Cwd)
	}
}

func TestFilesAndSocketsGoThroughTheFdTable(t *testing.T) {
	cat := alice().Child("cat", "../../etc/passwd")
	c := enginetest.Open(cat, "../../etc/passwd", enginetest.ORdOnly)
	fd := c.Evt.FD
	if fd == nil || fd.Num != 3 || fd.Name != "/etc/passwd" || fd.NameRaw != "../../etc/passwd" {
		t.Fatalf("open: fd %+v", fd)
	}
	if c.Proc.ContainerID != "" || fd.TargetContainer != "host" || fd.TargetPath != "/etc/passwd" {
		t.Errorf("host process: container id %q, file root %q, path %q", c.Proc.ContainerID, fd.TargetContainer, fd.TargetPath)
	}
	if got := cat.Process().FDs[3]; got == nil || got.Name != "/etc/passwd" {
		t.Errorf("fd table: 3 is %+v", got)
	}
	// The next descriptor is the lowest free one.
	if c := enginetest.Connect(cat, ap(vmAddr, 40000), ap(attacker, 443)); c.Evt.FD == nil || c.Evt.FD.Num != 4 || c.Evt.FD.Name != "172.31.18.40:40000->203.0.113.50:443" {
		t.Fatalf("connect: fd %+v", c.Evt.FD)
	}
	c = enginetest.Dup2(cat, 4, 1)
	if fd := c.Evt.FD; fd == nil || fd.Num != 1 || fd.ServerPort != 443 || c.Evt.Res != 1 {
		t.Errorf("dup2: res %d fd %+v", c.Evt.Res, fd)
	}
	// Descriptors opened close-on-exec are gone in an exec'd child.
	sh := podShell()
	enginetest.Open(sh, "/etc/hosts", enginetest.ORdOnly|enginetest.OCloexec)
	enginetest.Open(sh, "/tmp/log", enginetest.OWrOnly|enginetest.OCreat)
	c = enginetest.Open(sh.Child("cat", "/etc/os-release"), "/etc/os-release", enginetest.ORdOnly)
	if c.Evt.FD.Num != 3 {
		t.Errorf("child's open got fd %d, want 3 (fd 3 was close-on-exec, 4 inherited)", c.Evt.FD.Num)
	}
	if c.Proc.FDs[4] == nil || c.Proc.FDs[4].Name != "/tmp/log" {
		t.Errorf("child's fd 4 is %+v, want the inherited /tmp/log", c.Proc.FDs[4])
	}
}

func TestContainerProcessesAreFoundFromTheirCgroup(t *testing.T) {
	c := enginetest.Open(podShell(), "/etc/passwd", enginetest.ORdOnly)
	p := c.Proc
	if p.ContainerID != paymentsID || p.ShortContainerID() != paymentsID[:12] || p.VPid != 1 || p.Sid != 1 {
		t.Errorf("container id %q short %q vpid %d sid %d", p.ContainerID, p.ShortContainerID(), p.VPid, p.Sid)
	}
	if p.Parent == nil || p.Parent.Comm != "containerd-shim" || p.Parent.ContainerID != "" {
		t.Errorf("parent %+v", p.Parent)
	}
	if info := c.Containers(p.ContainerID); info == nil || info.PodName != "payments-7d9f8b6c4d-x2x7p" {
		t.Errorf("container lookup: %+v", info)
	}
	if c.Evt.FD.TargetContainer != paymentsID {
		t.Errorf("file root %q, want the container's", c.Evt.FD.TargetContainer)
	}
	worker := nginxWorker().Process()
	if worker.UserName != "nginx" || worker.UID != 101 || worker.VPid != 2 {
		t.Errorf("nginx worker: user %q uid %d vpid %d", worker.UserName, worker.UID, worker.VPid)
	}
}

func TestBuilderRefusesWhatNoRecordCanSay(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func()
		want string
	}{
		{"attribute after the records went out", func() {
			p := alice()
			p.Process()
			p.User(0, "root")
		}, "User on a process whose records were already applied"},
		{"terminal of a fork", func() { alice().Fork().TTY(enginetest.PTS(3)) }, "TTY on a forked process"},
		{"exec of a fork", func() { enginetest.Exec(alice().Fork()) }, "Exec of a forked process"},
		{"unknown capability", func() { enginetest.Exec(alice().Child("x").Caps("CAP_FLY")) }, "unknown capability CAP_FLY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, tc.want) {
					t.Errorf("panic %v, want one saying %q", r, tc.want)
				}
			}()
			tc.do()
		})
	}
}
