package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/testenv"
)

// buildBinary builds truesight into a temporary directory.
func buildBinary(t *testing.T) string { return testenv.Truesight(t) }

// startBinary starts the binary and waits for a line on stderr.
func startBinary(t *testing.T, ready string, bin string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		closed := false
		for sc.Scan() {
			if !closed && strings.Contains(sc.Text(), ready) {
				close(found)
				closed = true
			}
		}
	}()
	select {
	case <-found:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s %v: no %q within 30s", bin, args, ready)
	}
	return cmd, &stdout
}

// alertsWith returns "rule: output without its time" of the JSON alert
// lines whose output mentions marker, sorted.
func alertsWith(t *testing.T, jsonLines []byte, marker string) []string {
	t.Helper()
	var out []string
	for _, line := range bytes.Split(jsonLines, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var a struct{ Rule, Output string }
		if err := json.Unmarshal(line, &a); err != nil {
			t.Fatalf("bad JSON alert %q: %v", line, err)
		}
		if strings.Contains(a.Output, marker) {
			// Each process converts the kernel's boot-time clock to wall
			// time with its own sample of the offset: a microsecond apart.
			text := a.Output
			if i := strings.Index(text, ": "); i > 0 {
				text = text[i+2:]
			}
			out = append(out, a.Rule+": "+text)
		}
	}
	sort.Strings(out)
	return out
}

// A scripted workload recorded by `truesight capture` is readable by
// sysdig, and `truesight replay` of it raises exactly the alerts
// `truesight run` raised live for the same workload.
func TestCaptureRoundTripMatchesLiveAlerts(t *testing.T) {
	testenv.RequireRoot(t)
	sysdig := testenv.Sysdig(t)
	bin := buildBinary(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "workload.scap")
	live, liveOut := startBinary(t, "truesight: watching", bin, "run", "--json", "--scan-interval", "0",
		"-o", "webserver.enabled=false", "--docker-socket", "", "--containerd-socket", "", "--cri-socket", "")
	capt, _ := startBinary(t, "truesight: capturing", bin, "capture", "-w", file)

	marker := "ts-rt-" + filepath.Base(dir)
	script := "mount -t tmpfs tmpfs /etc && echo /lib/" + marker + ".so >> /etc/ld.so.preload && " +
		"mv /etc/ld.so.preload /etc/" + marker + " && ln -s /etc/" + marker + " /etc/ld.so.preload && rm /etc/ld.so.preload"
	if out, err := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("workload: %v: %s", err, out)
	}
	time.Sleep(1500 * time.Millisecond) // let both drain their ring buffers
	for _, c := range []*exec.Cmd{live, capt} {
		_ = c.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%v: %v", c.Args, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%v did not stop", c.Args)
		}
	}
	want := alertsWith(t, liveOut.Bytes(), marker)
	if len(want) < 2 {
		t.Fatalf("the live agent raised %d alerts for the workload, want at least 2: %v", len(want), want)
	}

	sd, err := exec.Command(sysdig, "-r", file, "fd.name=/etc/ld.so.preload and evt.type=openat").CombinedOutput()
	if err != nil {
		t.Fatalf("sysdig -r: %v: %s", err, sd)
	}
	if !strings.Contains(string(sd), "openat fd=3(<f>/etc/ld.so.preload)") || !strings.Contains(string(sd), "O_APPEND|O_CREAT|O_WRONLY") {
		t.Errorf("sysdig does not show the workload's open:\n%s", sd)
	}

	rep, err := exec.Command(bin, "replay", "--format", "json", file).Output()
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
		t.Fatalf("replay: %v", err)
	}
	got := alertsWith(t, rep, marker)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("replay raised\n%s\nlive raised\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
