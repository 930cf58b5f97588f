package replay

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/truesightsec/truesight/internal/capture"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/ruleset"
	"github.com/truesightsec/truesight/internal/testenv"
)

// FuzzReplay runs arbitrary captures through state keeping and the rules:
// any input must replay or end in a *capture.FormatError, never panic.
func FuzzReplay(f *testing.F) {
	dir := testenv.ConformanceDir(f)
	files, _ := filepath.Glob(filepath.Join(dir, "scap", "*.scap"))
	for _, name := range files {
		// Small seeds (a few threads and events of each capture) keep
		// the fuzzer fast.
		r, err := capture.Open(name, nil)
		if err != nil {
			continue
		}
		var seed bytes.Buffer
		w, _ := capture.NewWriter(&seed, capture.WriterOptions{})
		w.WriteUsers(r.Users[:min(2, len(r.Users))], r.Groups[:min(2, len(r.Groups))])
		w.WriteThreads(r.Threads[:min(3, len(r.Threads))])
		var ev capture.Event
		for i := 0; i < 40 && r.Next(&ev) == nil; i++ {
			if ev.Shown() || i < 10 {
				w.CopyEvent(&ev, ev.Time)
			}
		}
		w.Close()
		r.Close()
		f.Add(seed.Bytes())
	}
	var srcs []rules.Source
	if data, err := os.ReadFile(filepath.Join(dir, "falco", "falco_rules.yaml")); err == nil {
		srcs = append(srcs, rules.Source{Name: "falco_rules.yaml", Data: data})
	}
	srcs = append(srcs, rules.Source{Name: ruleset.DefaultName, Data: ruleset.Default})
	eng := load(f, srcs...)
	f.Fuzz(func(t *testing.T, data []byte) {
		opts := Options{Hostname: "fuzz", MaxProcesses: 1 << 10, Sequential: true,
			Capture: &capture.Options{MaxBlockSize: 1 << 20, MaxEventSize: 1 << 20, MaxThreads: 1 << 10}}
		_, err := Replay(bytes.NewReader(data), eng, opts, func(a *output.Alert) { a.JSON(output.JSONOptions{}) })
		var fe *capture.FormatError
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("%T %v", err, err)
		}
	})
}
