package output

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDispatcherDeliversToEveryOutputInOrder(t *testing.T) {
	a, b := &memorySink{}, &memorySink{}
	d := NewDispatcher(quiet, Output{Name: "a", Sink: a}, Output{Name: "b", Sink: b})
	for i := range 100 {
		d.Send(testAlert(i))
	}
	closeNow(t, d)
	for _, m := range []*memorySink{a, b} {
		got := m.got()
		if len(got) != 100 {
			t.Fatalf("got %d alerts, want 100", len(got))
		}
		for i, al := range got {
			if al.Fields["seq"] != i {
				t.Fatalf("alert %d has seq %v", i, al.Fields["seq"])
			}
		}
		if !m.closed {
			t.Error("sink not closed")
		}
	}
	want := []Stats{{Name: "a", Capacity: DefaultCapacity, Sent: 100}, {Name: "b", Capacity: DefaultCapacity, Sent: 100}}
	if got := d.Stats(); !equalStats(got, want) {
		t.Errorf("stats %+v, want %+v", got, want)
	}
}

func equalStats(a, b []Stats) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// stuck returns a dispatcher whose "slow" output has taken one alert and is
// blocked on it, so that its queue of the given capacity is empty.
func stuck(t *testing.T, capacity int, opts DispatcherOptions, more ...Output) (*Dispatcher, *memorySink) {
	t.Helper()
	slow := &memorySink{gate: make(chan struct{})}
	d := NewDispatcher(opts, append([]Output{{Name: "slow", Sink: slow, Capacity: capacity}}, more...)...)
	d.Send(testAlert(0))
	eventually(t, "worker to take the first alert", func() bool { return d.Stats()[0].Queued == 0 })
	return d, slow
}

func TestDispatcherSendNeverBlocksAndCountsDropsPerOutput(t *testing.T) {
	fast := &memorySink{}
	d, slow := stuck(t, 3, quiet, Output{Name: "fast", Sink: fast})
	start := time.Now()
	for i := 1; i <= 10; i++ {
		d.Send(testAlert(i))
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Send took %v with a blocked output", el)
	}
	eventually(t, "fast output", func() bool { return len(fast.got()) == 11 })
	st := d.Stats()
	if st[0].Queued != 3 || st[0].Dropped != 7 || st[0].Sent != 0 {
		t.Errorf("slow stats %+v, want 3 queued and 7 dropped", st[0])
	}
	if st[1].Dropped != 0 || st[1].Sent != 11 {
		t.Errorf("fast stats %+v, want 11 sent", st[1])
	}
	close(slow.gate) // let everything through
	closeNow(t, d)
	var seqs []int
	for _, a := range slow.got() {
		seqs = append(seqs, a.Fields["seq"].(int))
	}
	if want := []int{0, 1, 2, 3}; !equalInts(seqs, want) {
		t.Errorf("slow output got %v, want %v (the alerts that fit)", seqs, want)
	}
	if st := d.Stats()[0]; st.Sent != 4 || st.Dropped != 7 || st.Failed != 0 || st.Queued != 0 {
		t.Errorf("final slow stats %+v", st)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// syncBuffer is a bytes.Buffer safe for concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDispatcherReportsLostAlertsAsLogAndInternalAlert(t *testing.T) {
	var logs syncBuffer
	watch := &memorySink{}
	opts := DispatcherOptions{
		ReportInterval: 30 * time.Millisecond,
		Hostname:       "node1",
		Logger:         slog.New(slog.NewJSONHandler(&logs, nil)),
	}
	d, slow := stuck(t, 2, opts, Output{Name: "watch", Sink: watch})
	for i := 1; i <= 7; i++ {
		d.Send(testAlert(i))
	}
	var report *Alert
	eventually(t, "internal alert", func() bool {
		for _, a := range watch.got() {
			if a.Rule == InternalRule {
				report = a
				return true
			}
		}
		return false
	})
	if report.Priority != "Error" || report.Source != "internal" || report.Hostname != "node1" {
		t.Errorf("report alert %+v", report)
	}
	wantFields := map[string]any{
		"output.name": "slow", "output.dropped": uint64(5), "output.failed": uint64(0),
		"output.dropped_total": uint64(5), "output.failed_total": uint64(0), "output.capacity": 2,
	}
	for k, v := range wantFields {
		if report.Fields[k] != v {
			t.Errorf("field %s = %#v, want %#v", k, report.Fields[k], v)
		}
	}
	if !strings.Contains(report.Message, "output slow lost 5 alerts") {
		t.Errorf("message %q", report.Message)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if err := json.Unmarshal([]byte(l), &line); err == nil && line["msg"] == "alerts lost" {
			break
		}
		line = nil
	}
	if line == nil || line["output"] != "slow" || line["dropped"] != 5.0 || line["level"] != "ERROR" {
		t.Errorf("log line %v in %s", line, logs.String())
	}
	// The report is offered to the full queue too, without being counted.
	if st := d.Stats()[0]; st.Dropped != 5 {
		t.Errorf("slow dropped %d, want 5", st.Dropped)
	}
	close(slow.gate)
	closeNow(t, d)
}

func TestDispatcherCloseGivesUpAtTheDeadline(t *testing.T) {
	d, _ := stuck(t, 10, quiet) // the gate never opens
	for i := 1; i <= 4; i++ {
		d.Send(testAlert(i))
	}
	c, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := d.Close(c)
	if err == nil || err.Error() != "output slow: shutdown deadline passed; 5 alerts not delivered" {
		t.Fatalf("close: %v", err)
	}
	if el := time.Since(start); el > closeGrace {
		t.Errorf("close took %v", el)
	}
	// The blocked alert and the four queued ones were cancelled.
	if st := d.Stats()[0]; st.Failed != 5 || st.Sent != 0 || st.Queued != 0 {
		t.Errorf("stats %+v, want 5 failed", st)
	}
	d.Send(testAlert(9))
	if st := d.Stats()[0]; st.Dropped != 1 {
		t.Errorf("send after close: dropped %d, want 1", st.Dropped)
	}
}

// deafSink blocks in Write and ignores cancellation.
type deafSink struct{ release chan struct{} }

func (s deafSink) Write(context.Context, *Alert) error { <-s.release; return nil }
func (s deafSink) Close() error                        { return nil }

func TestDispatcherCloseAbandonsAWriteThatIgnoresCancellation(t *testing.T) {
	s := deafSink{release: make(chan struct{})}
	defer close(s.release)
	d := NewDispatcher(quiet, Output{Name: "deaf", Sink: s})
	d.Send(testAlert(0))
	c, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := d.Close(c)
	if err == nil || !strings.Contains(err.Error(), "output deaf: shutdown deadline passed") {
		t.Fatalf("close error %v", err)
	}
}

// failSink fails every write.
type failSink struct{}

func (failSink) Write(context.Context, *Alert) error { return errors.New("receiver gone") }
func (failSink) Close() error                        { return nil }

func TestDispatcherCountsFailures(t *testing.T) {
	d := NewDispatcher(quiet, Output{Name: "bad", Sink: failSink{}})
	for i := range 3 {
		d.Send(testAlert(i))
	}
	closeNow(t, d)
	if st := d.Stats()[0]; st.Failed != 3 || st.Sent != 0 {
		t.Errorf("stats %+v, want 3 failed", st)
	}
}

func TestDispatcherCloseReturnsWithSeveralBlockedOutputs(t *testing.T) {
	a, b := deafSink{release: make(chan struct{})}, deafSink{release: make(chan struct{})}
	defer close(a.release)
	defer close(b.release)
	d := NewDispatcher(quiet, Output{Name: "a", Sink: a}, Output{Name: "b", Sink: b})
	d.Send(testAlert(0))
	c, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	done := make(chan error)
	go func() { done <- d.Close(c) }()
	select {
	case err := <-done:
		want := "output a: shutdown deadline passed with 0 alerts queued and a write still blocked\n" +
			"output b: shutdown deadline passed with 0 alerts queued and a write still blocked"
		if err == nil || err.Error() != want {
			t.Errorf("close error %v", err)
		}
	case <-time.After(closeGrace + 2*time.Second):
		t.Fatal("Close did not return")
	}
}
