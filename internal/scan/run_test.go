package scan

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/testenv"
)

// The continuous scan emits a finding once, when it first appears, and
// scans again at once when kicked.
func TestRunEmitsOnlyNewFindingsAndScansWhenKicked(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	lib, _ := buildHider(t, dir, "tshide_run")
	env := func(n string) []string { return []string{"LD_PRELOAD=" + lib, "TS_RUN=" + n} }
	first := startProcess(t, env("1"), "/usr/bin/sleep", "600")
	waitComm(t, first.Process.Pid, "sleep")

	emitted := make(chan *Finding, 64)
	kick := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s := New(Options{KernelBlindSpots: pvmBlindSpot})
	go func() {
		defer close(done)
		s.Run(ctx, time.Hour, kick, func(f *Finding) { emitted <- f }, func(err error) { t.Errorf("scan: %v", err) })
	}()
	defer func() { cancel(); <-done }()

	// ours picks this test's preload_env findings out of everything the
	// machine has.
	ours := func(timeout time.Duration) []*Finding {
		var out []*Finding
		deadline := time.After(timeout)
		for {
			select {
			case f := <-emitted:
				if f.Kind == KindPreloadEnv && f.Library == lib {
					out = append(out, f)
				}
			case <-deadline:
				return out
			}
		}
	}
	if got := ours(5 * time.Second); len(got) != 1 || got[0].Process.Pid != int64(first.Process.Pid) || got[0].FirstSeen != got[0].Time {
		t.Fatalf("first scan emitted %+v, want pid %d's environment once", got, first.Process.Pid)
	}
	kick <- struct{}{}
	if got := ours(2 * time.Second); len(got) != 0 {
		t.Fatalf("a second scan emitted %d findings already reported", len(got))
	}
	// The same library, another environment (its own LD_PRELOAD user group).
	other := startProcess(t, []string{"LD_PRELOAD=" + lib + ":" + filepath.Join(dir, "none.so")}, "/usr/bin/sleep", "600")
	waitComm(t, other.Process.Pid, "sleep")
	kick <- struct{}{}
	if got := ours(5 * time.Second); len(got) != 1 || got[0].Process.Pid != int64(other.Process.Pid) {
		t.Fatalf("after a kick emitted %+v, want pid %d's environment", got, other.Process.Pid)
	}
}
