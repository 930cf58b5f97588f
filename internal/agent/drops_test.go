package agent

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/sensor"
)

// stats builds the kernel's counters as Sensor.Stats returns them: totals
// since Open, with per-CPU values that add up.
func stats(perCPU ...sensor.CPUStats) sensor.Stats {
	st := sensor.Stats{PerCPU: perCPU}
	for _, c := range perCPU {
		st.Events += c.Events
		st.Drops += c.Drops
		st.Truncated += c.Truncated
	}
	return st
}

// monitorRun feeds a monitor one reading per second (the first is the
// base Start takes) and collects what it did.
type monitorRun struct {
	m      *DropMonitor
	alerts []*output.Alert
	exits  []error
	log    bytes.Buffer
}

func newMonitorRun(p DropPolicy, readings []sensor.Stats) *monitorRun {
	r := &monitorRun{}
	i := 0
	r.m = &DropMonitor{
		Policy: p,
		Stats: func() (sensor.Stats, error) {
			st := readings[i]
			i++
			return st, nil
		},
		Emit:           func(a *output.Alert) { r.alerts = append(r.alerts, a) },
		Exit:           func(err error) { r.exits = append(r.exits, err) },
		Log:            slog.New(slog.NewTextHandler(&r.log, nil)),
		Hostname:       "h1",
		RingBufferSize: 1 << 20,
	}
	return r
}

var t0 = time.Unix(1700000000, 0)

func (r *monitorRun) run(t *testing.T, n int) []*DropReport {
	t.Helper()
	if err := r.m.Start(t0); err != nil {
		t.Fatal(err)
	}
	var reports []*DropReport
	for k := 1; k <= n; k++ {
		rep, err := r.m.Check(t0.Add(time.Duration(k) * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		reports = append(reports, rep)
	}
	return reports
}

func TestDropMonitorActsOnlyAboveTheThreshold(t *testing.T) {
	base := stats(sensor.CPUStats{Events: 1000}, sensor.CPUStats{Events: 1000})
	tests := []struct {
		name      string
		threshold float64
		next      sensor.Stats
		wantAlert bool
	}{
		{"no drops, threshold 0", 0, stats(sensor.CPUStats{Events: 1100}, sensor.CPUStats{Events: 1100}), false},
		{"one drop, threshold 0", 0, stats(sensor.CPUStats{Events: 1100, Drops: 1}, sensor.CPUStats{Events: 1100}), true},
		// 10 of 200 records (5%) against 10%.
		{"5% lost, threshold 0.1", 0.1, stats(sensor.CPUStats{Events: 1095, Drops: 5}, sensor.CPUStats{Events: 1095, Drops: 5}), false},
		// 50 of 200 records (25%) against 10%.
		{"25% lost, threshold 0.1", 0.1, stats(sensor.CPUStats{Events: 1075, Drops: 25}, sensor.CPUStats{Events: 1075, Drops: 25}), true},
		// exactly at the threshold is not above it: 20 of 200.
		{"10% lost, threshold 0.1", 0.1, stats(sensor.CPUStats{Events: 1090, Drops: 10}, sensor.CPUStats{Events: 1090, Drops: 10}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newMonitorRun(DropPolicy{Threshold: tt.threshold, Alert: true, Rate: 1, MaxBurst: 1}, []sensor.Stats{base, tt.next})
			r.run(t, 1)
			if got := len(r.alerts) == 1; got != tt.wantAlert {
				t.Fatalf("alerted %v, want %v (%d alerts)", got, tt.wantAlert, len(r.alerts))
			}
		})
	}
}

func TestDropAlertCarriesCountsPerCPU(t *testing.T) {
	r := newMonitorRun(DropPolicy{Alert: true, Rate: 1, MaxBurst: 1}, []sensor.Stats{
		stats(sensor.CPUStats{Events: 500, Drops: 7}, sensor.CPUStats{Events: 400}),
		stats(sensor.CPUStats{Events: 1400, Drops: 107, Truncated: 2}, sensor.CPUStats{Events: 1000, Drops: 50}),
	})
	reps := r.run(t, 1)
	if len(r.alerts) != 1 {
		t.Fatalf("%d alerts, want 1", len(r.alerts))
	}
	a := r.alerts[0]
	if a.Rule != DropRule || a.Priority != "Critical" || a.Source != "internal" || a.Hostname != "h1" || a.Time != t0.Add(time.Second).UnixNano() {
		t.Errorf("alert header: rule %q priority %q source %q host %q time %d", a.Rule, a.Priority, a.Source, a.Hostname, a.Time)
	}
	// 150 dropped of 150+1500 records in the second; 157 since Open.
	wantMsg := "Kernel events dropped: 150 of 1650 records (9.09%) lost in the last 1s because the ring buffer (1 MiB) was full (per CPU: cpu0=100 cpu1=50); 150 since the last report, 157 since start; a larger engine.modern_ebpf.buf_size_preset holds bigger bursts"
	if a.Message != wantMsg {
		t.Errorf("message:\n got %s\nwant %s", a.Message, wantMsg)
	}
	want := map[string]any{
		"kernel.drops": uint64(150), "kernel.drops.buffer_full": uint64(150), "kernel.records": uint64(1500),
		"kernel.truncated": uint64(2), "kernel.drops_unreported": uint64(150), "kernel.drops_total": uint64(157),
		"kernel.interval_ms": int64(1000), "kernel.ring_buffer_bytes": 1 << 20,
		"kernel.drops.cpu0": uint64(100), "kernel.drops.cpu1": uint64(50),
	}
	if len(a.Fields) != len(want) {
		t.Errorf("fields: got %v, want %v", a.Fields, want)
	}
	for k, v := range want {
		if a.Fields[k] != v {
			t.Errorf("field %s = %#v, want %#v", k, a.Fields[k], v)
		}
	}
	if reps[0] == nil || reps[0].Ratio() != 150.0/1650 {
		t.Errorf("report: %+v", reps[0])
	}
}

// cumulative returns n+1 readings of one CPU: Events grow by 1000 a
// second and Drops by drops[k] in second k+1.
func cumulative(drops ...uint64) []sensor.Stats {
	var ev, dr uint64
	out := []sensor.Stats{stats(sensor.CPUStats{})}
	for _, d := range drops {
		ev += 1000
		dr += d
		out = append(out, stats(sensor.CPUStats{Events: ev, Drops: dr}))
	}
	return out
}

func TestDropReportsAreRateLimitedAndCarryWhatWasSkipped(t *testing.T) {
	tests := []struct {
		name     string
		rate     float64
		burst    int
		drops    []uint64
		wantAt   []int    // seconds (1-based) with an alert
		wantUnrp []uint64 // Unreported of those alerts
		skipped  uint64
	}{
		// Falco's default: one report per 30 s, none saved up.
		{"one per 30s", 1.0 / 30, 1, []uint64{10, 20, 30, 0, 5}, []int{1}, []uint64{10}, 3},
		{"burst of two", 1.0 / 30, 2, []uint64{10, 20, 30, 40}, []int{1, 2}, []uint64{10, 20}, 2},
		// One token a second: every second with drops is reported, and a
		// quiet second in between adds nothing.
		{"every second", 1, 1, []uint64{1, 0, 2, 3}, []int{1, 3, 4}, []uint64{1, 2, 3}, 0},
		// Half a token a second: the third second has a token again and
		// reports the second's drops with its own.
		{"every other second", 0.5, 1, []uint64{4, 6, 8}, []int{1, 3}, []uint64{4, 14}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newMonitorRun(DropPolicy{Alert: true, Log: true, Rate: tt.rate, MaxBurst: tt.burst}, cumulative(tt.drops...))
			reps := r.run(t, len(tt.drops))
			alertedAt := map[int64]bool{}
			for _, a := range r.alerts {
				alertedAt[a.Time] = true
			}
			var at []int
			for k, rep := range reps {
				if rep != nil && alertedAt[rep.Time.UnixNano()] {
					at = append(at, k+1)
				}
			}
			if len(at) != len(tt.wantAt) || len(r.alerts) != len(tt.wantAt) {
				t.Fatalf("alerts at seconds %v (%d alerts), want %v", at, len(r.alerts), tt.wantAt)
			}
			for i := range at {
				if at[i] != tt.wantAt[i] {
					t.Fatalf("alerts at seconds %v, want %v", at, tt.wantAt)
				}
				if got := r.alerts[i].Fields["kernel.drops_unreported"]; got != tt.wantUnrp[i] {
					t.Errorf("alert %d: unreported %v, want %d", i, got, tt.wantUnrp[i])
				}
			}
			if got := r.m.Skipped.Load(); got != tt.skipped {
				t.Errorf("skipped %d, want %d", got, tt.skipped)
			}
			if got := r.m.Logged.Load(); got != uint64(len(tt.wantAt)) {
				t.Errorf("logged %d, want %d (log and alert share the token)", got, len(tt.wantAt))
			}
		})
	}
}

func TestDropActions(t *testing.T) {
	tests := []struct {
		name                 string
		policy               DropPolicy
		wantAlerts, wantLogs int
		wantExit             bool
	}{
		{"ignore", DropPolicy{Rate: 1, MaxBurst: 1}, 0, 0, false},
		{"log", DropPolicy{Log: true, Rate: 1, MaxBurst: 1}, 0, 1, false},
		{"alert", DropPolicy{Alert: true, Rate: 1, MaxBurst: 1}, 1, 0, false},
		{"log and alert", DropPolicy{Log: true, Alert: true, Rate: 1, MaxBurst: 1}, 1, 1, false},
		{"exit", DropPolicy{Exit: true, Rate: 1, MaxBurst: 1}, 0, 0, true},
		{"alert and exit", DropPolicy{Alert: true, Exit: true, Rate: 1, MaxBurst: 1}, 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newMonitorRun(tt.policy, cumulative(3))
			r.run(t, 1)
			if len(r.alerts) != tt.wantAlerts {
				t.Errorf("%d alerts, want %d", len(r.alerts), tt.wantAlerts)
			}
			lines := strings.Count(r.log.String(), "\n")
			if lines != tt.wantLogs {
				t.Errorf("%d log lines, want %d:\n%s", lines, tt.wantLogs, r.log.String())
			}
			if tt.wantLogs == 1 {
				want := `level=ERROR msg="kernel events dropped: the ring buffer was full" dropped=3 records=1000 ratio=0.0030 interval=1s per_cpu="cpu0=3" truncated=0 since_last_report=3 dropped_total=3 ring_buffer="1 MiB"`
				if !strings.Contains(r.log.String(), want) {
					t.Errorf("log line:\n%s\nwant it to contain\n%s", r.log.String(), want)
				}
			}
			if got := len(r.exits) == 1; got != tt.wantExit {
				t.Fatalf("exit called %d times, want exit %v", len(r.exits), tt.wantExit)
			}
			if tt.wantExit {
				want := "kernel events dropped: 3 of 1003 records (0.30%) lost in 1s because the ring buffer (1 MiB) was full, and syscall_event_drops.actions has exit"
				if r.exits[0].Error() != want {
					t.Errorf("exit reason:\n got %s\nwant %s", r.exits[0], want)
				}
			}
		})
	}
}

func TestDropExitFiresOnceAndIsNotRateLimited(t *testing.T) {
	r := newMonitorRun(DropPolicy{Alert: true, Exit: true, Rate: 1.0 / 30, MaxBurst: 1}, cumulative(0, 5, 5))
	r.run(t, 3)
	if len(r.exits) != 1 || len(r.alerts) != 1 {
		t.Fatalf("%d exits, %d alerts; want 1 and 1", len(r.exits), len(r.alerts))
	}
}

func TestDropMonitorReportsUnreadableCounters(t *testing.T) {
	broken := errors.New("map gone")
	m := &DropMonitor{Policy: DropPolicy{Alert: true, Rate: 1, MaxBurst: 1}, Stats: func() (sensor.Stats, error) { return sensor.Stats{}, broken }}
	if err := m.Start(t0); !errors.Is(err, broken) {
		t.Fatalf("Start: %v, want %v", err, broken)
	}
}

func TestDropExitUnwrapsItsReason(t *testing.T) {
	reason := errors.New("lost 3")
	var err error = &DropExit{Reason: reason}
	if !errors.Is(err, reason) || err.Error() != "lost 3" {
		t.Fatalf("DropExit: %v", err)
	}
}
