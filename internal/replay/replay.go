package replay

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"unsafe"

	"github.com/truesightsec/truesight/internal/capture"
	"github.com/truesightsec/truesight/internal/container"
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
type Replayer struct {
	eng      *engine.Engine
	opts     Options
	hostname string

	// Table is the process state built from the capture.
	Table *state.Table

	users      map[uint32]capture.User
	groups     map[uint32]string
	containers map[string]*container.Info

	// needParams[t] is set when some rule reads events of type t, which
	// then get their parameters rendered.
	needParams []bool
	// interesting[code] is set for events that change state or that some
	// rule reads; the others are counted and passed over.
	interesting [capture.NumCodes]bool
	typeOf      [capture.NumCodes]event.Type
	// genericType maps the syscall code of a generic event to the event
	// type of that name, when truesight has one (mprotect), else syscall.
	genericType []event.Type
	kindOf      [capture.NumCodes]kind

	pairer    *capture.Pairer
	lazy      lazyParams
	ev        event.Event
	ctx       fields.Ctx
	arena     []byte
	failed    event.FD
	unknownFD event.FD
	stats     Stats
	out       func(*output.Alert)
	match     func(r *engine.Rule)
	lastTid   int64
	lastProc  *state.Process
	// post holds the state change to apply once the rules have seen the
	// event (a close, an exit).
	post postAction
}

// New returns a Replayer that runs events through eng (nil: state only).
func New(eng *engine.Engine, opts Options) *Replayer {
	r := &Replayer{
		eng:        eng,
		opts:       opts,
		Table:      state.NewTable(opts.MaxProcesses),
		users:      map[uint32]capture.User{},
		groups:     map[uint32]string{},
		containers: map[string]*container.Info{},
		needParams: make([]bool, event.NumTypes),
		pairer:     capture.NewPairer(),
	}
	if eng != nil {
		for _, t := range eng.Types(event.SourceSyscall) {
			r.needParams[t] = true
		}
	}
	for code := 0; code < capture.NumCodes; code++ {
		info := capture.Info(uint16(code))
		t, ok := event.TypeByName(info.Name)
		if !ok {
			t, _ = event.TypeByName("syscall")
		}
		r.typeOf[code] = t
		r.kindOf[code] = kindByName[info.Name]
	}
	syscallType, _ := event.TypeByName("syscall")
	for id := 0; id < capture.NumSyscalls; id++ {
		t, ok := event.TypeByName(capture.SyscallName(uint16(id)))
		if !ok {
			t = syscallType
		}
		r.genericType = append(r.genericType, t)
	}
	genericNeeded := false
	for _, t := range r.genericType {
		genericNeeded = genericNeeded || r.needParams[t]
	}
	for code := 0; code < capture.NumCodes; code++ {
		r.interesting[code] = opts.Observe != nil || r.kindOf[code] != kNone || r.needParams[r.typeOf[code]] ||
			genericNeeded && (uint16(code) == capture.CodeGenericE || uint16(code) == capture.CodeGenericX)
	}
	r.ctx.Evt = &r.ev
	r.lazy.r = r
	r.ctx.Containers = r.container
	r.match = func(rule *engine.Rule) {
		a := rule.Alert(&r.ctx)
		detach(a)
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
	r.seedUsers(cr.Users, cr.Groups)
	r.seedThreads(cr.Threads)

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
			r.seedUsers(cr.Users[users:], cr.Groups[groups:])
			r.seedThreads(cr.Threads[threads:])
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
			r.seedUsers(b.users, b.groups)
			r.seedThreads(b.threads)
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
	return ok && int(id) < len(r.genericType) && !r.needParams[r.genericType[id]]
}

// Stats returns the counters of the replay so far.
func (r *Replayer) Stats() Stats { return r.stats }

// handle runs one joined event: state before the rules, the rules, state
// after them.
func (r *Replayer) handle(sc *capture.Syscall) {
	x := sc.Exit
	r.stats.Events++
	ev := &r.ev
	// Set every field rather than Reset: this runs for every event.
	ev.NParams, ev.FD, ev.Finding, ev.Loader = 0, nil, nil, nil
	ev.Paths = [2]string{}
	ev.Res, ev.HasRes = 0, false
	r.arena = r.arena[:0]
	ev.Num = x.Num
	ev.Time = x.Time
	ev.Type = r.typeOf[x.Code]
	ev.Source = event.SourceSyscall
	ev.CPU = x.CPU
	ev.Tid = x.Tid
	if x.Info.IsExit() && x.NParams > 0 {
		switch p := x.Info.Params[0]; {
		case p.Type == capture.ParamErrno, p.Type == capture.ParamFD, p.Type == capture.ParamPID,
			p.Type == capture.ParamFD32, p.Type == capture.ParamPID32, p.Name == "res":
			ev.Res, ev.HasRes = x.Int(0)
		}
	}
	if x.Code == capture.CodeGenericE || x.Code == capture.CodeGenericX {
		if id, ok := x.Uint(0); ok && int(id) < len(r.genericType) {
			ev.Type = r.genericType[id]
		}
	}
	proc := r.apply(sc)
	if proc != nil {
		ev.Pid = proc.Pid
	} else {
		ev.Pid = x.Tid
	}
	r.ctx.Proc = proc
	if r.opts.AllEvents || x.Shown() {
		r.stats.Shown++
		if r.opts.Observe != nil || r.eng != nil && r.needParams[ev.Type] {
			// Most events fail every rule before a parameter's text is
			// read: render them on first use.
			r.lazy.sc = sc
			ev.Loader = &r.lazy
			r.paths(sc, proc)
		}
		if r.opts.Observe != nil {
			r.opts.Observe(&r.ctx)
		}
		if r.eng != nil {
			if fd := ev.FD; fd != nil && fd.TargetContainer == "" && proc != nil && fd.Type == event.FDFile {
				// A capture does not record which mount namespace holds a
				// file: it is taken to live in the process's own root, as
				// Falco assumes.
				fd.TargetContainer = proc.ContainerID
				if fd.TargetContainer == "" {
					fd.TargetContainer = container.HostID
				}
			}
			r.eng.Match(&r.ctx, r.match)
		}
	}
	ev.Loader = nil
	r.afterRules()
}

// lazyParams renders the parameters of the syscall being handled when a
// rule or output first reads one.
type lazyParams struct {
	r  *Replayer
	sc *capture.Syscall
}

func (l *lazyParams) LoadParams(*event.Event) { l.r.params(l.sc) }

func (l *lazyParams) ParamNum(name string) (int64, bool) {
	e, i := l.sc.Param(name)
	if e == nil {
		return 0, false
	}
	return e.ParamNum(i)
}

// params renders the event's parameters into ev. Text lives in the arena,
// reset for every event: nothing may keep it past the event (alerts are
// detached before they leave).
func (r *Replayer) params(sc *capture.Syscall) {
	ev := &r.ev
	total := 0
	sc.Each(func(*capture.Event, int, capture.ParamInfo) bool { total++; return true })
	if total <= event.MaxParams {
		sc.Each(func(e *capture.Event, i int, p capture.ParamInfo) bool {
			r.addParam(e, i, p.Name)
			return true
		})
		return
	}
	// Too many to keep all: the ones rules and outputs use come first.
	for _, name := range preferredParams {
		if e, i := sc.Param(name); e != nil {
			r.addParam(e, i, name)
		}
	}
	sc.Each(func(e *capture.Event, i int, p capture.ParamInfo) bool {
		if ev.NParams >= event.MaxParams {
			return false
		}
		if _, dup := ev.Param(p.Name); !dup {
			r.addParam(e, i, p.Name)
		}
		return true
	})
}

// preferredParams are kept first when an event has more parameters than
// an event.Event holds (execve has 30).
var preferredParams = []string{"res", "fd", "exe", "args", "flags", "filename", "trusted_exepath",
	"cwd", "comm", "tid", "pid", "ptid", "uid", "gid", "loginuid", "name", "path"}

func (r *Replayer) addParam(e *capture.Event, i int, name string) {
	start := len(r.arena)
	var n int64
	r.arena, n = e.AppendParam(r.arena, i)
	text := r.arena[start:]
	s := unsafe.String(unsafe.SliceData(text), len(text))
	switch e.Info.Params[i].Type {
	case capture.ParamByteBuf:
		r.ev.AddParam(name, s, n)
		if p, ok := r.ev.ParamAt(r.ev.NParams - 1); ok && p.Name == name {
			raw := e.Param(i)
			start := len(r.arena)
			r.arena = append(r.arena, raw...)
			p.Raw = unsafe.String(unsafe.SliceData(r.arena[start:]), len(raw))
		}
	case capture.ParamFlags8, capture.ParamFlags16, capture.ParamFlags32, capture.ParamEnumFlags8,
		capture.ParamEnumFlags16, capture.ParamEnumFlags32, capture.ParamSigType, capture.ParamMode:
		// Names of a number: evt.args prints num(NAMES), as Falco does.
		r.ev.AddSym(name, s, n)
	case capture.ParamErrno:
		if n < 0 && (len(s) == 0 || s[0] != '-') {
			r.ev.AddSym(name, s, n) // -2(ENOENT)
		} else {
			r.ev.AddParam(name, s, n)
		}
	default:
		r.ev.AddParam(name, s, n)
	}
}

// paths sets the kernel-resolved forms of the event's path parameters
// (ev.Paths), as the live sensor reports them: the source or only path in
// the first slot, the target of a rename, link or symlink in the second;
// relative paths against the directory fd that precedes them, or the cwd.
func (r *Replayer) paths(sc *capture.Syscall, p *state.Process) {
	if p == nil {
		return
	}
	dirfd := int64(atFDCWD)
	sc.Each(func(e *capture.Event, i int, pi capture.ParamInfo) bool {
		switch pi.Type {
		case capture.ParamFD, capture.ParamFD32:
			if pi.Name != "fd" && pi.Name != "res" {
				dirfd, _ = e.Int(i)
			}
		case capture.ParamFSPath, capture.ParamFSRelPath:
			d := int64(atFDCWD)
			if pi.Type == capture.ParamFSRelPath {
				d = dirfd
			}
			slot := 0
			if pi.Name == "newpath" || pi.Name == "linkpath" {
				slot = 1
			}
			if r.ev.Paths[slot] == "" {
				r.ev.Paths[slot] = resolvePath(p, d, e.String(i))
			}
		}
		return true
	})
}

// detach copies an alert's strings out of the event's arena.
func detach(a *output.Alert) {
	a.Message = strings.Clone(a.Message)
	for k, v := range a.Fields {
		if s, ok := v.(string); ok {
			a.Fields[k] = strings.Clone(s)
		}
	}
}

func (r *Replayer) container(id string) *container.Info {
	if c := r.containers[id]; c != nil {
		return c
	}
	return r.containers[container.ShortID(id)]
}
