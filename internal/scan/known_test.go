package scan

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/truesightsec/truesight/internal/state"
	"github.com/truesightsec/truesight/internal/testenv"
)

// hostLibc is the host's libc as the loader maps it.
const hostLibc = "/usr/lib/x86_64-linux-gnu/libc.so.6"

// buildTool compiles testdata/NAME.c into dir.
func buildTool(t testing.TB, dir, name string, flags ...string) string {
	t.Helper()
	requireGCC(t)
	out := filepath.Join(dir, name)
	args := append([]string{"-O2", "-o", out, filepath.Join("testdata", name+".c")}, flags...)
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, b)
	}
	return out
}

// startMaplib runs testdata/maplib.c in root with the given DIR:FILE
// mappings, waits until it is ready and ends it when the test ends.
func startMaplib(t testing.TB, maplib, root string, maps ...string) int {
	t.Helper()
	cmd := exec.Command(maplib, append([]string{root}, maps...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("maplib %s %v: %q %v: %s", root, maps, line, err, stderr.String())
	}
	return cmd.Process.Pid
}

// writeFile writes data at rel below dir, making the directories.
func writeFile(t testing.TB, dir, rel string, data []byte) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// judged is how the scan judged one mapping of a process.
type judged struct {
	path  string // as the kernel prints it
	id    devIno
	lib   *library
	known *knownFile
}

// judgeMappings reads one process as a scan does and judges each mapping
// that defines functions of the hiding set; a runtime name other than ""
// judges it as that container runtime's process.
func judgeMappings(t testing.TB, pid int, runtime string) []judged {
	t.Helper()
	s := New(Options{})
	procfd := openTestProc(t)
	s.procfd = procfd
	s.report = &Report{}
	if err := s.learnSelf(); err != nil {
		t.Fatal(err)
	}
	s.host, _ = s.learnHost()
	p := newCollector(procfd).read(pid)
	if p == nil {
		t.Fatalf("pid %d is gone", pid)
	}
	s.classifyRuntime([]*proc{p})
	if runtime != "" {
		p.Runtime = runtime
	}
	r := &root{Key: p.Root, Rep: p, Procs: []*proc{p}}
	s.labelRoot(r)
	var out []judged
	for i := range p.Maps {
		m := &p.Maps[i]
		fd, err := unix.Openat(procfd, fmt.Sprintf("%d/map_files/%s", pid, m.Range), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("open mapping %s of pid %d: %v", m.Path, pid, err)
		}
		lib, err := s.libs.analyse(fd, false)
		closeFD(fd)
		if err != nil || len(lib.Symbols) == 0 {
			continue
		}
		out = append(out, judged{m.Path, devIno{m.Dev, m.Ino}, lib, s.knownMapping(r, p, m, lib)})
	}
	return out
}

func statID(t testing.TB, p string) devIno {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return devIno{st.Dev, st.Ino}
}

// A mapping is judged by the identity of the file mapped: the host's libc,
// mapped by a process that sits in a root of its own (as runc's init does
// inside a container's mount namespace), is the host's libc by device,
// inode and sha256, whatever the root holds; a file printed with libc's
// name and path but with other content, and a small library named libc.so.6
// in the root's own library directory, are reported.
func TestMappingIsJudgedByTheIdentityOfTheFileMapped(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	maplib := buildTool(t, dir, "maplib")
	hider, hiderSum := buildHider(t, dir, "tshide_known")
	libc, err := os.ReadFile(hostLibc)
	if err != nil {
		t.Fatal(err)
	}
	hostSum := fileSHA256(t, hostLibc)
	// Another libc: the host's with bytes appended, so another sha256 with
	// the same exports.
	other := append(slices.Clone(libc), []byte("truesight: not the host's libc\n")...)
	rel := strings.TrimPrefix(hostLibc, "/")
	const (
		noFinding = iota
		finding
	)
	tests := []struct {
		name string
		// rootFiles go into the process's root, extFiles into a directory
		// outside it that is mapped and detached.
		rootFiles, extFiles map[string][]byte
		maps                []string // "root:FILE" or "ext:FILE"
		want                int
		wantSum             string // of the mapping printed as hostLibc
		wantKnown           string // "host": the host's libc; "root": the root's own libc
		wantSameFile        bool   // the mapping is of the host's libc itself, not of a copy
		// asRuntime judges the process as the host's container runtime
		// sitting in the root (the scan itself classifies by executable).
		asRuntime string
	}{
		{name: "the host's libc in a root without one", want: noFinding, wantSum: hostSum, wantKnown: "host", wantSameFile: true},
		{name: "the host's libc in a root whose own libc differs", rootFiles: map[string][]byte{rel: other},
			want: noFinding, wantSum: hostSum, wantKnown: "host", wantSameFile: true},
		{name: "a byte-identical copy of the host's libc in the root", rootFiles: map[string][]byte{"opt/copy/libc.so.6": libc},
			maps: []string{"root:opt/copy/libc.so.6"}, want: noFinding, wantSum: hostSum, wantKnown: "host"},
		{name: "the root's own libc of other content, mapped from the root", rootFiles: map[string][]byte{rel: other},
			maps: []string{"root:" + rel}, want: noFinding, wantSum: fileSum(other), wantKnown: "root"},
		{name: "the root's own libc mapped by the host's runtime sitting in the root", rootFiles: map[string][]byte{rel: other},
			maps: []string{"root:" + rel}, want: finding, wantSum: fileSum(other), asRuntime: "runc"},
		{name: "the host's libc mapped by the host's runtime sitting in the root", rootFiles: map[string][]byte{rel: other},
			want: noFinding, wantSum: hostSum, wantKnown: "host", wantSameFile: true, asRuntime: "runc"},
		{name: "a libc of other content printed with the host libc's path", extFiles: map[string][]byte{rel: other},
			maps: []string{"ext:" + rel}, want: finding, wantSum: fileSum(other)},
		{name: "a small library named libc.so.6 in the root's own library directory", rootFiles: map[string][]byte{rel: readAll(t, hider)},
			maps: []string{"root:" + rel}, want: finding, wantSum: hiderSum},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(dir, fmt.Sprintf("root%d", i))
			ext := filepath.Join(dir, fmt.Sprintf("ext%d", i))
			for _, d := range []string{root, ext} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for p, b := range tc.rootFiles {
				writeFile(t, root, p, b)
			}
			for p, b := range tc.extFiles {
				writeFile(t, ext, p, b)
			}
			var args []string
			for _, m := range tc.maps {
				where, file, _ := strings.Cut(m, ":")
				args = append(args, map[string]string{"root": root, "ext": ext}[where]+":"+file)
			}
			pid := startMaplib(t, maplib, root, args...)

			hostID := statID(t, hostLibc)
			var j *judged
			js := judgeMappings(t, pid, tc.asRuntime)
			for i, x := range js {
				if x.lib.SHA256 == tc.wantSum && (x.id == hostID) == tc.wantSameFile {
					j = &js[i]
				}
			}
			if j == nil {
				t.Fatalf("no mapping of sha256 %s (the host's libc itself: %v) among %+v", tc.wantSum, tc.wantSameFile, js)
			}
			printed := j.path
			switch tc.wantKnown {
			case "":
				if j.known != nil {
					t.Fatalf("%s (sha256 %s) judged as the known %s", printed, j.lib.SHA256, j.known)
				}
			case "host":
				if j.known == nil || j.known.Root != "host" || j.known.SHA256 != hostSum || j.known.ID != hostID {
					t.Fatalf("%s (sha256 %s) judged as %v, want the host's libc %v", printed, j.lib.SHA256, j.known, hostID)
				}
			case "root":
				if j.known == nil || !strings.HasPrefix(j.known.Root, "mnt:[") || j.known.Path != hostLibc || j.known.SHA256 != tc.wantSum || j.known.ID != j.id {
					t.Fatalf("%s (sha256 %s) judged as %v, want the root's own libc", printed, j.lib.SHA256, j.known)
				}
			}

			if tc.asRuntime != "" {
				return
			}
			rep := scanOnce(t, New(Options{KernelBlindSpots: pvmBlindSpot}))
			got := findings(rep, KindInjectedLibrary, func(f *Finding) bool {
				return slices.Contains(strings.Split(f.Detail["pids"], ","), strconv.Itoa(pid))
			})
			if tc.want == noFinding {
				if len(got) != 0 {
					logFindings(t, rep)
					t.Fatalf("%d injected_library findings for pid %d, want none", len(got), pid)
				}
				return
			}
			if len(got) != 1 {
				logFindings(t, rep)
				t.Fatalf("%d injected_library findings for pid %d, want 1", len(got), pid)
			}
			f := got[0]
			if f.Library != hostLibc || f.SHA256 != tc.wantSum || f.Detail["pids"] != strconv.Itoa(pid) || f.Process.Pid != int64(pid) || !strings.HasPrefix(f.Root, "mnt:[") {
				t.Errorf("finding: library %s sha256 %s pids %s process %d root %s", f.Library, f.SHA256, f.Detail["pids"], f.Process.Pid, f.Root)
			}
		})
	}
}

func fileSum(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func readAll(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A process is the host's container runtime when its executable is one of
// the host's runtime binaries (the same file, or a byte-identical copy such
// as a runtime's sealed copy of itself), never because of its name.
func TestRuntimeProcessIsKnownByItsExecutable(t *testing.T) {
	testenv.RequireRoot(t)
	catatonit, err := exec.LookPath("catatonit")
	if err != nil {
		testenv.Missing(t, "catatonit is not installed (apt-get install catatonit; podman's pod init)")
	}
	catatonit, _ = filepath.EvalSymlinks(catatonit)
	dir := t.TempDir()
	copyOf := filepath.Join(dir, "init")
	if err := copyFile(catatonit, copyOf, 0o755); err != nil {
		t.Fatal(err)
	}
	// Same size, one byte of the section headers (which the loader never
	// reads) changed: the identity is the content, not the size.
	altered := filepath.Join(dir, "catatonit")
	b := readAll(t, catatonit)
	b[len(b)-1] ^= 0xff
	if err := os.WriteFile(altered, b, 0o755); err != nil {
		t.Fatal(err)
	}
	namedLikeRunc := filepath.Join(dir, "runc")
	if err := copyFile("/usr/bin/sleep", namedLikeRunc, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		argv []string
		comm string
		want string
	}{
		{"the host's catatonit", []string{catatonit, "--", "/usr/bin/sleep", "600"}, "catatonit", "catatonit"},
		{"a byte-identical copy of catatonit elsewhere", []string{copyOf, "--", "/usr/bin/sleep", "600"}, "init", "catatonit"},
		{"catatonit of the same size with other content", []string{altered, "--", "/usr/bin/sleep", "600"}, "catatonit", ""},
		{"sleep named runc", []string{namedLikeRunc, "600"}, "runc", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := startProcess(t, nil, tc.argv[0], tc.argv[1:]...)
			waitComm(t, cmd.Process.Pid, tc.comm)
			s := New(Options{})
			s.procfd = openTestProc(t)
			s.report = &Report{}
			s.host, _ = s.learnHost()
			p := newCollector(s.procfd).read(cmd.Process.Pid)
			if p == nil {
				t.Fatal("process gone")
			}
			s.classifyRuntime([]*proc{p})
			if p.Runtime != tc.want {
				t.Fatalf("runtime of %s (comm %s) = %q, want %q", tc.argv[0], p.Stat.Comm, p.Runtime, tc.want)
			}
		})
	}
}

// A finding that names no live process (pid 0, or none) is never raised.
func TestFindingWithoutAProcessIsNeverRaised(t *testing.T) {
	s := New(Options{})
	s.report = &Report{}
	mk := func(key string, pid int64) *Finding {
		f := &Finding{Key: key}
		f.Kind, f.Summary = KindHiddenProcess, "about "+key
		if pid >= 0 {
			f.Process = &state.Process{Pid: pid}
		}
		return f
	}
	s.finish([]*Finding{mk("pid0", 0), mk("none", -1), mk("real", 4242)}, time.Now())
	var keys, fresh []string
	for _, f := range s.report.Findings {
		keys = append(keys, f.Key)
	}
	for _, f := range s.report.New {
		fresh = append(fresh, f.Key)
	}
	if !slices.Equal(keys, []string{"real"}) || !slices.Equal(fresh, []string{"real"}) {
		t.Fatalf("findings %v, new %v; want only the one with a process", keys, fresh)
	}
	want := []string{"not reported, no process to name: about pid0", "not reported, no process to name: about none"}
	if !slices.Equal(s.report.Notes, want) {
		t.Fatalf("notes %q, want %q", s.report.Notes, want)
	}
}

// A process hidden from a root's libc view is named by its host PID, also
// when it started after the scan read /proc; a process that is gone (no
// host process with its start time) is not named at all.
func TestHiddenProcessIsNamedByItsHostPid(t *testing.T) {
	testenv.RequireRoot(t)
	cmd := startProcess(t, nil, "unshare", "--pid", "--fork", "--mount-proc", "/usr/bin/sleep", "600")
	// The sleep is unshare's child, PID 1 of its namespace.
	var host int
	deadline := time.Now().Add(10 * time.Second)
	for host == 0 && time.Now().Before(deadline) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
		if f := strings.Fields(string(b)); len(f) == 1 {
			host, _ = strconv.Atoi(f[0])
			waitComm(t, host, "sleep")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if host == 0 {
		t.Fatal("unshare started no child")
	}
	procfd := openTestProc(t)
	rootfd, err := openRoot(procfd, host)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFD(rootfd)
	rprocfd, err := openInRoot(rootfd, "/proc", unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFD(rprocfd)
	st, ok := statOf(rprocfd, 1)
	if !ok || st.Comm != "sleep" {
		t.Fatalf("pid 1 of the namespace: %+v", st)
	}
	tests := []struct {
		name  string
		read  bool // the scan read the process from /proc
		start uint64
		want  int
	}{
		{"read by the scan", true, st.StartTicks, host},
		{"started after the scan read /proc", false, st.StartTicks, host},
		{"gone: no process with its start time", false, st.StartTicks + 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Options{})
			s.procfd = procfd
			s.report = &Report{}
			s.procs = map[int]*proc{}
			if tc.read {
				s.procs[host] = newCollector(procfd).read(host)
			}
			if got := s.hostPid(rprocfd, 1, tc.start, "sleep"); got != tc.want {
				t.Fatalf("host pid %d, want %d", got, tc.want)
			}
			r := &root{Key: rootKey{MntNS: 1}, Label: "mnt:[1]:/"}
			f := s.hiddenFinding(&libcView{root: r, source: preloadPath}, rprocfd, 1, tc.start, []string{"ps"}, &viewPass{procfs: newPidSet(8), probe: newPidSet(8)})
			switch {
			case tc.want == 0 && f != nil:
				t.Fatalf("finding for a gone process: pid %d %s", f.Process.Pid, f.Summary)
			case tc.want != 0 && (f == nil || f.Process.Pid != int64(host) || f.Detail["pid"] != strconv.Itoa(host) || f.Process.VPid != 1):
				t.Fatalf("finding %+v, want pid %d vpid 1", f, host)
			}
		})
	}
}
