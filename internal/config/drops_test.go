package config

import (
	"strings"
	"testing"
)

func TestDefaultRingBufferAndDropPolicy(t *testing.T) {
	c := mustLoad(t, "", nil)
	if got := c.RingBufferSize(2); got != 64<<20 {
		t.Errorf("default ring buffer on 2 CPUs: %d, want %d", got, 64<<20)
	}
	d := c.SyscallEventDrops
	if d.Threshold != 0 || d.Rate != .03333 || d.MaxBurst != 1 || strings.Join(d.Actions, ",") != "log,alert" {
		t.Errorf("syscall_event_drops: %+v", d)
	}
	if !c.HasDropAction("log") || !c.HasDropAction("alert") || c.HasDropAction("exit") {
		t.Errorf("actions: log %v alert %v exit %v", c.HasDropAction("log"), c.HasDropAction("alert"), c.HasDropAction("exit"))
	}
	if c.Engine.Kind != "modern_ebpf" {
		t.Errorf("engine.kind %q", c.Engine.Kind)
	}
}

func TestRingBufferSizeFollowsFalcosBuffers(t *testing.T) {
	tests := []struct {
		preset, perBuffer, cpus int
		want                    int
	}{
		{1, 2, 2, 1 << 20},   // one buffer for both CPUs
		{4, 2, 2, 8 << 20},   // Falco's default on 2 CPUs
		{4, 2, 16, 64 << 20}, // 8 buffers of 8 MiB
		{4, 1, 3, 32 << 20},  // 3 buffers of 8 MiB, rounded up
		{4, 0, 64, 8 << 20},  // 0: a single buffer
		{4, 8, 4, 8 << 20},   // more CPUs per buffer than CPUs
		{10, 1, 64, 1 << 30}, // at most 1 GiB
		{7, 2, 2, 64 << 20},  // truesight's default
		{5, 3, 7, 64 << 20},  // 3 buffers of 16 MiB, rounded up
		{2, 2, 1, 2 << 20},   // one CPU
		{3, 1, 1, 4 << 20},   // one CPU, a buffer each
		{9, 1, 8, 1 << 30},   // 8 x 256 MiB capped
		{6, 4, 8, 64 << 20},  // 2 x 32 MiB
		{8, 0, 2, 128 << 20}, // 0 on 2 CPUs
		{1, 1, 2, 2 << 20},   // per-CPU buffers of 1 MiB
	}
	for _, tt := range tests {
		c := &Config{Engine: Engine{ModernEBPF: ModernEBPF{BufSizePreset: tt.preset, CPUsForEachBuffer: tt.perBuffer}}}
		if got := c.RingBufferSize(tt.cpus); got != tt.want {
			t.Errorf("preset %d, cpus_for_each_buffer %d, %d CPUs: %d, want %d", tt.preset, tt.perBuffer, tt.cpus, got, tt.want)
		}
	}
}

func TestDropAndEngineKeysRefuseBadValues(t *testing.T) {
	cases := []struct {
		name, yml string
		want      string
	}{
		{"preset 0", "engine:\n  modern_ebpf:\n    buf_size_preset: 0\n",
			`falco.yaml:3:22: engine.modern_ebpf.buf_size_preset: must be a preset from 1 to 10 (1: 1 MiB, 2: 2 MiB, 3: 4 MiB, 4: 8 MiB, 5: 16 MiB, 6: 32 MiB, 7: 64 MiB, 8: 128 MiB, 9: 256 MiB, 10: 512 MiB), got 0`},
		{"preset 11", "engine:\n  modern_ebpf:\n    buf_size_preset: 11\n",
			`falco.yaml:3:22: engine.modern_ebpf.buf_size_preset: must be a preset from 1 to 10 (1: 1 MiB, 2: 2 MiB, 3: 4 MiB, 4: 8 MiB, 5: 16 MiB, 6: 32 MiB, 7: 64 MiB, 8: 128 MiB, 9: 256 MiB, 10: 512 MiB), got 11`},
		{"preset not a number", "engine:\n  modern_ebpf:\n    buf_size_preset: big\n",
			`falco.yaml:3:22: engine.modern_ebpf.buf_size_preset: want an integer, got "big"`},
		{"negative cpus", "engine:\n  modern_ebpf:\n    cpus_for_each_buffer: -1\n",
			`falco.yaml:3:27: engine.modern_ebpf.cpus_for_each_buffer: must be 0 (one buffer for all CPUs) or a number of CPUs, got -1`},
		{"unknown kind", "engine:\n  kind: ebpf2\n",
			`falco.yaml:2:9: engine.kind: "ebpf2" is not one of Falco's engine kinds (modern_ebpf, kmod, ebpf, gvisor, replay, nodriver)`},
		{"threshold above 1", "syscall_event_drops:\n  threshold: 10\n",
			`falco.yaml:2:14: syscall_event_drops.threshold: must be a share of the records from 0 to 1 (0.1 is 10%), got 10`},
		{"negative threshold", "syscall_event_drops:\n  threshold: -.1\n",
			`falco.yaml:2:14: syscall_event_drops.threshold: must be a share of the records from 0 to 1 (0.1 is 10%), got -0.1`},
		{"threshold not a number", "syscall_event_drops:\n  threshold: ten\n",
			`falco.yaml:2:14: syscall_event_drops.threshold: want a number such as 0.5, got "ten"`},
		{"threshold NaN", "syscall_event_drops:\n  threshold: NaN\n",
			`falco.yaml:2:14: syscall_event_drops.threshold: want a number such as 0.5, got "NaN"`},
		{"zero rate", "syscall_event_drops:\n  rate: 0\n",
			`falco.yaml:2:9: syscall_event_drops.rate: must be a positive number of actions per second (0.03333 is one every 30s), got 0`},
		{"zero burst", "syscall_event_drops:\n  max_burst: 0\n",
			`falco.yaml:2:14: syscall_event_drops.max_burst: must be 1 or more, got 0`},
		{"unknown action", "syscall_event_drops:\n  actions: [log, page]\n",
			`falco.yaml:2:18: syscall_event_drops.actions[1]: "page" is not an action: want ignore, log, alert, exit`},
		{"ignore with another", "syscall_event_drops:\n  actions: [ignore, exit]\n",
			`falco.yaml:2:12: syscall_event_drops.actions: ignore cannot be combined with other actions`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, _, err := loadString(t, c.yml)
			if err == nil {
				t.Fatalf("no error; config %+v", cfg)
			}
			if err.Error() != c.want {
				t.Errorf("error:\n got %s\nwant %s", err, c.want)
			}
		})
	}
}

func TestDropAndEngineKeysFromFalco(t *testing.T) {
	// Falco's own defaults load, with a warning for each key truesight
	// cannot honour.
	c := mustLoad(t, `engine:
  kind: kmod
  kmod:
    buf_size_preset: 4
    drop_failed_exit: false
  modern_ebpf:
    cpus_for_each_buffer: 2
    buf_size_preset: 4
    drop_failed_exit: false
syscall_event_drops:
  threshold: .1
  actions:
    - log
    - alert
  rate: .03333
  max_burst: 1
  simulate_drops: false
`, []string{"syscall_event_drops.actions=[exit]"},
		"falco.yaml:3:3: warning: engine.kmod: Falco key with no effect in truesight: truesight always uses its own eBPF sensor; engine.modern_ebpf sizes its ring buffer",
		"falco.yaml:9:5: warning: engine.modern_ebpf.drop_failed_exit: Falco key with no effect in truesight: truesight's sensor keeps failed syscalls",
		"falco.yaml:17:3: warning: syscall_event_drops.simulate_drops: Falco key with no effect in truesight: drops cannot be simulated; a tiny ring buffer (engine.modern_ebpf.buf_size_preset: 1) makes real ones",
		"falco.yaml:2:9: warning: engine.kind: kmod: truesight always uses its own eBPF sensor, sized by engine.modern_ebpf",
	)
	if got := c.RingBufferSize(2); got != 8<<20 {
		t.Errorf("ring buffer %d, want 8 MiB", got)
	}
	if c.SyscallEventDrops.Threshold != .1 || !c.HasDropAction("exit") || c.HasDropAction("log") {
		t.Errorf("syscall_event_drops: %+v", c.SyscallEventDrops)
	}
}

// FuzzDropAndEngineKeys: whatever the values, a configuration either loads
// with values the agent can use, or is refused with errors that each name
// one of the keys.
func FuzzDropAndEngineKeys(f *testing.F) {
	f.Add("modern_ebpf", "4", "2", ".1", "[log, alert]", ".03333", "1")
	f.Add("kmod", "0", "-1", "2", "[ignore, exit]", "0", "0")
	f.Add("", "11", "1e3", "NaN", "page", "-Inf", "1.5")
	f.Add("replay", "0x7", "007", "1e-9", "[]", "1e308", "2147483647")
	f.Fuzz(func(t *testing.T, kind, preset, cpus, threshold, actions, rate, burst string) {
		// actions stays on its line: a flow list, a scalar or garbage.
		actions = strings.NewReplacer("\n", " ", "\r", " ").Replace(actions)
		yml := "engine:\n  kind: " + quote(kind) + "\n  modern_ebpf:\n    buf_size_preset: " + quote(preset) +
			"\n    cpus_for_each_buffer: " + quote(cpus) + "\nsyscall_event_drops:\n  threshold: " + quote(threshold) +
			"\n  actions: " + actions + "\n  rate: " + quote(rate) + "\n  max_burst: " + quote(burst) + "\n"
		c, _, err := load("falco.yaml", []byte(yml), nil, env)
		if err != nil {
			if c != nil {
				t.Fatal("a config with the error")
			}
			errs, ok := err.(Errors)
			if !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			for _, e := range errs {
				if e.Key == "" && strings.HasPrefix(e.Msg, "not valid YAML: ") {
					continue // actions broke the document
				}
				if !strings.HasPrefix(e.Key, "engine") && !strings.HasPrefix(e.Key, "syscall_event_drops") {
					t.Fatalf("error about another key: %v", e)
				}
			}
			return
		}
		m := c.Engine.ModernEBPF
		d := c.SyscallEventDrops
		if m.BufSizePreset < 1 || m.BufSizePreset > 10 || m.CPUsForEachBuffer < 0 ||
			d.Threshold < 0 || d.Threshold > 1 || d.Rate <= 0 || d.MaxBurst < 1 {
			t.Fatalf("accepted %+v %+v", m, d)
		}
		for _, n := range []int{1, 2, 3, 64, 4096} {
			size := c.RingBufferSize(n)
			if size < 1<<20 || size > 1<<30 || size&(size-1) != 0 {
				t.Fatalf("ring buffer %d on %d CPUs from %+v", size, n, m)
			}
		}
	})
}

// quote makes s one YAML double-quoted scalar, so a fuzzed value cannot
// change the document's shape.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}
