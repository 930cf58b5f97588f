package testenv

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Agent is a real `truesight run` that a test started: its stdout lines
// (the alerts) and its log (stderr) as they come.
type Agent struct {
	cmd  *exec.Cmd
	wg   sync.WaitGroup
	once sync.Once

	mu    sync.Mutex
	lines []string
	at    []time.Time // when each line came
	log   strings.Builder
}

// StartAgent runs the truesight binary bin with args (after "run") and
// the extra environment variables env, and waits until it watches (its
// "truesight: watching" line), failing the test after 90 s. The agent is
// stopped when the test ends, its log shown when the test failed.
func StartAgent(t testing.TB, bin string, env []string, args ...string) *Agent {
	t.Helper()
	a := &Agent{cmd: exec.Command(bin, append([]string{"run"}, args...)...)}
	if env != nil {
		a.cmd.Env = append(a.cmd.Environ(), env...)
	}
	stdout, err := a.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := a.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		a.Stop()
		if t.Failed() {
			t.Logf("agent log:\n%s", a.Log())
		}
	})
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			now := time.Now()
			a.mu.Lock()
			a.lines = append(a.lines, sc.Text())
			a.at = append(a.at, now)
			a.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	ready := make(chan struct{})
	go func() {
		defer a.wg.Done()
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			a.mu.Lock()
			a.log.WriteString(sc.Text() + "\n")
			a.mu.Unlock()
			if !once && strings.Contains(sc.Text(), "truesight: watching") {
				once = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case <-ready:
	case <-time.After(90 * time.Second):
		t.Fatalf("the agent did not start within 90s:\n%s", a.Log())
	}
	return a
}

// Stop stops the agent (SIGINT, which flushes its outputs; SIGKILL after
// 20 s) and waits until it printed everything. It may be called again.
func (a *Agent) Stop() {
	a.once.Do(func() {
		_ = a.cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { a.wg.Wait(); _ = a.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = a.cmd.Process.Kill()
			<-done
		}
	})
}

// Lines returns the stdout lines printed so far.
func (a *Agent) Lines() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.lines...)
}

// WaitLine waits up to timeout for a stdout line that contains all of
// subs, and returns it with the time it came; ok is false when none came.
func (a *Agent) WaitLine(timeout time.Duration, subs ...string) (line string, at time.Time, ok bool) {
	deadline := time.Now().Add(timeout)
	for seen := 0; ; time.Sleep(10 * time.Millisecond) {
		a.mu.Lock()
		for ; seen < len(a.lines); seen++ {
			if containsAll(a.lines[seen], subs) {
				line, at = a.lines[seen], a.at[seen]
				a.mu.Unlock()
				return line, at, true
			}
		}
		a.mu.Unlock()
		if time.Now().After(deadline) {
			return "", time.Time{}, false
		}
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// Log returns what the agent logged so far.
func (a *Agent) Log() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.String()
}
