package agent

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/sensor"
	"github.com/truesightsec/truesight/internal/testenv"
)

// buildTruesight builds the command into the test's directory.
func buildTruesight(t *testing.T) string { return testenv.Truesight(t) }

// burst opens a file of the test's own for writing and closes it again, as
// fast as the CPUs allow, from one goroutine per CPU. Every open and close
// is recorded whatever the rules (a write open is never filtered in the
// kernel), and the loop costs no disk reads, so it overflows a 1 MiB ring
// buffer within a second on a cold machine as on a warm one. stop ends it.
func burst(t *testing.T) (stop func()) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "burst")
	if err := os.WriteFile(name, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				for range 256 {
					fd, err := syscall.Open(name, syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
					if err != nil {
						t.Error(err)
						return
					}
					_ = syscall.Close(fd)
				}
			}
		})
	}
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

// lines collects a pipe's lines and hands each one to a channel too.
type lines struct {
	mu  sync.Mutex
	all []string
	ch  chan string
}

func readLines(t *testing.T, f *os.File) *lines {
	l := &lines{ch: make(chan string, 4096)}
	go func() {
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			l.mu.Lock()
			l.all = append(l.all, sc.Text())
			l.mu.Unlock()
			select {
			case l.ch <- sc.Text():
			default:
			}
		}
		close(l.ch)
	}()
	return l
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// await returns the first line for which match is true, within 60 s.
func (l *lines) await(t *testing.T, what string, match func(string) bool) string {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case s, ok := <-l.ch:
			if !ok {
				t.Fatalf("the output ended before %s:\n%s", what, l)
			}
			if match(s) {
				return s
			}
		case <-deadline:
			t.Fatalf("no %s within 60s:\n%s", what, l)
		}
	}
}

func startRun(t *testing.T, bin string, args ...string) (*exec.Cmd, *lines, *lines) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run", "--scan-interval", "0", "-o", "webserver.enabled=false",
		"--docker-socket", "", "--containerd-socket", "", "--cri-socket", ""}, args...)...)
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	outW.Close()
	errW.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, readLines(t, outR), readLines(t, errR)
}

// A burst that overflows the smallest ring buffer raises the drop alert on
// the stdout of a real `truesight run`, with the counts per CPU, logs it,
// and SIGINT still stops the agent within 5 s.
func TestKernelDropsRaiseAnAlertAndTheAgentStillStops(t *testing.T) {
	testenv.RequireRoot(t)
	bin := buildTruesight(t)
	cmd, stdout, stderr := startRun(t, bin, "-o", "engine.modern_ebpf.buf_size_preset=1", "-o", "json_output=true")
	stderr.await(t, "the watching line", func(s string) bool { return strings.Contains(s, "truesight: watching") })
	stopBurst := burst(t)

	line := stdout.await(t, "a drop alert", func(s string) bool { return strings.Contains(s, `"rule":"Kernel events dropped"`) })
	var a struct {
		Rule, Priority, Source, Output string
		Fields                         map[string]float64 `json:"output_fields"`
	}
	if err := json.Unmarshal([]byte(line), &a); err != nil {
		t.Fatalf("alert %s: %v", line, err)
	}
	if a.Priority != "Critical" || a.Source != "internal" || !strings.Contains(a.Output, "because the ring buffer (1 MiB) was full") {
		t.Errorf("alert: %s", line)
	}
	if a.Fields["kernel.ring_buffer_bytes"] != 1<<20 || a.Fields["kernel.drops"] < 1 || a.Fields["kernel.drops"] != a.Fields["kernel.drops.buffer_full"] {
		t.Errorf("alert fields: %v", a.Fields)
	}
	var perCPU float64
	for i := range sensor.OnlineCPUs() {
		v, ok := a.Fields["kernel.drops.cpu"+strconv.Itoa(i)]
		if !ok {
			t.Errorf("no kernel.drops.cpu%d in %v", i, a.Fields)
		}
		perCPU += v
	}
	if perCPU != a.Fields["kernel.drops"] {
		t.Errorf("per-CPU drops add up to %v, not kernel.drops %v", perCPU, a.Fields["kernel.drops"])
	}
	stderr.await(t, "the log line", func(s string) bool {
		return strings.Contains(s, "level=ERROR") && strings.Contains(s, `msg="kernel events dropped: the ring buffer was full"`)
	})

	// Stop while the burst still runs: records keep coming.
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	summary := stderr.await(t, "the exit summary", func(s string) bool { return strings.Contains(s, "truesight: stopped:") })
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr)
	}
	took := time.Since(sent)
	stopBurst()
	if took > 5*time.Second {
		t.Errorf("stopped %s after SIGINT, want within 5s", took)
	}
	if strings.Contains(summary, " 0 kernel drops") {
		t.Errorf("summary: %s", summary)
	}
}

// With the exit action the agent stops by itself, exit code 2, saying why.
func TestKernelDropsExitActionStopsTheAgent(t *testing.T) {
	testenv.RequireRoot(t)
	bin := buildTruesight(t)
	cmd, _, stderr := startRun(t, bin, "-o", "engine.modern_ebpf.buf_size_preset=1", "-o", "syscall_event_drops.actions=[exit]")
	stderr.await(t, "the watching line", func(s string) bool { return strings.Contains(s, "truesight: watching") })
	burst(t)
	stderr.await(t, "the exit reason", func(s string) bool {
		return strings.HasPrefix(s, "truesight: kernel events dropped: ") &&
			strings.HasSuffix(s, "because the ring buffer (1 MiB) was full, and syscall_event_drops.actions has exit")
	})
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v, want exit code 2\n%s", err, stderr)
	}
}

// A bad value of a new key stops `truesight run` before anything starts,
// naming the key and what it allows.
func TestRunRefusesABadBufferPreset(t *testing.T) {
	bin := buildTruesight(t)
	out, err := exec.Command(bin, "run", "-o", "engine.modern_ebpf.buf_size_preset=12").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v, want 2: %s", err, out)
	}
	want := "truesight: -o engine.modern_ebpf.buf_size_preset=12: engine.modern_ebpf.buf_size_preset: must be a preset from 1 to 10 (1: 1 MiB, 2: 2 MiB, 3: 4 MiB, 4: 8 MiB, 5: 16 MiB, 6: 32 MiB, 7: 64 MiB, 8: 128 MiB, 9: 256 MiB, 10: 512 MiB), got 12\n"
	if string(out) != want {
		t.Errorf("output:\n got %q\nwant %q", out, want)
	}
}
