package replay

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/truesightsec/truesight/internal/capture"
	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/state"
)

// Options tune a replay. The zero value is ready to use.
type Options struct {
	// Hostname is evt.hostname and the hostname of alerts. By default it
	// is the machine name recorded in the capture, else this host's.
	Hostname string
	// MaxProcesses bounds the process table (0: state.DefaultMaxProcesses).
	MaxProcesses int
	// Capture bounds what the reader accepts.
	Capture *capture.Options
	// AllEvents runs the rules on every event, including those sysdig and
	// Falco do not show (internal bookkeeping, state-only events of a
	// filtered capture, the capture's container preamble).
	AllEvents bool
	// Sequential reads and evaluates in one goroutine. By default, when
	// GOMAXPROCS allows, one goroutine reads and decodes while another
	// keeps state and runs the rules.
	Sequential bool
	// Observe, when set, sees every event that goes to the rules, after
	// state has been applied (to print events, as `sysdig -p` does). The
	// context and the event are reused: copy what must be kept.
	Observe func(c *fields.Ctx)
}

// Stats summarise a replay.
type Stats struct {
	Events uint64 // events formed, after joining enter and exit halves
	Shown  uint64 // events run through the rules
	Alerts uint64
	Reader capture.Stats
	Pairs  capture.PairStats
	// UnknownThreads counts threads first seen in an event rather than in
	// the capture's tables or a clone; truesight made up an empty process
	// for each, as libsinsp does.
	UnknownThreads uint64
}

// Replayer turns a capture's events into truesight events and process
// state, and runs them through an engine. A Replayer replays one capture.
// State is kept by a state.Machine, the same one the live agent uses.
type Replayer struct {
	eng      *engine.Engine
	opts     Options
	hostname string

	machine *state.Machine
	// Table is the process state built from the capture.
	Table *state.Table

	// needParams[t] is set when some rule reads events of type t, which
	// then get their parameters rendered.
	needParams []bool
	// interesting[code] is set for events that change state or that some
	// rule reads; the others are counted and passed over.
	interesting [capture.NumCodes]bool

	pairer *capture.Pairer
	ctx    fields.Ctx
	stats  Stats
	out    func(*output.Alert)
	match  func(r *engine.Rule)
}

// New returns a Replayer that runs events through eng (nil: state only).
func New(eng *engine.Engine, opts Options) *Replayer {
	m := state.NewMachine(opts.MaxProcesses, 0)
	r := &Replayer{
		eng:        eng,
		opts:       opts,
		machine:    m,
		Table:      m.Table,
		needParams: make([]bool, event.NumTypes),
		pairer:     capture.NewPairer(),
	}
	m.OnThreadExit = r.pairer.Forget
	if eng != nil {
		for _, t := range eng.Types(event.SourceSyscall) {
			r.needParams[t] = true
		}
	}
	genericNeeded := false
	for id := uint64(0); id < uint64(capture.NumSyscalls); id++ {
		if t, ok := m.GenericType(id); ok {
			genericNeeded = genericNeeded || r.needParams[t]
		}
	}
	for code := 0; code < capture.NumCodes; code++ {
		r.interesting[code] = opts.Observe != nil || m.ChangesState(uint16(code)) || r.needParams[m.TypeOf(uint16(code))] ||
			genericNeeded && (uint16(code) == capture.CodeGenericE || uint16(code) == capture.CodeGenericX)
	}
	r.ctx.Evt = m.Event()
	r.ctx.Containers = m.Container
	r.match = func(rule *engine.Rule) {
		a := rule.Alert(&r.ctx)
		a.Detach()
		r.stats.Alerts++
		if r.out != nil {
			r.out(a)
		}
	}
	return r
}

// File replays the capture at path through eng, calling out for each alert.
func File(path string, eng *engine.Engine, opts Options, out func(*output.Alert)) (Stats, error) {
	cr, err := capture.Open(path, opts.Capture)
	if err != nil {
		return Stats{}, err
	}
	defer func() { _ = cr.Close() }() // read-only: nothing to lose
	st, err := New(eng, opts).Run(cr, out)
	if err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// Replay replays a capture read from src (plain or gzip-compressed).
func Replay(src io.Reader, eng *engine.Engine, opts Options, out func(*output.Alert)) (Stats, error) {
	cr, err := capture.NewReader(src, opts.Capture)
	if err != nil {
		return Stats{}, err
	}
	return New(eng, opts).Run(cr, out)
}

// Run reads every event of cr, keeps process state, and calls out with
// each alert, in capture order. Alerts carry the capture's timestamps. A
// damaged capture stops the replay with an error wrapping
// *capture.FormatError; the alerts raised before it stand.
func (r *Replayer) Run(cr *capture.Reader, out func(*output.Alert)) (Stats, error) {
	r.out = out
	r.hostname = r.opts.Hostname
	if r.hostname == "" {
		if cr.HasMachine && cr.Machine.Hostname != "" {
			r.hostname = cr.Machine.Hostname
		} else {
			r.hostname, _ = os.Hostname()
		}
	}
	r.ctx.Hostname = r.hostname
	r.machine.SeedUsers(cr.Users, cr.Groups)
	r.machine.SeedThreads(cr.Threads)

	var err error
	if runtime.GOMAXPROCS(0) > 1 && !r.opts.Sequential {
		err = r.pipelined(cr)
	} else {
		err = r.sequential(cr)
	}
	r.stats.Reader = cr.Stats
	// The events the reader passed over on their header (Pass).
	r.stats.Events += cr.Passed.Events
	if r.opts.AllEvents {
		r.stats.Shown += cr.Passed.Events
	} else {
		r.stats.Shown += cr.Passed.Shown
	}
	r.stats.UnknownThreads = r.machine.UnknownThreads
	r.stats.Pairs = r.pairer.Stats
	r.stats.Pairs.Unpaired += uint64(r.pairer.Pending())
	if errors.Is(err, io.EOF) {
		return r.stats, nil
	}
	return r.stats, err
}

// skip reports whether nothing needs ev (no state change, no rule for
// its type), counting it as the event it would make.
func (r *Replayer) skip(ev *capture.Event, events, shown *uint64) bool {
	if r.interesting[ev.Code] && !r.genericUnneeded(ev) {
		return false
	}
	r.count(ev, events, shown)
	return true
}

// count counts an event nothing needs as the event it would make.
func (r *Replayer) count(ev *capture.Event, events, shown *uint64) {
	if ev.Info.IsExit() || ev.Info.Standalone() {
		*events++
		if r.opts.AllEvents || ev.Shown() {
			*shown++
		}
	}
}

// sequential reads and handles events in this goroutine.
func (r *Replayer) sequential(cr *capture.Reader) error {
	threads, users, groups := len(cr.Threads), len(cr.Users), len(cr.Groups)
	var ev capture.Event
	var sc capture.Syscall
	cr.Pass = &r.interesting
	defer func() { cr.Pass = nil }()
	for {
		if err := cr.Next(&ev); err != nil {
			return err
		}
		if len(cr.Threads) > threads || len(cr.Users) > users || len(cr.Groups) > groups {
			// A later section brought new tables.
			r.machine.SeedUsers(cr.Users[users:], cr.Groups[groups:])
			r.machine.SeedThreads(cr.Threads[threads:])
			threads, users, groups = len(cr.Threads), len(cr.Users), len(cr.Groups)
		}
		if !r.skip(&ev, &r.stats.Events, &r.stats.Shown) && r.pairer.Add(&ev, &sc) {
			r.handle(&sc)
		}
	}
}

// pipelined reads and decodes the capture in a second goroutine, which
// passes on the events something needs; this one keeps state and runs the
// rules.
func (r *Replayer) pipelined(cr *capture.Reader) error {
	full := make(chan *batch, 4)
	empty := make(chan *batch, 5)
	go r.read(cr, full, empty)
	var sc capture.Syscall
	var err error
	for b := range full {
		if b.threads != nil || b.users != nil || b.groups != nil {
			// A later section brought new tables.
			r.machine.SeedUsers(b.users, b.groups)
			r.machine.SeedThreads(b.threads)
		}
		r.stats.Events += b.skipped
		r.stats.Shown += b.skippedShown
		for i := range b.n {
			if r.pairer.Add(&b.events[i], &sc) {
				r.handle(&sc)
			}
		}
		if b.err != nil {
			err = b.err
		}
		b.reset()
		select {
		case empty <- b:
		default: // enough spares already
		}
	}
	return err
}

// batchSize is the number of events handed from the reading goroutine
// at a time.
const batchSize = 256

// batch is a run of events from the reading goroutine, with counts of
// the events it passed over and any tables that arrived meanwhile.
type batch struct {
	events       [batchSize]capture.Event
	n            int
	skipped      uint64
	skippedShown uint64
	threads      []*capture.ThreadInfo
	users        []capture.User
	groups       []capture.Group
	err          error // the reader's last word (io.EOF at the end)
}

func (b *batch) reset() {
	b.n, b.skipped, b.skippedShown = 0, 0, 0
	b.threads, b.users, b.groups, b.err = nil, nil, nil, nil
}

// read runs in its own goroutine: it reads every event of cr, counts the
// ones nothing needs and sends the others, copied, in batches.
func (r *Replayer) read(cr *capture.Reader, full chan<- *batch, empty chan *batch) {
	defer close(full)
	threads, users, groups := len(cr.Threads), len(cr.Users), len(cr.Groups)
	b := new(batch)
	var ev capture.Event
	stable := cr.Stable()
	cr.Pass = &r.interesting
	defer func() { cr.Pass = nil }()
	for {
		err := cr.Next(&ev)
		if err != nil {
			b.err = err
			full <- b
			return
		}
		if len(cr.Threads) > threads || len(cr.Users) > users || len(cr.Groups) > groups {
			// Tables arrived before this event: hand over what came
			// before them, then them with copies (the reader may
			// overwrite its entries later).
			if b.n > 0 || b.skipped > 0 {
				full <- b
				b = r.nextBatch(empty)
			}
			for _, t := range cr.Threads[threads:] {
				c := *t
				b.threads = append(b.threads, &c)
			}
			b.users = append([]capture.User(nil), cr.Users[users:]...)
			b.groups = append([]capture.Group(nil), cr.Groups[groups:]...)
			threads, users, groups = len(cr.Threads), len(cr.Users), len(cr.Groups)
		}
		if r.skip(&ev, &b.skipped, &b.skippedShown) {
			continue
		}
		if stable {
			b.events[b.n] = ev // its bytes live in the mapped file
		} else {
			b.events[b.n].CopyFrom(&ev)
		}
		b.n++
		if b.n == batchSize {
			full <- b
			b = r.nextBatch(empty)
		}
	}
}

func (r *Replayer) nextBatch(empty chan *batch) *batch {
	select {
	case b := <-empty:
		return b
	default:
		return new(batch)
	}
}

// genericUnneeded reports whether ev is a generic event of a syscall no
// rule reads (most generic events, in old captures).
func (r *Replayer) genericUnneeded(ev *capture.Event) bool {
	if ev.Code != capture.CodeGenericE && ev.Code != capture.CodeGenericX || r.opts.Observe != nil {
		return false
	}
	id, ok := ev.Uint(0)
	if !ok {
		return false
	}
	t, known := r.machine.GenericType(id)
	return known && !r.needParams[t]
}

// Stats returns the counters of the replay so far.
func (r *Replayer) Stats() Stats { return r.stats }

// handle runs one joined event: state before the rules, the rules, state
// after them.
func (r *Replayer) handle(sc *capture.Syscall) {
	x := sc.Exit
	r.stats.Events++
	shown := r.opts.AllEvents || x.Shown()
	need := shown && (r.opts.Observe != nil || r.eng != nil && r.needParams[r.machine.TypeOf(x.Code)] ||
		r.eng != nil && (x.Code == capture.CodeGenericE || x.Code == capture.CodeGenericX))
	ev, proc := r.machine.Handle(sc, nil, need)
	r.ctx.Evt, r.ctx.Proc = ev, proc
	if shown {
		r.stats.Shown++
		if r.opts.Observe != nil {
			r.opts.Observe(&r.ctx)
		}
		if r.eng != nil {
			r.eng.Match(&r.ctx, r.match)
		}
	}
	r.machine.Done()
}
