package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/sensor"
)

// DropRule is the rule name of the alert about events the kernel dropped.
const DropRule = "Kernel events dropped"

// DropPolicy is Falco's syscall_event_drops: when and how to report
// records the kernel could not put in the full ring buffer.
type DropPolicy struct {
	// Threshold is the share (0 to 1) of one interval's records that must
	// be lost before anything happens; 0 acts on any loss.
	Threshold float64
	// Log, Alert and Exit are the actions; none of them set is ignore.
	Log, Alert, Exit bool
	// Rate (tokens a second) and MaxBurst (tokens saved at most) limit how
	// often Log and Alert run. Exit is not limited.
	Rate     float64
	MaxBurst int
}

// DropPolicyFrom reads the policy from syscall_event_drops.
func DropPolicyFrom(cfg *config.Config) DropPolicy {
	d := cfg.SyscallEventDrops
	return DropPolicy{
		Threshold: d.Threshold,
		Log:       cfg.HasDropAction("log"),
		Alert:     cfg.HasDropAction("alert"),
		Exit:      cfg.HasDropAction("exit"),
		Rate:      d.Rate,
		MaxBurst:  d.MaxBurst,
	}
}

// DropReport is what one check found, when its loss passed the threshold.
type DropReport struct {
	Time time.Time
	// Interval is how long Drops and Records were counted.
	Interval time.Duration
	// Drops were lost because the ring buffer was full; Records were
	// written. Both over Interval.
	Drops, Records uint64
	// Truncated records were written with some fields missing.
	Truncated uint64
	// Unreported are the drops since the previous report, which include
	// those of intervals the rate limit skipped; Total since the start.
	Unreported, Total uint64
	// PerCPU are the Interval's counts by CPU.
	PerCPU []sensor.CPUStats
	// RingBufferSize is the ring buffer's size in bytes (0: unknown).
	RingBufferSize int
}

// Ratio is the share of the interval's records that were lost.
func (r *DropReport) Ratio() float64 {
	if r.Drops+r.Records == 0 {
		return 0
	}
	return float64(r.Drops) / float64(r.Drops+r.Records)
}

// DropMonitor polls the sensor's counters and applies a DropPolicy.
type DropMonitor struct {
	Policy DropPolicy
	// Stats reads the kernel's counters (Sensor.Stats).
	Stats func() (sensor.Stats, error)
	// Emit sends an alert through every output.
	Emit func(*output.Alert)
	// Log receives the log action's line; nil discards it.
	Log *slog.Logger
	// Exit is called once, with the reason, when the exit action fires.
	Exit func(error)
	// Hostname goes into the alert.
	Hostname string
	// RingBufferSize is reported in the messages, in bytes.
	RingBufferSize int

	prev       sensor.Stats
	prevTime   time.Time
	started    bool
	tokens     float64
	tokenTime  time.Time
	unreported uint64
	exited     bool

	// Alerts and Logged count the actions run; Skipped the reports the
	// rate limit held back.
	Alerts, Logged, Skipped atomic.Uint64
}

// Start takes the counters' current values as the base; drops before it
// are not reported.
func (m *DropMonitor) Start(now time.Time) error {
	st, err := m.Stats()
	if err != nil {
		return err
	}
	m.prev, m.prevTime, m.started = st, now, true
	m.tokens, m.tokenTime = float64(m.Policy.MaxBurst), now
	return nil
}

// Check reads the counters once and acts on the loss since the previous
// check. It returns the report when the loss passed the threshold, whether
// or not the rate limit let an action run.
func (m *DropMonitor) Check(now time.Time) (*DropReport, error) {
	if !m.started {
		return nil, m.Start(now)
	}
	st, err := m.Stats()
	if err != nil {
		return nil, err
	}
	r := &DropReport{
		Time:           now,
		Interval:       now.Sub(m.prevTime),
		Drops:          st.Drops - m.prev.Drops,
		Records:        st.Events - m.prev.Events,
		Truncated:      st.Truncated - m.prev.Truncated,
		Total:          st.Drops,
		RingBufferSize: m.RingBufferSize,
	}
	for i, c := range st.PerCPU {
		var p sensor.CPUStats
		if i < len(m.prev.PerCPU) {
			p = m.prev.PerCPU[i]
		}
		r.PerCPU = append(r.PerCPU, sensor.CPUStats{Events: c.Events - p.Events, Drops: c.Drops - p.Drops, Truncated: c.Truncated - p.Truncated})
	}
	m.prev, m.prevTime = st, now
	m.refill(now)
	if r.Drops == 0 || r.Ratio() <= m.Policy.Threshold {
		m.unreported += r.Drops
		return nil, nil
	}
	m.unreported += r.Drops
	r.Unreported = m.unreported
	if m.Policy.Log || m.Policy.Alert {
		if m.tokens >= 1 {
			m.tokens--
			m.unreported = 0
			if m.Policy.Log && m.Log != nil {
				m.Logged.Add(1)
				m.Log.Error("kernel events dropped: the ring buffer was full", r.logArgs()...)
			}
			if m.Policy.Alert && m.Emit != nil {
				m.Alerts.Add(1)
				m.Emit(r.Alert(m.Hostname))
			}
		} else {
			m.Skipped.Add(1)
		}
	}
	if m.Policy.Exit && !m.exited && m.Exit != nil {
		m.exited = true
		m.Exit(fmt.Errorf("kernel events dropped: %d of %d records (%.2f%%) lost in %s because the ring buffer (%s) was full, and syscall_event_drops.actions has exit",
			r.Drops, r.Drops+r.Records, 100*r.Ratio(), r.Interval.Round(time.Millisecond), sizeText(r.RingBufferSize)))
	}
	return r, nil
}

func (m *DropMonitor) refill(now time.Time) {
	if el := now.Sub(m.tokenTime).Seconds(); el > 0 {
		m.tokens = min(float64(m.Policy.MaxBurst), m.tokens+el*m.Policy.Rate)
	}
	m.tokenTime = now
}

// Run checks every interval until ctx is done, and once more then, so that
// the last interval's loss is reported too. Errors reading the counters
// are logged once.
func (m *DropMonitor) Run(ctx context.Context, interval time.Duration) {
	if err := m.Start(time.Now()); err != nil {
		if m.Log != nil {
			m.Log.Warn("kernel drop counters unreadable; drops are not reported", "error", err)
		}
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			_, _ = m.Check(time.Now())
			return
		case now := <-t.C:
			if _, err := m.Check(now); err != nil && m.Log != nil {
				m.Log.Warn("kernel drop counters unreadable; drops are not reported", "error", err)
				return
			}
		}
	}
}

func (r *DropReport) perCPUText() string {
	var b strings.Builder
	for i, c := range r.PerCPU {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "cpu%d=%d", i, c.Drops)
	}
	return b.String()
}

func (r *DropReport) logArgs() []any {
	return []any{
		"dropped", r.Drops, "records", r.Records, "ratio", fmt.Sprintf("%.4f", r.Ratio()),
		"interval", r.Interval.Round(time.Millisecond).String(), "per_cpu", r.perCPUText(),
		"truncated", r.Truncated, "since_last_report", r.Unreported, "dropped_total", r.Total,
		"ring_buffer", sizeText(r.RingBufferSize),
	}
}

// Alert is the report as an internal alert of priority Critical. Its
// fields are never empty, so falcosidekick accepts it.
func (r *DropReport) Alert(hostname string) *output.Alert {
	msg := fmt.Sprintf("Kernel events dropped: %d of %d records (%.2f%%) lost in the last %s because the ring buffer (%s) was full (per CPU: %s); %d since the last report, %d since start; a larger engine.modern_ebpf.buf_size_preset holds bigger bursts",
		r.Drops, r.Drops+r.Records, 100*r.Ratio(), r.Interval.Round(time.Millisecond), sizeText(r.RingBufferSize),
		r.perCPUText(), r.Unreported, r.Total)
	f := map[string]any{
		"kernel.drops":             r.Drops,
		"kernel.drops.buffer_full": r.Drops,
		"kernel.records":           r.Records,
		"kernel.truncated":         r.Truncated,
		"kernel.drops_unreported":  r.Unreported,
		"kernel.drops_total":       r.Total,
		"kernel.interval_ms":       r.Interval.Milliseconds(),
		"kernel.ring_buffer_bytes": r.RingBufferSize,
	}
	for i, c := range r.PerCPU {
		f[fmt.Sprintf("kernel.drops.cpu%d", i)] = c.Drops
	}
	return &output.Alert{
		Time:     r.Time.UnixNano(),
		Rule:     DropRule,
		Priority: "Critical",
		Source:   "internal",
		Tags:     []string{},
		Hostname: hostname,
		Message:  msg,
		Fields:   f,
	}
}

func sizeText(n int) string {
	switch {
	case n <= 0:
		return "of unknown size"
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// DropExit is the error the exit action stops the agent with.
type DropExit struct{ Reason error }

func (e *DropExit) Error() string { return e.Reason.Error() }
func (e *DropExit) Unwrap() error { return e.Reason }

// StartDropMonitor checks s's counters every second under cfg's
// syscall_event_drops until ctx is done; stop is called with a *DropExit
// when the exit action fires. wait returns after the final check, which
// reports the loss of the last second too.
func StartDropMonitor(ctx context.Context, cfg *config.Config, s *sensor.Sensor, ringSize int, host string,
	log *slog.Logger, emit func(*output.Alert), stop func(error)) (m *DropMonitor, wait func()) {
	m = &DropMonitor{
		Policy: DropPolicyFrom(cfg), Stats: s.Stats, Emit: emit, Log: log, Hostname: host, RingBufferSize: ringSize,
		Exit: func(err error) { stop(&DropExit{Reason: err}) },
	}
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx, time.Second) }()
	return m, func() { <-done }
}
