package capture

// Syscall is one event as truesight models events: emitted once, at the
// exit of a syscall, with every parameter. In the old capture layout a
// syscall is two blocks, enter and exit; Enter holds the enter block whose
// parameters the exit lacks (open's path and flags before libs 0.10).
// Events that have no exit half (procexit, context switches, container
// records) come alone in Exit.
type Syscall struct {
	Exit  *Event
	Enter *Event // nil when the capture has no enter half for this event
}

// Info describes the event.
func (s *Syscall) Info() *EventInfo { return s.Exit.Info }

// Param finds a parameter by name, first in the exit half, then in the
// enter half, and returns the event holding it and its index there.
func (s *Syscall) Param(name string) (*Event, int) {
	if i := s.Exit.Info.ParamIndex(name); i >= 0 && i < s.Exit.NParams {
		return s.Exit, i
	}
	if s.Enter != nil {
		if i := s.Enter.Info.ParamIndex(name); i >= 0 && i < s.Enter.NParams {
			return s.Enter, i
		}
	}
	return nil, -1
}

// Each calls fn for every parameter: those of the exit half in order, then
// those of the enter half the exit half does not have.
func (s *Syscall) Each(fn func(ev *Event, i int, p ParamInfo) bool) {
	x := s.Exit
	for i := 0; i < x.NParams && i < len(x.Info.Params); i++ {
		if !fn(x, i, x.Info.Params[i]) {
			return
		}
	}
	n := s.Enter
	if n == nil {
		return
	}
	for i := 0; i < n.NParams && i < len(n.Info.Params); i++ {
		p := n.Info.Params[i]
		if j := x.Info.ParamIndex(p.Name); j >= 0 && j < x.NParams {
			continue
		}
		if !fn(n, i, p) {
			return
		}
	}
}

// PairStats counts what pairing met.
type PairStats struct {
	// Unpaired counts enter events dropped without their exit: a thread
	// that exited inside the syscall, or the end of the capture.
	Unpaired uint64
	// Lone counts exit events whose enter half was not in the capture.
	Lone uint64
}

// Pairer joins enter and exit blocks of the same thread into Syscalls.
type Pairer struct {
	pending map[int64]*Event
	free    []*Event
	// lent is the enter half handed out by the last call; it returns to
	// the pool on the next one.
	lent  *Event
	Stats PairStats
}

// NewPairer returns an empty Pairer.
func NewPairer() *Pairer { return &Pairer{pending: map[int64]*Event{}} }

// Add takes the next event of the capture, in file order. It returns true
// with the completed syscall in out when ev finishes one; an enter event
// is kept until its exit arrives. out's events are valid until the next
// call to Add or to the reader's Next.
func (p *Pairer) Add(ev *Event, out *Syscall) bool {
	if p.lent != nil {
		p.free = append(p.free, p.lent)
		p.lent = nil
	}
	code := ev.Code
	if !ev.Info.IsExit() {
		if ev.Info.Standalone() {
			*out = Syscall{Exit: ev}
			return true
		}
		if old := p.pending[ev.Tid]; old != nil {
			p.Stats.Unpaired++
			p.free = append(p.free, old)
		}
		var keep *Event
		if n := len(p.free); n > 0 {
			keep = p.free[n-1]
			p.free = p.free[:n-1]
		} else {
			keep = new(Event)
		}
		keep.CopyFrom(ev)
		p.pending[ev.Tid] = keep
		return false
	}
	*out = Syscall{Exit: ev}
	if enter := p.pending[ev.Tid]; enter != nil {
		delete(p.pending, ev.Tid)
		p.lent = enter
		if enter.Code+1 == code {
			out.Enter = enter
		} else {
			p.Stats.Unpaired++
			p.Stats.Lone++
		}
		return true
	}
	p.Stats.Lone++
	return true
}

// Forget drops a thread's pending enter event (the thread exited).
func (p *Pairer) Forget(tid int64) {
	if old := p.pending[tid]; old != nil {
		delete(p.pending, tid)
		p.Stats.Unpaired++
		p.free = append(p.free, old)
	}
}

// Pending returns the number of enter events waiting for their exit.
func (p *Pairer) Pending() int { return len(p.pending) }
