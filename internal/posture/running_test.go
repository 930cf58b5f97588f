package posture

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/testenv"
)

// podmanDefaultCaps is podman's default capability set (containers.conf
// default_capabilities), in bit order.
var podmanDefaultCaps = []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "SETFCAP"}

// startPod creates a podman pod sharing its pid namespace and removes it
// when the test ends.
func startPod(t *testing.T, name string) {
	t.Helper()
	_ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", name).Run()
	testenv.Podman(t, "pod", "create", "--share", "pid", "--name", name)
	t.Cleanup(func() { _ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", name).Run() })
}

// checkIDs lists the check IDs of fs, sorted.
func checkIDs(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Check)
	}
	slices.Sort(out)
	return out
}

func TestRunningContainersAsTheKernelShowsThem(t *testing.T) {
	testenv.RequirePodman(t)
	data, etcApp, srv := t.TempDir(), t.TempDir(), t.TempDir()
	sleep := []string{"sleep", "600"}
	names := map[string]string{} // id -> name
	start := func(name string, extra ...string) string {
		id := testenv.StartContainer(t, name, extra, sleep...)
		names[id] = name
		return id
	}
	plain := start("ts-posture-plain")
	hard := start("ts-posture-hard", "--read-only", "--user", "1000:1000", "--group-add", "2000", "--cap-drop", "ALL", "--security-opt", "no-new-privileges")
	priv := start("ts-posture-priv", "--privileged")
	hostns := start("ts-posture-hostns", "--pid", "host", "--network", "host", "--ipc", "host")
	mounts := start("ts-posture-mounts", "-v", data+":/data", "-v", etcApp+":/etc/app", "-v", srv+":/srv:ro")
	startPod(t, "ts-posture-pod")
	web := start("ts-posture-web", "--pod", "ts-posture-pod")
	side := start("ts-posture-side", "--pod", "ts-posture-pod", "--read-only", "--user", "1000", "--cap-drop", "ALL", "--security-opt", "no-new-privileges")
	infra := testenv.Podman(t, "pod", "inspect", "ts-posture-pod", "--format", "{{.InfraContainerID}}")
	names[infra] = "ts-posture-pod-infra"

	obs, err := ObserveAll("/proc", func(id string) *container.Info {
		if n, ok := names[id]; ok {
			return &container.Info{FullID: id, Name: n}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*Observed{}
	for _, o := range obs {
		byID[o.ID] = o
	}
	get := func(id string) *Observed {
		t.Helper()
		o := byID[id]
		if o == nil {
			t.Fatalf("container %s (%s) not observed in /proc", names[id], id)
		}
		return o
	}
	self, err := ReadSelf("/proc")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("default container runs as root with podman's capabilities", func(t *testing.T) {
		o := get(plain)
		if o.Uid != [4]int64{0, 0, 0, 0} || o.Gid != [4]int64{0, 0, 0, 0} {
			t.Errorf("uid %v gid %v, want all 0", o.Uid, o.Gid)
		}
		if g := CapList(o.CapEff); !slices.Equal(g, podmanDefaultCaps) {
			t.Errorf("CapEff %q, want %q", g, podmanDefaultCaps)
		}
		if o.CapBnd != o.CapEff {
			t.Errorf("CapBnd %x != CapEff %x", o.CapBnd, o.CapEff)
		}
		if o.NoNewPrivs || o.Seccomp != 2 || o.RootRO {
			t.Errorf("NoNewPrivs %v Seccomp %d RootRO %v, want false 2 false", o.NoNewPrivs, o.Seccomp, o.RootRO)
		}
		if o.PidNS == self.PidNS || o.NetNS == self.NetNS || o.IPCNS == self.IPCNS {
			t.Errorf("namespaces pid %d net %d ipc %d: one is the host's", o.PidNS, o.NetNS, o.IPCNS)
		}
		if len(o.SharesPIDWith) != 0 || len(o.HostMounts) != 0 {
			t.Errorf("shares pid with %v, host mounts %v", o.SharesPIDWith, o.HostMounts)
		}
		want := []string{ReadOnlyRoot, RunsAsRoot, PrivEscalation, CapsNotDropped, AppArmorMissing, ImageShell, ImagePackageMgr}
		slices.Sort(want)
		if g := checkIDs(CheckRunning(o, self)); !slices.Equal(g, want) {
			t.Errorf("findings %q, want %q", g, want)
		}
	})

	// runc lists the primary group among the supplementary ones.
	t.Run("hardened container: uid 1000, no capabilities, no_new_privs, read-only root", func(t *testing.T) {
		o := get(hard)
		if o.Uid != [4]int64{1000, 1000, 1000, 1000} || o.Gid != [4]int64{1000, 1000, 1000, 1000} || !slices.Equal(o.Groups, []int64{1000, 2000}) {
			t.Errorf("uid %v gid %v groups %v", o.Uid, o.Gid, o.Groups)
		}
		if o.CapEff != 0 || o.CapBnd != 0 || !o.NoNewPrivs || o.Seccomp != 2 || !o.RootRO {
			t.Errorf("CapEff %x CapBnd %x NoNewPrivs %v Seccomp %d RootRO %v", o.CapEff, o.CapBnd, o.NoNewPrivs, o.Seccomp, o.RootRO)
		}
		want := []string{AppArmorMissing, ImageShell, ImagePackageMgr}
		slices.Sort(want)
		if g := checkIDs(CheckRunning(o, self)); !slices.Equal(g, want) {
			t.Errorf("findings %q, want %q", g, want)
		}
	})

	t.Run("privileged container holds the host's bounding set, no seccomp", func(t *testing.T) {
		o := get(priv)
		if o.CapEff != self.CapBnd || o.Seccomp != 0 {
			t.Errorf("CapEff %x (host CapBnd %x) Seccomp %d", o.CapEff, self.CapBnd, o.Seccomp)
		}
		want := []string{ReadOnlyRoot, RunsAsRoot, PrivEscalation, Privileged, AppArmorMissing, ImageShell, ImagePackageMgr}
		slices.Sort(want)
		if g := checkIDs(CheckRunning(o, self)); !slices.Equal(g, want) {
			t.Errorf("findings %q, want %q", g, want)
		}
	})

	t.Run("host namespaces are the host's inodes", func(t *testing.T) {
		o := get(hostns)
		if o.PidNS != self.PidNS || o.NetNS != self.NetNS || o.IPCNS != self.IPCNS {
			t.Errorf("pid %d/%d net %d/%d ipc %d/%d", o.PidNS, self.PidNS, o.NetNS, self.NetNS, o.IPCNS, self.IPCNS)
		}
		want := []string{ReadOnlyRoot, RunsAsRoot, PrivEscalation, CapsNotDropped, HostPID, HostIPC, HostNetwork, AppArmorMissing, ImageShell, ImagePackageMgr}
		slices.Sort(want)
		if g := checkIDs(CheckRunning(o, self)); !slices.Equal(g, want) {
			t.Errorf("findings %q, want %q", g, want)
		}
	})

	t.Run("writable host mounts, not the read-only one", func(t *testing.T) {
		o := get(mounts)
		var g []string
		for _, m := range o.HostMounts {
			if m.FSType == "" || !strings.HasSuffix(m.Source, "/"+filepath.Base(map[string]string{"/data": data, "/etc/app": etcApp}[m.Dest])) {
				t.Errorf("mount %+v: source or fstype wrong", m)
			}
			g = append(g, m.Dest)
		}
		if !slices.Equal(g, []string{"/data", "/etc/app"}) {
			t.Errorf("writable host mounts %q, want /data and /etc/app", g)
		}
		var msgs []string
		for _, f := range CheckRunning(o, self) {
			if f.Check == WritableHostPath || f.Check == MountOverSystemDir {
				msgs = append(msgs, f.Check+" "+f.Message[strings.LastIndex(f.Message, " ")+1:])
			}
		}
		slices.Sort(msgs)
		if want := []string{"TSP015 /data", "TSP015 /etc/app", "TSP016 /etc/app"}; !slices.Equal(msgs, want) {
			t.Errorf("mount findings %q, want %q", msgs, want)
		}
	})

	t.Run("shared pid pod: one namespace, the root container is the attack path", func(t *testing.T) {
		w, s := get(web), get(side)
		if w.PidNS != s.PidNS || w.PidNS == get(plain).PidNS {
			t.Errorf("pid ns web %d side %d plain %d", w.PidNS, s.PidNS, get(plain).PidNS)
		}
		if want := []string{"ts-posture-pod-infra", "ts-posture-side"}; !slices.Equal(w.SharesPIDWith, want) {
			t.Errorf("web shares pid with %q, want %q", w.SharesPIDWith, want)
		}
		if want := []string{"ts-posture-pod-infra", "ts-posture-web"}; !slices.Equal(s.SharesPIDWith, want) {
			t.Errorf("side shares pid with %q, want %q", s.SharesPIDWith, want)
		}
		want := []string{ReadOnlyRoot, RunsAsRoot, PrivEscalation, CapsNotDropped, SharedPIDNamespace, AttackPath, AppArmorMissing, ImageShell, ImagePackageMgr}
		slices.Sort(want)
		fs := CheckRunning(w, self)
		if g := checkIDs(fs); !slices.Equal(g, want) {
			t.Errorf("web findings %q, want %q", g, want)
		}
		for _, f := range fs {
			if f.Check == AttackPath && !strings.Contains(f.Message, "ts-posture-side") {
				t.Errorf("attack path %q does not name the sidecar", f.Message)
			}
		}
		want = []string{SharedPIDNamespace, AppArmorMissing, ImageShell, ImagePackageMgr}
		slices.Sort(want)
		if g := checkIDs(CheckRunning(s, self)); !slices.Equal(g, want) {
			t.Errorf("side findings %q, want %q", g, want)
		}
	})
}

// kernelLSMs reads /sys/kernel/security/lsm with securityfs mounted in a
// private mount namespace (the node's own mounts are not changed).
func kernelLSMs(t *testing.T) []string {
	t.Helper()
	if _, err := os.Stat("/sys/kernel/security/lsm"); err == nil {
		b, err := os.ReadFile("/sys/kernel/security/lsm")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSpace(string(b)), ",")
	}
	out, err := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", "mount -t securityfs none /sys/kernel/security && cat /sys/kernel/security/lsm").CombinedOutput()
	if err != nil {
		t.Fatalf("read the LSM list in a private mount namespace: %v: %s", err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), ",")
}

func TestNodeLSMsAsTheKernelLists(t *testing.T) {
	testenv.RequireRoot(t)
	want := kernelLSMs(t)
	n := ReadNode("/sys", "/proc")
	if !slices.Equal(n.LSMs, want) {
		t.Errorf("LSMs %q (%s), want %q", n.LSMs, n.How, want)
	}
	hasAppArmor := slices.Contains(want, "apparmor")
	if n.AppArmor != hasAppArmor {
		t.Errorf("AppArmor %v, want %v", n.AppArmor, hasAppArmor)
	}
	fs := CheckNode(n, "node1")
	if hasAppArmor {
		if len(fs) != 0 {
			t.Errorf("findings %q on a node with AppArmor", checkIDs(fs))
		}
		return
	}
	if len(fs) != 1 || fs[0].Check != NodeNoAppArmor || fs[0].Workload != "node node1" || !strings.Contains(fs[0].Message, "AppArmor unavailable on this node") {
		t.Errorf("findings %+v, want one %s", fs, NodeNoAppArmor)
	}
}

func TestNodeFromSecurityfsFiles(t *testing.T) {
	tests := []struct {
		name, lsm string
		apparmor  bool
	}{
		{"apparmor listed", "lockdown,capability,landlock,yama,apparmor,bpf\n", true},
		{"apparmor absent", "lockdown,capability,landlock,bpf\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := t.TempDir()
			if err := os.MkdirAll(filepath.Join(sys, "kernel/security"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(sys, "kernel/security/lsm"), []byte(tt.lsm), 0o644); err != nil {
				t.Fatal(err)
			}
			n := ReadNode(sys, "/proc")
			if n.AppArmor != tt.apparmor || strings.Join(n.LSMs, ",") != strings.TrimSpace(tt.lsm) {
				t.Errorf("node %+v", n)
			}
			if got := len(CheckNode(n, "h")); got != map[bool]int{true: 0, false: 1}[tt.apparmor] {
				t.Errorf("%d findings", got)
			}
		})
	}
}

// A container whose first process is still the runtime's init (all
// capabilities, before the exec of its program) is not judged yet.
func TestStartingContainerIsNotJudged(t *testing.T) {
	proc := t.TempDir()
	if err := os.MkdirAll(filepath.Join(proc, "42"), 0o755); err != nil {
		t.Fatal(err)
	}
	status := "Name:\trunc:[2:INIT]\nUid:\t0\t0\t0\t0\nCapEff:\t000001ffffffffff\n"
	if err := os.WriteFile(filepath.Join(proc, "42", "status"), []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := Observe(proc, strings.Repeat("ab", 32), 42)
	if o != nil || err == nil || !strings.Contains(err.Error(), "is starting (pid 42 is runc:[2:INIT])") {
		t.Errorf("observed %+v, error %v", o, err)
	}
}
