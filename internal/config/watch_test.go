package config

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestWatchReportsEachSettledChange(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yaml")
	rulesDir := filepath.Join(dir, "rules.d")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(file, "- rule: a\n")
	if err := os.Mkdir(rulesDir, 0o700); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Watch(ctx, []string{file, rulesDir}, 10*time.Millisecond, func() { calls.Add(1) })
		close(done)
	}()
	defer func() { cancel(); <-done }()

	// Wait for the expected count; a spurious call shows as one too many
	// at that step or the next.
	settle := func(want int32) int32 {
		deadline := time.Now().Add(5 * time.Second)
		for calls.Load() < want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // room for an unexpected extra call
		return calls.Load()
	}
	steps := []struct {
		name   string
		change func()
		calls  int32
	}{
		{"nothing changes", func() {}, 0},
		{"file rewritten", func() { write(file, "- rule: a\n- rule: b\n") }, 1},
		{"file added to the directory", func() { write(filepath.Join(rulesDir, "x.yaml"), "[]\n") }, 2},
		{"other files in the directory do not count", func() { write(filepath.Join(rulesDir, "notes.txt"), "x") }, 2},
		{"file replaced by rename (ConfigMap style)", func() {
			tmp := filepath.Join(dir, "new.yaml")
			write(tmp, "- rule: c\n")
			if err := os.Rename(tmp, file); err != nil {
				t.Fatal(err)
			}
		}, 3},
		{"file deleted", func() { _ = os.Remove(file) }, 4},
	}
	for _, s := range steps {
		s.change()
		if got := settle(s.calls); got != s.calls {
			t.Fatalf("%s: %d calls, want %d", s.name, got, s.calls)
		}
	}
}
