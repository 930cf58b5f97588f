package engine

import (
	"fmt"
	"github.com/truesightsec/truesight/internal/testenv"
	"os"
	"path/filepath"
	"testing"

	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/ruleset"
	"github.com/truesightsec/truesight/internal/state"
)

// stableAndDefaults loads upstream's stable rules followed by ours.
func stableAndDefaults(tb testing.TB, opts Options) *Engine {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.ConformanceDir(tb), "falco", "falco_rules.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	eng, _, diags := Load([]rules.Source{
		{Name: "falco_rules.yaml", Data: data},
		{Name: ruleset.DefaultName, Data: ruleset.Default},
	}, opts)
	if diags.HasErrors() {
		tb.Fatalf("load: %v", diags.Errors())
	}
	return eng
}

// mixedStream is a realistic event mix: 40% openat of ordinary files (read
// and write), 10% execve of ordinary programs, and the rest connect, close,
// clone, dup, unlink and mmap, all from a plausible process tree.
func mixedStream() []fields.Ctx {
	systemd := &state.Process{Pid: 1}
	systemd.SetComm("systemd")
	cron := &state.Process{Pid: 500, PPid: 1, Parent: systemd, ExePath: "/usr/sbin/cron"}
	cron.SetComm("cron")
	worker := &state.Process{Pid: 900, PPid: 500, Parent: cron, ExePath: "/usr/bin/python3", UID: 1000, UserName: "app", LoginUID: 1000}
	worker.SetComm("python3")
	worker.SetArgs("python3", []string{"/srv/app/worker.py", "--queue", "default"})
	ctr := &state.Process{Pid: 1200, PPid: 900, Parent: worker, ExePath: "/usr/local/bin/node",
		ContainerID: "9d3f1c2b4a5e6d7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"}
	ctr.SetComm("node")
	ctr.SetArgs("node", []string{"server.js"})
	procs := []*state.Process{worker, ctr, cron}

	var out []fields.Ctx
	mk := func(i int, typ string) *event.Event {
		e := &event.Event{Num: uint64(i + 1), Time: int64(1_700_000_000_000_000_000 + i), Type: event.MustType(typ), HasRes: true}
		return e
	}
	files := []string{"/srv/app/data/cache.db", "/usr/lib/python3/dist-packages/json/__init__.py", "/tmp/upload-123", "/var/log/app/worker.log", "/proc/self/status"}
	for i := 0; i < 1000; i++ {
		p := procs[i%len(procs)]
		var e *event.Event
		switch r := i % 10; {
		case r < 4:
			e = mk(i, "openat")
			name := files[i%len(files)]
			flags := int64(0) // O_RDONLY
			text := "O_RDONLY|O_CLOEXEC"
			if i%3 == 0 {
				flags, text = 0o1101, "O_WRONLY|O_CREAT|O_TRUNC"
			}
			e.Res = 5
			e.AddParam("fd", "5", 5)
			e.AddParam("dirfd", "AT_FDCWD", -100)
			e.AddParam("name", name, 0)
			e.AddParam("flags", text, flags)
			e.FD = &event.FD{Num: 5, Type: event.FDFile, Name: name, NameRaw: name}
		case r == 4:
			e = mk(i, "execve")
			e.AddParam("res", "0", 0)
		case r == 5:
			e = mk(i, "connect")
			e.FD = &event.FD{Num: 7, Type: event.FDIPv4, L4: event.L4TCP}
		case r == 6:
			e = mk(i, "close")
			e.AddParam("fd", "5", 5)
		case r == 7:
			e = mk(i, "clone")
			e.Res = 1300
		case r == 8:
			e = mk(i, "dup2")
			e.Res = 1
		default:
			e = mk(i, "mmap")
		}
		e.Tid, e.Pid = p.Pid, p.Pid
		out = append(out, fields.Ctx{Evt: e, Proc: p, Hostname: "node1"})
	}
	return out
}

// BenchmarkEvaluateMixedStream measures events per second through the
// stable rules plus our defaults; the stream raises no alert.
func BenchmarkEvaluateMixedStream(b *testing.B) {
	eng := stableAndDefaults(b, Options{})
	stream := mixedStream()
	matches := 0
	count := func(*Rule) { matches++ }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		eng.Match(&stream[i%len(stream)], count)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if matches != 0 {
		b.Fatalf("the benign stream raised %d alerts", matches)
	}
}

// BenchmarkLoadStableRules measures loading and compiling the stable file.
func BenchmarkLoadStableRules(b *testing.B) {
	data, err := os.ReadFile(filepath.Join(testenv.ConformanceDir(b), "falco", "falco_rules.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_, _, diags := Load([]rules.Source{{Name: "falco_rules.yaml", Data: data}}, Options{})
		if diags.HasErrors() {
			b.Fatal(diags.Errors())
		}
	}
}

// TestMixedStreamRaisesNoAlertAndDoesNotAllocate guards the benchmark's
// premise: the benign stream is benign and evaluation allocates nothing.
func TestMixedStreamRaisesNoAlertAndDoesNotAllocate(t *testing.T) {
	eng := stableAndDefaults(t, Options{})
	stream := mixedStream()
	for i := range stream {
		eng.Match(&stream[i], func(r *Rule) {
			t.Errorf("event %d (%s by %s) raised %q", i, stream[i].Evt.Type, stream[i].Proc.Comm, r.Name)
		})
	}
	allocs := testing.AllocsPerRun(10, func() {
		for i := range stream {
			eng.Match(&stream[i], func(*Rule) {})
		}
	})
	if allocs != 0 {
		t.Errorf("evaluating %d events allocated %v times, want 0", len(stream), allocs)
	}
}

var _ = fmt.Sprint
