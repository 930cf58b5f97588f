package agent

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/scan"
	"github.com/truesightsec/truesight/internal/sensor"
	"github.com/truesightsec/truesight/internal/state"
	"github.com/truesightsec/truesight/internal/web"
)

// A Part runs beside the event loop inside `truesight run`: a detector
// (file integrity, enforcement, posture) that reports findings, or a
// reader of the agent's state (the console). Attach is called by New,
// before anything runs, to take what the part needs from the Env
// (register web handlers, alert observers); an error stops New. Run is
// called once by Run in a goroutine of its own and must return soon after
// ctx ends; an error is logged and does not stop the agent.
type Part interface {
	Name() string
	Attach(env *Env) error
	Run(ctx context.Context) error
}

// SyscallsPart is a Part that needs the sensor to capture syscalls
// whatever the rules ask for (e.g. renames, for OnNameChange).
type SyscallsPart interface {
	Part
	Syscalls() []string
}

// Env is what the agent offers its parts. Everything in it is safe for
// concurrent use.
type Env struct {
	Log      *slog.Logger
	Config   *config.Config
	Hostname string
	// Containers describes containers by id (name, image, pod, root).
	Containers *container.Registry
	// Sensor is the kernel sensor: its task views and statistics.
	Sensor  *sensor.Sensor
	Metrics *web.Metrics

	a *Agent
}

// Report judges a finding (an event of source truesight, with the
// process it is about; p may be nil for a finding about no process) with
// the loaded rules and emits an alert for each rule that matches. Every
// finding observer sees it first. Report may be called from any goroutine.
func (e *Env) Report(ev *event.Event, p *state.Process) { e.a.report(ev, p) }

// OnAlert adds an observer of every alert the agent emits, from any
// source. fn is called from the emitting goroutine and must not block.
func (e *Env) OnAlert(fn func(*output.Alert)) {
	e.a.obs.Lock()
	defer e.a.obs.Unlock()
	e.a.obs.alertObs = append(e.a.obs.alertObs, fn)
}

// OnFinding adds an observer of every finding reported, whether or not
// a rule alerts on it (the scan's included). fn must not block.
func (e *Env) OnFinding(fn func(ev *event.Event, p *state.Process)) {
	e.a.obs.Lock()
	defer e.a.obs.Unlock()
	e.a.obs.findingObs = append(e.a.obs.findingObs, fn)
}

// OnNameChange adds an observer of every successful rename, link,
// symlink and unlink (of any syscall flavour) the sensor sees, after the
// syscall returned: e.Paths holds its paths. fn is called from the event
// loop, must not block and must copy what it keeps (the event is reused).
func (e *Env) OnNameChange(fn func(ev *event.Event, p *state.Process)) {
	e.a.obs.Lock()
	defer e.a.obs.Unlock()
	e.a.obs.nameObs = append(e.a.obs.nameObs, fn)
}

// Handle serves h at pattern (a net/http ServeMux pattern, e.g.
// "GET /ui/") on the agent's web server. It reports false when the web
// server is disabled or did not start.
func (e *Env) Handle(pattern string, h http.Handler) bool {
	if e.a.server == nil {
		return false
	}
	e.a.server.Handle(pattern, h)
	return true
}

// Engine is the engine judging events now (it changes on reload).
func (e *Env) Engine() *engine.Engine { return e.a.loop.Engine.Load() }

// ScanStatus describes the last scan for hidden processes and preload
// injection that `truesight run` made.
type ScanStatus struct {
	Time     time.Time // when it ended
	Duration time.Duration
	Findings int    // confirmed findings
	New      int    // of them, new since the scan before
	Err      string // why it failed; "" when it ran
}

// LastScan is the last scan's status; ok is false before the first scan
// ends or when the periodic scan is off.
func (e *Env) LastScan() (st ScanStatus, ok bool) {
	if p := e.a.lastScan.Load(); p != nil {
		return *p, true
	}
	return ScanStatus{}, false
}

// scanned keeps the status of a scan for LastScan.
func (a *Agent) scanned(rep *scan.Report, err error) {
	st := &ScanStatus{Time: time.Now()}
	if err != nil {
		st.Err = err.Error()
	} else if rep != nil {
		st.Duration, st.Findings, st.New = rep.Stats.Duration, len(rep.Findings), len(rep.New)
	}
	a.lastScan.Store(st)
}

// observers holds the parts' observers.
type observers struct {
	sync.Mutex
	alertObs   []func(*output.Alert)
	findingObs []func(*event.Event, *state.Process)
	nameObs    []func(*event.Event, *state.Process)
}

// nameChanged passes a rename, link or unlink to the OnNameChange
// observers.
func (a *Agent) nameChanged(ev *event.Event, p *state.Process) {
	a.obs.Lock()
	obs := a.obs.nameObs
	a.obs.Unlock()
	for _, fn := range obs {
		fn(ev, p)
	}
}

// report is Env.Report and the scan's path to the rules.
func (a *Agent) report(ev *event.Event, p *state.Process) {
	a.obs.Lock()
	fobs := a.obs.findingObs
	a.obs.Unlock()
	for _, fn := range fobs {
		fn(ev, p)
	}
	c := &fields.Ctx{Evt: ev, Proc: p, Hostname: a.host, Containers: a.reg.Lookup}
	a.loop.Engine.Load().Match(c, func(r *engine.Rule) {
		a.loop.Counters.Alerts.Add(1)
		a.emit(r.Alert(c))
	})
}
