package output

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// alertTime is 2016-08-04T16:17:57.881781397Z, Falco's documentation example.
const alertTime = 1_470_327_477_881_781_397

// testAlert returns alert number seq; its seq output field lets receivers
// check that every alert arrives exactly once.
func testAlert(seq int) *Alert {
	return &Alert{
		Time:     alertTime,
		Rule:     "Write below etc",
		Priority: "Warning",
		Source:   "syscall",
		Tags:     []string{"filesystem", "T1098"},
		Hostname: "node1",
		Message:  fmt.Sprintf("File below /etc opened for writing (seq=%d proc=sh)", seq),
		Fields:   map[string]any{"seq": seq, "proc.name": "sh"},
	}
}

// utcText renders the text line in UTC, independent of the machine's zone.
var utcText = Encoding{Options: JSONOptions{Text: TextOptions{Location: time.UTC}}}

// memorySink records alerts in memory; gate, when set, holds each Write
// until a value arrives or the write is cancelled.
type memorySink struct {
	mu     sync.Mutex
	alerts []*Alert
	gate   chan struct{}
	closed bool
}

func (m *memorySink) Write(ctx context.Context, a *Alert) error {
	if m.gate != nil {
		select {
		case <-m.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.alerts = append(m.alerts, a)
	return nil
}

func (m *memorySink) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memorySink) got() []*Alert {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*Alert(nil), m.alerts...)
}

// eventually polls cond until it holds or 5s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// readLines returns the lines of a file, without the final newline.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// closeNow closes the dispatcher with a generous deadline and fails the
// test on error.
func closeNow(t *testing.T, d *Dispatcher) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Close(c); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// quiet is a logger options value that discards dispatcher logs.
var quiet = DispatcherOptions{ReportInterval: -1, Logger: slog.New(slog.DiscardHandler)}
