package output

import (
	"testing"
	"time"
)

func TestRateLimitSuppressesIdenticalAlertsOnly(t *testing.T) {
	m := &memorySink{}
	opts := quiet
	opts.RateLimit = RateLimit{Window: time.Hour, Max: 2}
	d := NewDispatcher(opts, Output{Name: "m", Sink: m})
	for range 5 {
		d.Send(testAlert(1)) // identical: same rule, same text
	}
	d.Send(testAlert(2)) // different text
	other := testAlert(1)
	other.Rule = "Another rule"
	d.Send(other) // different rule
	closeNow(t, d)
	if got := len(m.got()); got != 4 {
		t.Errorf("%d alerts passed, want 4", got)
	}
	if got := d.Suppressed(); got != 3 {
		t.Errorf("suppressed %d, want 3", got)
	}
	if st := d.Stats()[0]; st.Dropped != 0 || st.Sent != 4 {
		t.Errorf("stats %+v: suppression is not a drop", st)
	}
}

func TestRateLimitWindowsReopen(t *testing.T) {
	l := &limiter{o: RateLimit{Window: time.Minute, Max: 1}, seen: map[limitKey]*limitEntry{}}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at   time.Duration
		want bool
	}{
		{0, true},
		{30 * time.Second, false},
		{59 * time.Second, false},
		{60 * time.Second, true}, // a new window opens
		{61 * time.Second, false},
	}
	a := testAlert(1)
	for _, s := range steps {
		if got := l.allow(a, t0.Add(s.at)); got != s.want {
			t.Errorf("at +%v: allow %v, want %v", s.at, got, s.want)
		}
	}
	// Closed windows are forgotten.
	l.allow(testAlert(2), t0.Add(5*time.Minute))
	if len(l.seen) != 1 {
		t.Errorf("%d entries kept, want 1", len(l.seen))
	}
}
