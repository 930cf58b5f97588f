package output

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sink delivers alerts to one destination: a terminal, a file, a syslog
// daemon, an HTTP endpoint or a program.
//
// A Dispatcher calls Write and Flush from a single goroutine per sink and
// calls Close once, after the last Write, so sinks need no locking of their
// own. Write must not modify the alert: the same *Alert is shared by every
// sink. ctx is cancelled when a shutdown deadline passes; a Write blocked on
// I/O should then give up.
type Sink interface {
	Write(ctx context.Context, a *Alert) error
	Close() error
}

// Flusher is implemented by sinks that buffer. Writes then only buffer, and
// an alert counts as sent once the Flush that follows it succeeds. The
// Dispatcher flushes whenever its queue runs empty and at least every
// flushBatch alerts, so buffering adds no latency when alerts are rare.
type Flusher interface {
	Flush() error
}

// Reopener is implemented by sinks that hold a file open. Reopen may be
// called from any goroutine (a SIGHUP handler); the sink reopens before its
// next write.
type Reopener interface {
	Reopen()
}

// Encoding selects how line-oriented sinks render an alert: Falco's text line
// or Falco's JSON object.
type Encoding struct {
	// JSON writes Falco's JSON object instead of the text line.
	JSON bool
	// Options are the json_include_* settings; Options.Text also sets the
	// time format of the text line (and of the JSON "output" property).
	Options JSONOptions
}

// AppendLine appends the rendered alert, without a newline, to b.
func (e Encoding) AppendLine(b []byte, a *Alert) []byte {
	if e.JSON {
		return append(b, a.JSON(e.Options)...)
	}
	return append(b, a.Text(e.Options.Text)...)
}

// DefaultCapacity is the queue length of an output whose Capacity is zero.
const DefaultCapacity = 10000

// flushBatch bounds how many alerts a buffering sink holds before a flush.
const flushBatch = 256

// Output is one named destination of a Dispatcher.
type Output struct {
	// Name identifies the output in logs and metrics: stdout, file,
	// syslog, http, program.
	Name string
	Sink Sink
	// Capacity is the number of alerts the output's queue holds while its
	// sink is slow or down; 0 means DefaultCapacity.
	Capacity int
}

// DispatcherOptions tune a Dispatcher. The zero value is usable.
type DispatcherOptions struct {
	// Logger receives delivery problems. Nil means slog.Default().
	Logger *slog.Logger
	// ReportInterval is how often lost alerts (dropped because a queue was
	// full, or failed) are reported, as a log line and as an internal
	// alert. Zero means 10s; negative disables the periodic report (a
	// final one is still logged at Close).
	ReportInterval time.Duration
	// Hostname is put in internal alerts. Empty means os.Hostname().
	Hostname string
	// RateLimit, when Max is positive, suppresses identical alerts beyond
	// Max per Window. Off by default.
	RateLimit RateLimit
}

// InternalRule is the rule name of the internal alert that reports alerts
// lost by an output.
const InternalRule = "Truesight internal: alerts lost"

// Stats are one output's delivery counters. Every alert passed to Send ends
// up in exactly one of Sent, Failed and Dropped; until then it is Queued or
// being written (at most flushBatch alerts, for a buffering sink).
type Stats struct {
	Name     string
	Capacity int
	Queued   int    // alerts waiting in the queue now
	Sent     uint64 // delivered (for buffering sinks: flushed)
	Failed   uint64 // given up on after the sink returned an error
	Dropped  uint64 // not queued because the queue was full or closed
}

// Dispatcher fans alerts out to outputs. Each output has its own bounded
// queue and worker goroutine, so a slow or dead receiver delays only its
// own output and never the caller: Send never blocks. When a queue is full
// the alert is dropped for that output and counted.
type Dispatcher struct {
	mu      sync.RWMutex // Send holds it shared; Close exclusively
	closed  bool
	outputs []*queue
	log     *slog.Logger
	host    string

	limit              *limiter
	suppressed         atomic.Uint64
	reportedSuppressed uint64

	interval   time.Duration
	stop       chan struct{} // closed by Close: workers drain and exit
	reportStop chan struct{}
	reportDone chan struct{}
}

// queue is one output's bounded queue, worker and counters.
type queue struct {
	name   string
	sink   Sink
	ch     chan *Alert
	done   chan struct{} // closed when the worker has exited
	ctx    context.Context
	cancel context.CancelFunc

	sent, failed, dropped atomic.Uint64
	failing               atomic.Bool
	lastErr               atomic.Value // string

	// Counts at the previous report; touched only by the reporter and Close.
	reportedDropped, reportedFailed uint64
}

// NewDispatcher starts one worker per output and the loss reporter.
func NewDispatcher(opts DispatcherOptions, outputs ...Output) *Dispatcher {
	d := &Dispatcher{
		log:        opts.Logger,
		host:       opts.Hostname,
		interval:   opts.ReportInterval,
		stop:       make(chan struct{}),
		reportStop: make(chan struct{}),
		reportDone: make(chan struct{}),
	}
	if d.log == nil {
		d.log = slog.Default()
	}
	if d.host == "" {
		d.host, _ = os.Hostname()
	}
	if d.interval == 0 {
		d.interval = 10 * time.Second
	}
	if opts.RateLimit.Max > 0 && opts.RateLimit.Window > 0 {
		d.limit = &limiter{o: opts.RateLimit, seen: map[limitKey]*limitEntry{}}
	}
	for _, o := range outputs {
		c := o.Capacity
		if c <= 0 {
			c = DefaultCapacity
		}
		q := &queue{name: o.Name, sink: o.Sink, ch: make(chan *Alert, c), done: make(chan struct{})}
		q.ctx, q.cancel = context.WithCancel(context.Background())
		d.outputs = append(d.outputs, q)
		go q.run(d.stop, d.log)
	}
	if d.interval > 0 {
		go d.reportLoop()
	} else {
		close(d.reportDone)
	}
	return d
}

// Send queues the alert on every output without blocking. An output whose
// queue is full drops the alert and counts it. The alert must not be
// modified afterwards.
func (d *Dispatcher) Send(a *Alert) {
	if d.limit != nil && !d.limit.allow(a, time.Now()) {
		d.suppressed.Add(1)
		return
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, q := range d.outputs {
		if d.closed {
			q.dropped.Add(1)
			continue
		}
		select {
		case q.ch <- a:
		default:
			q.dropped.Add(1)
		}
	}
}

// offer queues an internal alert where there is room, without counting a
// drop: a report about lost alerts must not itself feed the loss count.
func (d *Dispatcher) offer(a *Alert) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return
	}
	for _, q := range d.outputs {
		select {
		case q.ch <- a:
		default:
		}
	}
}

// Suppressed returns how many alerts the rate limit has suppressed.
func (d *Dispatcher) Suppressed() uint64 { return d.suppressed.Load() }

// Reopen asks every sink that holds a file open to reopen it before its
// next write, as after log rotation (SIGHUP).
func (d *Dispatcher) Reopen() {
	for _, q := range d.outputs {
		if r, ok := q.sink.(Reopener); ok {
			r.Reopen()
		}
	}
}

// Stats returns each output's counters, in the order the outputs were given.
func (d *Dispatcher) Stats() []Stats {
	s := make([]Stats, len(d.outputs))
	for i, q := range d.outputs {
		s[i] = Stats{
			Name:     q.name,
			Capacity: cap(q.ch),
			Queued:   len(q.ch),
			Sent:     q.sent.Load(),
			Failed:   q.failed.Load(),
			Dropped:  q.dropped.Load(),
		}
	}
	return s
}

// closeGrace is how long Close waits for workers after cancelling their
// writes at the deadline.
const closeGrace = time.Second

// Close stops accepting alerts, delivers what is queued and closes the
// sinks. When ctx expires first, pending writes are cancelled: what is left
// is counted as failed, and an error names the outputs that did not finish.
// A worker stuck in a write that ignores cancellation is abandoned and its
// sink left open.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()

	close(d.reportStop)
	<-d.reportDone
	close(d.stop)

	var errs []error
	late := map[*queue]uint64{} // outputs cut short, with their failures then
	for _, q := range d.outputs {
		select {
		case <-q.done:
			continue
		case <-ctx.Done():
		}
		// Deadline passed: cancel every remaining write and give the
		// workers a moment to count what is left as failed.
		for _, q := range d.outputs {
			select {
			case <-q.done:
			default:
				late[q] = q.failed.Load()
			}
			q.cancel()
		}
		grace := time.After(closeGrace)
	wait:
		for _, q := range d.outputs {
			select {
			case <-q.done:
			case <-grace:
				break wait
			}
		}
		break
	}
	for _, q := range d.outputs {
		select {
		case <-q.done:
			if before, ok := late[q]; ok {
				errs = append(errs, fmt.Errorf("output %s: shutdown deadline passed; %d alerts not delivered", q.name, q.failed.Load()-before))
			}
			if err := q.sink.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close output %s: %w", q.name, err))
			}
		default:
			errs = append(errs, fmt.Errorf("output %s: shutdown deadline passed with %d alerts queued and a write still blocked", q.name, len(q.ch)))
		}
		q.cancel()
	}
	d.report(false)
	return errors.Join(errs...)
}

// run is an output's worker: it writes alerts in order until stop is
// closed, then drains the queue.
func (q *queue) run(stop <-chan struct{}, log *slog.Logger) {
	defer close(q.done)
	flusher, _ := q.sink.(Flusher)
	pending := 0 // alerts written to a buffering sink but not yet flushed
	flush := func() {
		if pending == 0 {
			return
		}
		if err := flusher.Flush(); err != nil {
			q.failed.Add(uint64(pending))
			q.noteError(err, log)
		} else {
			q.sent.Add(uint64(pending))
			q.noteSuccess(log)
		}
		pending = 0
	}
	deliver := func(a *Alert) {
		if err := q.sink.Write(q.ctx, a); err != nil {
			q.failed.Add(1)
			q.noteError(err, log)
			return
		}
		if flusher != nil {
			pending++
			if pending >= flushBatch || len(q.ch) == 0 {
				flush()
			}
			return
		}
		q.sent.Add(1)
		q.noteSuccess(log)
	}
	for {
		select {
		case a := <-q.ch:
			deliver(a)
		case <-stop:
			for {
				select {
				case a := <-q.ch:
					deliver(a)
				default:
					flush()
					return
				}
			}
		}
	}
}

// noteError logs the first failure of a healthy output at once; later ones
// are summarised by the periodic report.
func (q *queue) noteError(err error, log *slog.Logger) {
	q.lastErr.Store(err.Error())
	if !q.failing.Swap(true) {
		log.Warn("output failing", "output", q.name, "error", err)
	}
}

func (q *queue) noteSuccess(log *slog.Logger) {
	if q.failing.Load() && q.failing.Swap(false) {
		log.Info("output recovered", "output", q.name)
	}
}

func (d *Dispatcher) reportLoop() {
	defer close(d.reportDone)
	t := time.NewTicker(d.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			d.report(true)
		case <-d.reportStop:
			return
		}
	}
}

// report logs, for each output that lost alerts since the previous report,
// how many were dropped and how many failed; with alert set it also sends
// an internal alert about it through the outputs that have room.
func (d *Dispatcher) report(alert bool) {
	if s := d.suppressed.Load(); s != d.reportedSuppressed {
		d.log.Info("identical alerts suppressed by the rate limit", "suppressed", s-d.reportedSuppressed, "suppressed_total", s)
		d.reportedSuppressed = s
	}
	for _, q := range d.outputs {
		dropped, failed := q.dropped.Load(), q.failed.Load()
		nd, nf := dropped-q.reportedDropped, failed-q.reportedFailed
		q.reportedDropped, q.reportedFailed = dropped, failed
		if nd == 0 && nf == 0 {
			continue
		}
		lastErr, _ := q.lastErr.Load().(string)
		d.log.Error("alerts lost", "output", q.name, "dropped", nd, "failed", nf,
			"dropped_total", dropped, "failed_total", failed, "capacity", cap(q.ch), "last_error", lastErr)
		if alert {
			d.offer(d.lossAlert(q, nd, nf, lastErr))
		}
	}
}

// lossAlert builds the internal alert reporting lost alerts. Its fields are
// never empty, so falcosidekick accepts it.
func (d *Dispatcher) lossAlert(q *queue, dropped, failed uint64, lastErr string) *Alert {
	var msg strings.Builder
	fmt.Fprintf(&msg, "Truesight internal: output %s lost %d alerts in the last %s (dropped with queue of %d full: %d, failed: %d)",
		q.name, dropped+failed, d.interval, cap(q.ch), dropped, failed)
	if lastErr != "" {
		fmt.Fprintf(&msg, " last error: %s", lastErr)
	}
	return &Alert{
		Time:     time.Now().UnixNano(),
		Rule:     InternalRule,
		Priority: "Error",
		Source:   "internal",
		Tags:     []string{},
		Hostname: d.host,
		Message:  msg.String(),
		Fields: map[string]any{
			"output.name":          q.name,
			"output.dropped":       dropped,
			"output.failed":        failed,
			"output.dropped_total": q.reportedDropped,
			"output.failed_total":  q.reportedFailed,
			"output.capacity":      cap(q.ch),
		},
	}
}
