package scan

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/sensor"
	"github.com/truesightsec/truesight/internal/testenv"
)

// The seed's helpers live in testenv (shared with the console's tests).
var (
	requireGCC        = testenv.RequireGCC
	buildHider        = testenv.BuildHider
	fileSHA256        = testenv.FileSHA256
	copyFile          = testenv.CopyFile
	buildDynamicImage = testenv.BuildDynamicImage
	containerPid      = testenv.ContainerPid
)

var (
	kernelOnce sync.Once
	kernelSens *sensor.Sensor
	kernelErr  error
)

// kernelView opens the eBPF sensor once for the whole test binary: its
// task iterator is the scan's kernel view.
func kernelView(t testing.TB) KernelView {
	t.Helper()
	testenv.RequireRoot(t)
	kernelOnce.Do(func() {
		kernelSens, kernelErr = sensor.Open(sensor.Options{Syscalls: []string{"execve"}})
	})
	if kernelErr != nil {
		t.Fatalf("open sensor for the kernel view: %v", kernelErr)
	}
	return kernelSens
}

// pvmBlindSpot is PID 1 of this project's VMs (platform.md).
var pvmBlindSpot = []BlindSpot{{PID: 1, Comm: "process_api"}}

// scanOnce runs one scan with the kernel view.
func scanOnce(t testing.TB, s *Scanner) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := s.Scan(ctx)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	for _, n := range rep.Notes {
		t.Logf("note: %s", n)
	}
	return rep
}

// findings returns the findings of a kind that match.
func findings(rep *Report, kind string, match func(*Finding) bool) []*Finding {
	var out []*Finding
	for _, f := range rep.Findings {
		if f.Kind == kind && (match == nil || match(f)) {
			out = append(out, f)
		}
	}
	return out
}

func logFindings(t testing.TB, rep *Report) {
	t.Helper()
	for _, f := range rep.Findings {
		t.Logf("%s: %s\n    %s", f.Kind, f.Summary, strings.Join(f.Lines(), "\n    "))
	}
}

// startProcess starts a command and ends it (by its own PID) when the test
// ends.
func startProcess(t testing.TB, env []string, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// waitComm waits until /proc/<pid>/comm reads comm (the exec happened).
func waitComm(t testing.TB, pid int, comm string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		if string(bytes.TrimSpace(b)) == comm {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("pid %d never became %s", pid, comm)
}

// psImage is a test image with dynamically linked ps, ls and sleep from the
// host (with the libraries ldd names), busybox for everything else, and
// hiders in /usr/local/lib for the given names.
const psImage = "localhost/truesight-scan-ps:test"

var (
	psImageOnce sync.Once
	psImageErr  error
)

func requirePsImage(t testing.TB, hiders map[string]string) {
	t.Helper()
	testenv.RequirePodman(t)
	requireGCC(t)
	psImageOnce.Do(func() { psImageErr = buildDynamicImage(psImage, hiders, nil) })
	if psImageErr != nil {
		t.Fatalf("build test image %s: %v", psImage, psImageErr)
	}
}

// ownLibcImage is psImage without hiders and with a libc of its own: the
// host's with bytes appended, so its sha256 is no file of the host's, as
// in an image of another distribution.
const ownLibcImage = "localhost/truesight-scan-ownlibc:test"

var (
	ownLibcOnce sync.Once
	ownLibcErr  error
)

func requireOwnLibcImage(t testing.TB) {
	t.Helper()
	testenv.RequirePodman(t)
	ownLibcOnce.Do(func() {
		ownLibcErr = buildDynamicImage(ownLibcImage, nil, []byte("\x00truesight: this image's own libc\n"))
	})
	if ownLibcErr != nil {
		t.Fatalf("build test image %s: %v", ownLibcImage, ownLibcErr)
	}
}

// startPsContainer runs a detached container of psImage and removes it
// when the test ends.
func startPsContainer(t testing.TB, name string, extra []string, args ...string) string {
	t.Helper()
	return testenv.StartContainerOf(t, psImage, name, extra, args...)
}
