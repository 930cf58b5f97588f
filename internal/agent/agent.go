package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/sensor"
	"github.com/truesightsec/truesight/internal/state"
	"github.com/truesightsec/truesight/internal/web"
)

// StateSyscalls are the syscalls process and fd tracking needs whatever
// the rules ask for.
var StateSyscalls = []string{
	"clone", "clone3", "fork", "vfork", "execve", "execveat",
	"close", "dup", "dup2", "dup3", "chdir", "fchdir",
	"setuid", "setgid", "setresuid", "setresgid", "setreuid", "setregid", "setsid",
	"socket", "connect", "accept", "accept4", "bind", "pipe", "pipe2", "socketpair",
	"open", "openat", "openat2", "creat", "memfd_create",
}

// Plan is what the sensor must capture for a ruleset.
type Plan struct {
	// Syscalls to enable in the kernel, sorted.
	Syscalls []string
	// Uncapturable are event types some rule needs that no syscall
	// produces (and no process record does), sorted.
	Uncapturable []string
	// Data says a rule or output reads I/O data (evt.buffer, the data
	// argument): the sensor must copy it.
	Data bool
	// SkipReadOnly says no rule can see a read-only open of a regular
	// file: the sensor leaves them, and their closes, in the kernel
	// (unless events are passed on, as capture does).
	SkipReadOnly bool
}

// PlanFor derives the sensor's syscall set from the rules' event-type index
// plus what state tracking needs.
func PlanFor(eng *engine.Engine) Plan {
	set := map[string]bool{}
	for _, s := range StateSyscalls {
		set[s] = true
	}
	var missing []string
	for _, t := range eng.CaptureTypes(event.SourceSyscall) {
		name := t.String()
		for sys, ev := range eventOfSyscall {
			if ev == name {
				name = sys
			}
		}
		if _, ok := sensor.SyscallNumber(name); ok {
			set[name] = true
			continue
		}
		if name == "procexit" {
			continue // from sched_process_exit
		}
		missing = append(missing, name)
	}
	var p Plan
	for s := range set {
		p.Syscalls = append(p.Syscalls, s)
	}
	sort.Strings(p.Syscalls)
	sort.Strings(missing)
	p.Uncapturable = missing
	p.Data = eng.ReadsIOData()
	p.SkipReadOnly = readOnlyFilesUnused(eng)
	return p
}

// Counters are the agent loop's running totals.
type Counters struct {
	Records atomic.Uint64 // sensor records read
	Events  atomic.Uint64 // events evaluated
	Alerts  atomic.Uint64
	Errors  atomic.Uint64 // records that failed to decode
	Panics  atomic.Uint64 // records whose processing panicked (a bug; logged)
}

// Loop runs events from a sensor through an engine.
type Loop struct {
	Sensor     *sensor.Sensor
	Translator *Translator
	Hostname   string
	// Engine is swapped atomically on reload.
	Engine atomic.Pointer[engine.Engine]
	// Emit receives every alert; it must not block for long.
	Emit func(a *output.Alert)
	// Containers, when set, supplies container metadata to fields.
	Containers *container.Registry
	// LoaderConfigWritten, when set, is called (from the loop; it must not
	// block) after a successful write, rename, link, unlink or truncate of
	// the dynamic loader's configuration: /etc/ld.so.preload, ld.so.conf and
	// ld.so.conf.d, in any root.
	LoaderConfigWritten func()
	// NameChanged, when set, is called (from the loop; it must not block)
	// after every successful rename, link, symlink or unlink.
	NameChanged func(e *event.Event, p *state.Process)
	// Metrics, when set, counts events by type.
	Metrics *web.Metrics
	// OnEvent, when set, sees every event after evaluation (capture).
	OnEvent func(e *event.Event, p *state.Process)

	Counters Counters

	needsOf *engine.Engine // the engine Translator.Needs was made for
}

// metadataWait bounds how long the loop waits for the runtime to describe
// a container it has never described, at that container's first event:
// rules on container.privileged or the image, and the alerts of a container
// that runs one short command, need it at once. Each container id is waited
// for at most once, so a runtime that is down costs one wait per container,
// not one per event; the runtime usually answers within 10 ms, and the
// wait ends as soon as it does.
const metadataWait = 500 * time.Millisecond

func (l *Loop) awaitMetadata(ctx context.Context, c *fields.Ctx, waited map[string]bool) {
	if l.Containers == nil || c.Proc == nil {
		return
	}
	for _, id := range [2]string{c.Proc.ContainerID, fdContainer(c)} {
		if id == "" || id == container.HostID || waited[id] {
			continue
		}
		if len(waited) > 4096 {
			clear(waited)
		}
		waited[id] = true
		wctx, cancel := context.WithTimeout(ctx, metadataWait)
		l.Containers.Wait(wctx, id)
		cancel()
	}
}

func fdContainer(c *fields.Ctx) string {
	if c.Evt.FD == nil {
		return ""
	}
	return c.Evt.FD.TargetContainer
}

// Run reads until ctx is done or the sensor fails.
func (l *Loop) Run(ctx context.Context) error {
	var rec sensor.Record
	c := fields.Ctx{Hostname: l.Hostname}
	if l.Containers != nil {
		c.Containers = l.Containers.Lookup
	}
	waited := map[string]bool{}
	// One counter per event type, looked up once.
	var byType []prometheus.Counter
	if l.Metrics != nil {
		byType = make([]prometheus.Counter, event.NumTypes)
	}
	emit := func(r *engine.Rule) {
		l.Counters.Alerts.Add(1)
		a := r.Alert(&c)
		a.Detach() // its text may point into the event's parameter arena
		l.Emit(a)
	}
	for {
		if err := l.Sensor.Read(ctx, &rec); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, sensor.ErrMalformed) {
				l.Counters.Errors.Add(1)
				continue
			}
			return fmt.Errorf("agent: %w", err)
		}
		l.Counters.Records.Add(1)
		l.process(ctx, &rec, &c, waited, byType, emit)
	}
}

// process handles one record. A panic here is a bug in truesight; it is
// counted and logged with its stack once, and the agent keeps watching
// instead of going blind.
func (l *Loop) process(ctx context.Context, rec *sensor.Record, c *fields.Ctx, waited map[string]bool, byType []prometheus.Counter, emit func(*engine.Rule)) {
	defer func() {
		if r := recover(); r != nil {
			if l.Counters.Panics.Add(1) == 1 {
				fmt.Fprintf(os.Stderr, "truesight: bug: panic while handling a %s record (further ones are only counted): %v\n%s\n",
					rec.Kind, r, debug.Stack())
			}
		}
	}()
	if eng := l.Engine.Load(); eng != l.needsOf {
		l.needsOf = eng
		l.Translator.Needs = l.needs(eng)
		l.filterReadOnly(eng)
	}
	e, p := l.Translator.Apply(rec)
	if e == nil {
		return
	}
	defer l.Translator.Done()
	if p != nil && p.Own {
		return
	}
	l.Counters.Events.Add(1)
	if byType != nil && int(e.Type) < len(byType) {
		if byType[e.Type] == nil {
			byType[e.Type] = l.Metrics.EventCounter(e.Type.String())
		}
		byType[e.Type].Inc()
	}
	if l.LoaderConfigWritten != nil && touchesLoaderConfig(e) {
		l.LoaderConfigWritten()
	}
	if l.NameChanged != nil && nameChangers[e.Type] && e.HasRes && e.Res >= 0 {
		l.NameChanged(e, p)
	}
	c.Evt, c.Proc = e, p
	l.awaitMetadata(ctx, c, waited)
	l.Engine.Load().Match(c, emit)
	if l.OnEvent != nil {
		l.OnEvent(e, p)
	}
}

// needs lists the event types whose parameters something reads: the
// engine's rules, the loader-configuration kick; all when events are
// passed on (capture and its filter).
func (l *Loop) needs(eng *engine.Engine) []bool {
	if l.OnEvent != nil || eng == nil {
		return nil
	}
	n := make([]bool, event.NumTypes)
	for _, t := range eng.Types(event.SourceSyscall) {
		n[t] = true
	}
	if l.NameChanged != nil {
		for t := range nameChangers {
			n[t] = true
		}
	}
	if l.LoaderConfigWritten != nil {
		for t := range loaderConfigChangers {
			n[t] = true
		}
		for t := range openTypes {
			n[t] = true
		}
	}
	return n
}

// Reload builds a new engine with load and swaps it in atomically. When
// load fails the running engine stays in place and the error is returned:
// a broken rules file never leaves the agent without rules.
func (l *Loop) Reload(load func() (*engine.Engine, error)) error {
	next, err := load()
	if err != nil {
		return err
	}
	if next == nil {
		return errors.New("rules reload produced no engine")
	}
	l.Engine.Store(next)
	return nil
}

// loaderConfigChangers are the event types that can change a file's content
// or name without an open for writing.
var loaderConfigChangers = func() map[event.Type]bool {
	m := map[event.Type]bool{}
	for _, n := range []string{"rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat", "unlink", "unlinkat", "truncate", "ftruncate"} {
		m[event.MustType(n)] = true
	}
	return m
}()

// nameChangers are the event types that put a file under a name or take
// it away without an open: what a permission check on open cannot stop.
var nameChangers = func() map[event.Type]bool {
	m := map[event.Type]bool{}
	for _, n := range NameChangeSyscalls {
		m[event.MustType(n)] = true
	}
	return m
}()

// NameChangeSyscalls are the syscalls OnNameChange observers see.
var NameChangeSyscalls = []string{"rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat", "unlink", "unlinkat"}

var openTypes = map[event.Type]bool{event.MustType("open"): true, event.MustType("openat"): true, event.MustType("openat2"): true, event.MustType("creat"): true}

// touchesLoaderConfig reports whether a successful event wrote, replaced or
// removed the loader's preload file or search-path configuration.
func touchesLoaderConfig(e *event.Event) bool {
	if !e.HasRes || e.Res < 0 {
		return false
	}
	switch {
	case openTypes[e.Type]:
		if e.FD == nil || e.FD.Flags&3 == 0 && e.Type != event.MustType("creat") {
			// The number alone: rendering every parameter of every
			// read-only open would cost more than the rules do.
			if f, ok := e.ParamNum("flags"); !ok || f&3 == 0 {
				return false
			}
		}
		return e.FD != nil && isLoaderConfig(e.FD.Name)
	case loaderConfigChangers[e.Type]:
		return isLoaderConfig(e.Paths[0]) || isLoaderConfig(e.Paths[1]) ||
			(e.FD != nil && isLoaderConfig(e.FD.Name))
	}
	return false
}

func isLoaderConfig(path string) bool {
	return path == "/etc/ld.so.preload" || path == "/etc/ld.so.conf" || strings.HasPrefix(path, "/etc/ld.so.conf.d/")
}
