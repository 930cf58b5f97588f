package scan

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/ruleset"
	"github.com/truesightsec/truesight/internal/testenv"
)

// The comm each accuracy test hides, and so the name of its hider.
const (
	hideHost = "tshide_host"
	hideCtr  = "tshide_ctr"
	hidePod  = "tshide_pod"
)

var (
	hidersOnce sync.Once
	hidersDir  string
	hiders     map[string]string // name -> library path
	hiderSums  map[string]string // name -> sha256
)

func TestMain(m *testing.M) {
	code := m.Run()
	if hidersDir != "" {
		_ = os.RemoveAll(hidersDir)
	}
	os.Exit(code)
}

// imageHiders compiles the hiders that go into the test image.
func imageHiders(t testing.TB) map[string]string {
	t.Helper()
	requireGCC(t)
	hidersOnce.Do(func() {
		dir, err := os.MkdirTemp("", "truesight-hiders-")
		if err != nil {
			t.Fatal(err)
		}
		hidersDir = dir
		hiders, hiderSums = map[string]string{}, map[string]string{}
		for _, n := range []string{hideCtr, hidePod} {
			hiders[n], hiderSums[n] = buildHider(t, dir, n)
		}
	})
	if hiders == nil {
		t.Fatal("hiders were not built")
	}
	return hiders
}

// alertsFor runs findings through the embedded default rules, as truesight
// scan does, and returns the alerts by finding key.
func alertsFor(t testing.TB, rep *Report) map[string][]*output.Alert {
	t.Helper()
	eng, _, diags := engine.Load([]rules.Source{{Name: ruleset.DefaultName, Data: ruleset.Default}}, engine.Options{})
	if diags.HasErrors() {
		t.Fatalf("load default rules: %v", diags.Errors())
	}
	out := map[string][]*output.Alert{}
	for _, f := range rep.Findings {
		c := &fields.Ctx{Evt: f.Event(), Proc: f.Process, Hostname: "test"}
		eng.Match(c, func(r *engine.Rule) { out[f.Key] = append(out[f.Key], r.Alert(c)) })
	}
	return out
}

func pidListed(out []byte, pid int) bool {
	for _, f := range strings.Fields(string(out)) {
		if f == strconv.Itoa(pid) {
			return true
		}
	}
	return false
}

// Accuracy test 1: on the host, a process with LD_PRELOAD of a hider; the
// hidden sleep is reported with its PID, name and the library, and the
// host's own ps with that preload really misses it.
func TestHostLDPreloadHiddenProcessIsReported(t *testing.T) {
	kv := kernelView(t)
	dir := t.TempDir()
	lib, sum := buildHider(t, dir, hideHost)
	sleepPath := filepath.Join(dir, hideHost)
	if err := copyFile("/usr/bin/sleep", sleepPath, 0o755); err != nil {
		t.Fatal(err)
	}
	hidden := startProcess(t, nil, sleepPath, "600")
	waitComm(t, hidden.Process.Pid, hideHost)
	// The LD_PRELOAD user: every program it runs loads the hider.
	user := startProcess(t, []string{"LD_PRELOAD=" + lib, "PATH=/usr/bin:/bin"}, "/usr/bin/sleep", "600")
	waitComm(t, user.Process.Pid, "sleep")

	ps := func(env ...string) []byte {
		cmd := exec.Command("ps", "-A", "-o", "pid=")
		cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ps: %v", err)
		}
		return out
	}
	if !pidListed(ps(), hidden.Process.Pid) {
		t.Fatalf("ps without the preload does not list pid %d either: the staging failed", hidden.Process.Pid)
	}
	if pidListed(ps("LD_PRELOAD="+lib), hidden.Process.Pid) {
		t.Fatalf("ps with LD_PRELOAD=%s still lists pid %d: the hider does not work", lib, hidden.Process.Pid)
	}

	rep := scanOnce(t, New(Options{Kernel: kv, KernelBlindSpots: pvmBlindSpot}))
	logFindings(t, rep)
	got := findings(rep, KindHiddenProcess, func(f *Finding) bool { return f.Process.Pid == int64(hidden.Process.Pid) })
	if len(got) != 1 {
		t.Fatalf("got %d hidden_process findings for pid %d, want 1", len(got), hidden.Process.Pid)
	}
	f := got[0]
	want := map[string]string{
		"comm":         f.Process.Comm,
		"container":    f.Process.ShortContainerID(),
		"root":         f.Root,
		"library":      f.Library,
		"sha256":       f.SHA256,
		"symbols":      f.Symbols,
		"views":        f.Views,
		"preload":      f.Detail["preload"],
		"hidden_from":  f.Detail["hidden_from"],
		"detail pid":   f.Detail["pid"],
		"event type":   f.Event().Type.String(),
		"event source": f.Event().Source.String(),
	}
	exp := map[string]string{
		"comm":         hideHost,
		"container":    "host",
		"root":         "host",
		"library":      lib,
		"sha256":       sum,
		"symbols":      "readdir64,readdir",
		"views":        "seen by kernel,procfs,probe,root procfs; missing from libc(ps),libc(ls)",
		"preload":      "LD_PRELOAD of pid " + strconv.Itoa(user.Process.Pid),
		"hidden_from":  "host",
		"detail pid":   strconv.Itoa(hidden.Process.Pid),
		"event type":   "hidden_process",
		"event source": "truesight",
	}
	for k, v := range exp {
		if want[k] != v {
			t.Errorf("hidden_process %s = %q, want %q", k, want[k], v)
		}
	}

	env := findings(rep, KindPreloadEnv, func(f *Finding) bool { return f.Process.Pid == int64(user.Process.Pid) })
	if len(env) != 1 || env[0].Library != lib || env[0].Detail["LD_PRELOAD"] != lib || env[0].Detail["pids"] != strconv.Itoa(user.Process.Pid) {
		t.Errorf("preload_env findings for pid %d: %+v, want one naming %s", user.Process.Pid, env, lib)
	}
	inj := findings(rep, KindInjectedLibrary, func(f *Finding) bool { return f.Library == lib })
	if len(inj) != 1 || inj[0].SHA256 != sum || inj[0].Detail["pids"] != strconv.Itoa(user.Process.Pid) || inj[0].Detail["loaded_by"] != "LD_PRELOAD" {
		t.Errorf("injected_library findings for %s: %+v, want one in pid %d loaded by LD_PRELOAD", lib, inj, user.Process.Pid)
	}
	if mm := findings(rep, KindViewMismatch, nil); len(mm) != 0 {
		t.Errorf("kernel views disagree about %d processes, want none", len(mm))
	}

	// The findings become alerts through the default rules.
	alerts := alertsFor(t, rep)
	al := alerts[f.Key]
	if len(al) != 1 || al[0].Rule != "Process hidden from libc tools" || al[0].Priority != "Critical" || al[0].Source != "truesight" {
		t.Fatalf("alerts for the hidden process: %+v", al)
	}
	if al[0].Fields["proc.pid"] != int64(hidden.Process.Pid) || al[0].Fields["finding.library"] != lib || al[0].Fields["proc.name"] != hideHost {
		t.Errorf("alert fields %v", al[0].Fields)
	}
	if a := alerts[inj[0].Key]; len(a) != 1 || a[0].Rule != "Library overriding libc directory or file functions injected" {
		t.Errorf("alerts for the injected library: %+v", a)
	}
	if a := alerts[env[0].Key]; len(a) != 1 || a[0].Rule != "Process running with LD_PRELOAD or LD_AUDIT" {
		t.Errorf("alerts for the environment: %+v", a)
	}
}

var waitContainerProc = testenv.WaitContainerProc

func nsPid(t testing.TB, hostPid int) int {
	t.Helper()
	st, err := readStatus(openTestProc(t), hostPid)
	if err != nil || len(st.NSpid) == 0 {
		t.Fatalf("NSpid of %d: %v", hostPid, err)
	}
	return st.NSpid[len(st.NSpid)-1]
}

func openTestProc(t testing.TB) int {
	t.Helper()
	fd, err := openProc("/proc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeFD(fd) })
	return fd
}

// Accuracy test 2: a container whose /etc/ld.so.preload lists the hider
// and whose image has a dynamically linked ps. The hidden sleep is
// reported with its container, and the container's own ps really does not
// show it.
func TestContainerPreloadFileHidesProcessFromItsPs(t *testing.T) {
	requirePsImage(t, imageHiders(t))
	kv := kernelView(t)
	lib := "/usr/local/lib/lib" + hideCtr + ".so"
	id := startPsContainer(t, "ts-scan-ctr-"+strconv.Itoa(os.Getpid()), nil,
		"sh", "-c", "cp /usr/bin/sleep /tmp/"+hideCtr+" && /tmp/"+hideCtr+" 1000 & exec sleep 1000")
	hiddenPid := waitContainerProc(t, id, hideCtr)
	testenv.Podman(t, "exec", id, "sh", "-c", "echo "+lib+" > /etc/ld.so.preload")
	// A program started now loads the hider.
	testenv.Podman(t, "exec", "-d", id, "sleep", "1000")

	if out := testenv.Podman(t, "exec", id, "ps", "-A", "-o", "comm="); strings.Contains(out, hideCtr) {
		t.Fatalf("the container's ps still shows %s:\n%s", hideCtr, out)
	}
	if out := testenv.Podman(t, "exec", id, "busybox", "ps"); !strings.Contains(out, hideCtr) {
		t.Fatalf("the container's static busybox ps does not show %s either: the staging failed:\n%s", hideCtr, out)
	}

	rep := scanOnce(t, New(Options{Kernel: kv, KernelBlindSpots: pvmBlindSpot}))
	logFindings(t, rep)
	label := "container:" + id[:12]
	got := findings(rep, KindHiddenProcess, func(f *Finding) bool { return f.Process.Pid == int64(hiddenPid) })
	if len(got) != 1 {
		t.Fatalf("got %d hidden_process findings for pid %d, want 1", len(got), hiddenPid)
	}
	f := got[0]
	checks := []struct{ name, got, want string }{
		{"comm", f.Process.Comm, hideCtr},
		{"container", f.Process.ContainerID, id},
		{"hidden_from", f.Detail["hidden_from"], label},
		{"hidden_from_container_id", f.Detail["hidden_from_container_id"], id},
		{"vpid", f.Detail["vpid"], strconv.Itoa(nsPid(t, hiddenPid))},
		{"library", f.Library, lib},
		{"sha256", f.SHA256, hiderSums[hideCtr]},
		{"preload", f.Detail["preload"], "/etc/ld.so.preload"},
		{"views", f.Views, "seen by kernel,procfs,probe,root procfs; missing from libc(ps),libc(ls)"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("hidden_process %s = %q, want %q", c.name, c.got, c.want)
		}
	}
	cfg := findings(rep, KindPreloadConfig, func(f *Finding) bool { return f.Root == label })
	if len(cfg) != 1 || cfg[0].Library != lib || cfg[0].SHA256 != hiderSums[hideCtr] || cfg[0].Process.ContainerID != id ||
		cfg[0].Detail["entry"] != lib || cfg[0].Symbols != "readdir64,readdir" {
		t.Errorf("preload_config findings in %s: %+v", label, cfg)
	}
	inj := findings(rep, KindInjectedLibrary, func(f *Finding) bool { return f.Root == label })
	if len(inj) != 1 || inj[0].Library != lib || inj[0].Detail["loaded_by"] != "/etc/ld.so.preload" || inj[0].Process.Comm != "sleep" {
		t.Errorf("injected_library findings in %s: %+v", label, inj)
	}
	alerts := alertsFor(t, rep)
	if a := alerts[f.Key]; len(a) != 1 || a[0].Fields["container.id"] != id[:12] || a[0].Fields["finding.detail[hidden_from]"] != label {
		t.Errorf("alert for the hidden process: %+v", a)
	}
	if a := alerts[cfg[0].Key]; len(a) != 1 || a[0].Rule != "Library preloaded by configuration" || a[0].Fields["container.id"] != id[:12] {
		t.Errorf("alert for the preload file: %+v", a)
	}
	// Entering the container for its libc view left no trace on us.
	assertNoThreadIn(t, "")
	if n := len(findings(rep, KindPreloadConfig, func(f *Finding) bool { return f.Root != label && f.Library == lib })); n != 0 {
		t.Errorf("%d preload_config findings for %s outside %s", n, lib, label)
	}
}

// Accuracy test 3: the scenario's pod. Two containers share a PID
// namespace; from the "nginx" one the attacker copies the hider into the
// sidecar's root and lists it in the sidecar's /etc/ld.so.preload through
// /proc/<pid>/root. The sidecar's ps goes blind to the miner running in
// nginx. Both the preload file and the hidden process are reported, each
// attributed to the right container.
func TestPodSidecarPoisonedThroughProcRoot(t *testing.T) {
	requirePsImage(t, imageHiders(t))
	kv := kernelView(t)
	suffix := strconv.Itoa(os.Getpid())
	pod := "ts-scan-pod-" + suffix
	_ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run()
	testenv.Podman(t, "pod", "create", "--name", pod, "--share", "pid")
	t.Cleanup(func() { _ = exec.Command("podman", "pod", "rm", "-f", "-t", "0", pod).Run() })
	sidecar := startPsContainer(t, "ts-scan-sidecar-"+suffix, []string{"--pod", pod},
		"sh", "-c", "while true; do /usr/bin/ps -A > /dev/null; /usr/bin/sleep 5; done")
	nginx := startPsContainer(t, "ts-scan-nginx-"+suffix, []string{"--pod", pod},
		"sh", "-c", "cp /usr/bin/sleep /tmp/"+hidePod+" && exec /tmp/"+hidePod+" 1000")
	minerPid := waitContainerProc(t, nginx, hidePod)
	sidecarShell := containerPid(t, sidecar)
	target := "/proc/" + strconv.Itoa(nsPid(t, sidecarShell)) + "/root"
	testenv.Podman(t, "exec", nginx, "sh", "-c",
		"cp /usr/local/lib/lib"+hidePod+".so "+target+"/tmp/libx.so && echo /tmp/libx.so > "+target+"/etc/ld.so.preload")
	time.Sleep(6 * time.Second) // the sidecar's loop starts a ps and a sleep with the hider

	if out := testenv.Podman(t, "exec", sidecar, "ps", "-A", "-o", "comm="); strings.Contains(out, hidePod) {
		t.Fatalf("the sidecar's ps still shows %s:\n%s", hidePod, out)
	}
	if out := testenv.Podman(t, "exec", nginx, "ps", "-A", "-o", "comm="); !strings.Contains(out, hidePod) {
		t.Fatalf("nginx's own ps does not show %s: the staging failed:\n%s", hidePod, out)
	}

	rep := scanOnce(t, New(Options{Kernel: kv, KernelBlindSpots: pvmBlindSpot}))
	logFindings(t, rep)
	sidecarLabel := "container:" + sidecar[:12]
	cfg := findings(rep, KindPreloadConfig, func(f *Finding) bool { return f.Root == sidecarLabel })
	if len(cfg) != 1 || cfg[0].Library != "/tmp/libx.so" || cfg[0].SHA256 != hiderSums[hidePod] || cfg[0].Process.ContainerID != sidecar {
		t.Errorf("preload_config findings in the sidecar: %+v", cfg)
	}
	if n := len(findings(rep, KindPreloadConfig, func(f *Finding) bool { return f.Root == "container:"+nginx[:12] })); n != 0 {
		t.Errorf("%d preload_config findings in nginx, whose root is clean", n)
	}
	got := findings(rep, KindHiddenProcess, func(f *Finding) bool { return f.Process.Pid == int64(minerPid) })
	if len(got) != 1 {
		t.Fatalf("got %d hidden_process findings for the miner (pid %d), want 1", len(got), minerPid)
	}
	f := got[0]
	checks := []struct{ name, got, want string }{
		{"runs in", f.Process.ContainerID, nginx},
		{"hidden_from", f.Detail["hidden_from"], sidecarLabel},
		{"hidden_from_container_id", f.Detail["hidden_from_container_id"], sidecar},
		{"library", f.Library, "/tmp/libx.so"},
		{"sha256", f.SHA256, hiderSums[hidePod]},
		{"comm", f.Process.Comm, hidePod},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("hidden_process %s = %q, want %q", c.name, c.got, c.want)
		}
	}
	inj := findings(rep, KindInjectedLibrary, func(f *Finding) bool { return f.Root == sidecarLabel })
	if len(inj) != 1 || inj[0].Library != "/tmp/libx.so" || inj[0].Process.ContainerID != sidecar {
		t.Errorf("injected_library findings in the sidecar: %+v", inj)
	}
}

// A symlink in a root is resolved inside that root: an absolute link
// naming a host path reads the container's file of that name, never the
// host's.
func TestPreloadSymlinkResolvesInsideTheRoot(t *testing.T) {
	testenv.RequirePodman(t)
	name := "/tmp/ts-scan-escape-" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(name, []byte("/host-only.so\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(name) })
	id := testenv.StartContainer(t, "ts-scan-link-"+strconv.Itoa(os.Getpid()), nil, "sh", "-c",
		"echo /container-only.so > "+name+" && ln -s "+name+" /etc/ld.so.preload && exec sleep 1000")
	label := "container:" + id[:12]
	deadline := time.Now().Add(15 * time.Second)
	var cfg []*Finding
	for time.Now().Before(deadline) {
		rep := scanOnce(t, New(Options{KernelBlindSpots: pvmBlindSpot}))
		if cfg = findings(rep, KindPreloadConfig, func(f *Finding) bool { return f.Root == label }); len(cfg) > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var entries []string
	for _, f := range cfg {
		entries = append(entries, f.Detail["entry"])
	}
	if !slices.Equal(entries, []string{"/container-only.so"}) {
		t.Fatalf("preload entries read in %s: %q, want [/container-only.so]", label, entries)
	}
	if cfg[0].Detail["missing"] != "true" {
		t.Errorf("missing = %q for a library that does not exist", cfg[0].Detail["missing"])
	}
}

// PID 1 of this VM is absent from the kernel view. Only the configured PID
// with the configured comm is excused, and the excuse is reported.
func TestKernelBlindSpotExcusesOnlyTheConfiguredProcess(t *testing.T) {
	kv := kernelView(t)
	tasks, err := kv.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if task.Tgid == 1 {
			t.Skip("PID 1 is in the kernel view on this machine: there is no blind spot to excuse")
		}
	}
	comm, err := os.ReadFile("/proc/1/comm")
	if err != nil {
		t.Fatal(err)
	}
	c1 := strings.TrimSpace(string(comm))
	cases := []struct {
		name     string
		spots    []BlindSpot
		excused  []string
		findings int
	}{
		{"no blind spot configured", nil, nil, 1},
		{"pid and comm configured", []BlindSpot{{1, c1}}, []string{"1:" + c1}, 0},
		{"another comm", []BlindSpot{{1, "systemd"}}, nil, 1},
		{"another pid", []BlindSpot{{2, c1}}, nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := scanOnce(t, New(Options{Kernel: kv, KernelBlindSpots: tc.spots}))
			got := findings(rep, KindViewMismatch, func(f *Finding) bool { return f.Process.Pid == 1 })
			if len(got) != tc.findings {
				t.Fatalf("%d view_mismatch findings for pid 1, want %d", len(got), tc.findings)
			}
			if !slices.Equal(rep.Excused, tc.excused) {
				t.Errorf("excused %q, want %q", rep.Excused, tc.excused)
			}
			if tc.findings == 1 && got[0].Views != "seen by procfs,probe; missing from kernel" {
				t.Errorf("views %q", got[0].Views)
			}
		})
	}
}

// Accuracy test 4: no false positives while a churn generator forks and
// exits 1,000 processes per second, each with threads. Every disagreement
// the first look sees must be dropped by the confirmation.
func TestNoFalsePositivesUnderProcessChurn(t *testing.T) {
	kv := kernelView(t)
	requireGCC(t)
	scans := 100
	if v := os.Getenv("TRUESIGHT_CHURN_SCANS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("TRUESIGHT_CHURN_SCANS=%q", v)
		}
		scans = n
	}
	dir := t.TempDir()
	churn := filepath.Join(dir, "churn")
	if out, err := exec.Command("gcc", "-O2", "-pthread", "-o", churn, "testdata/churn.c").CombinedOutput(); err != nil {
		t.Fatalf("build churn: %v\n%s", err, out)
	}
	cmd := exec.Command(churn, "1000", "3600")
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	time.Sleep(500 * time.Millisecond)

	s := New(Options{Kernel: kv, KernelBlindSpots: pvmBlindSpot})
	forks0 := forksSinceBoot(t)
	start := time.Now()
	candidates := 0
	var slowest time.Duration
	for i := 0; i < scans; i++ {
		rep := scanOnce(t, s)
		candidates += rep.Stats.Candidates
		slowest = max(slowest, rep.Stats.Duration)
		for _, f := range rep.Findings {
			// A process hidden from a libc view needs a preload library
			// on the machine, which this test never sets: one hidden by
			// another test's hider running at the same time is that
			// test's true finding. The churn's own processes must never
			// be reported, nor any kernel-view disagreement.
			churned := f.Process.Pid == int64(cmd.Process.Pid) || f.Process.PPid == int64(cmd.Process.Pid)
			switch {
			case f.Kind == KindViewMismatch || (f.Kind == KindHiddenProcess && churned):
				t.Errorf("scan %d: false %s: %s (%s)", i+1, f.Kind, f.Summary, f.Views)
			case f.Kind == KindHiddenProcess:
				t.Logf("scan %d: not this test's: %s", i+1, f.Summary)
			}
		}
	}
	elapsed := time.Since(start)
	forkedPerSec := float64(forksSinceBoot(t)-forks0) / elapsed.Seconds()
	stop()
	t.Logf("%d scans in %s (slowest %s) under churn of ~%.0f forks/s; %d first-look disagreements, all dropped by confirmation",
		scans, elapsed.Round(time.Millisecond), slowest.Round(time.Millisecond), forkedPerSec, candidates)
}

// forksSinceBoot reads the kernel's fork counter (the processes line of
// /proc/stat).
func forksSinceBoot(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "processes "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatal("no processes line in /proc/stat")
	return 0
}

// ld.so.conf of a root: an included directory that holds its own libc
// exporting readdir, and a world-writable search directory, are both
// reported; the distribution's directories are not.
func TestLoaderSearchConfigShadowingLibcIsReported(t *testing.T) {
	testenv.RequirePodman(t)
	lib, sum := buildHider(t, t.TempDir(), "tshide_conf")
	id := testenv.StartContainer(t, "ts-scan-ldconf-"+strconv.Itoa(os.Getpid()), nil, "sh", "-c",
		"mkdir -p /etc/ld.so.conf.d /opt/evil /srv/drop && chmod 1777 /srv/drop && "+
			"printf 'include /etc/ld.so.conf.d/*.conf\\n' > /etc/ld.so.conf && "+
			"printf '/opt/evil\\n/srv/drop\\n' > /etc/ld.so.conf.d/zz.conf && "+
			"printf '/usr/lib/x86_64-linux-gnu\\n' > /etc/ld.so.conf.d/x86_64.conf && exec sleep 1000")
	testenv.Podman(t, "cp", lib, id+":/opt/evil/libc.so.6")
	label := "container:" + id[:12]
	rep := scanOnce(t, New(Options{KernelBlindSpots: pvmBlindSpot}))
	got := findings(rep, KindPreloadConfig, func(f *Finding) bool { return f.Root == label })
	byLib := map[string]*Finding{}
	for _, f := range got {
		byLib[f.Library] = f
	}
	if len(got) != 2 {
		logFindings(t, rep)
		t.Fatalf("%d preload_config findings in %s, want 2", len(got), label)
	}
	if f := byLib["/opt/evil/libc.so.6"]; f == nil || f.SHA256 != sum || f.Symbols != "readdir64,readdir" || f.Detail["directory"] != "/opt/evil" ||
		f.Detail["file"] != "/etc/ld.so.conf,/etc/ld.so.conf.d/x86_64.conf,/etc/ld.so.conf.d/zz.conf" {
		t.Errorf("shadowing libc finding: %+v", f)
	}
	if f := byLib["/srv/drop"]; f == nil || f.Detail["directory_mode"] != "01777" {
		t.Errorf("world-writable directory finding: %+v", f)
	}
}
