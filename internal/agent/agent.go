package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"

	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/sensor"
	"github.com/truesightsec/truesight/internal/state"
)

// StateSyscalls are the syscalls process and fd tracking needs whatever
// the rules ask for.
var StateSyscalls = []string{
	"clone", "clone3", "fork", "vfork", "execve", "execveat",
	"close", "dup", "dup2", "dup3", "chdir", "fchdir",
	"setuid", "setgid", "setresuid", "setresgid", "setreuid", "setregid",
	"socket", "connect", "accept", "accept4", "bind",
	"open", "openat", "openat2", "creat", "memfd_create",
}

// Plan is what the sensor must capture for a ruleset.
type Plan struct {
	// Syscalls to enable in the kernel, sorted.
	Syscalls []string
	// Uncapturable are event types some rule needs that no syscall
	// produces (and no process record does), sorted.
	Uncapturable []string
}

// PlanFor derives the sensor's syscall set from the rules' event-type index
// plus what state tracking needs.
func PlanFor(eng *engine.Engine) Plan {
	set := map[string]bool{}
	for _, s := range StateSyscalls {
		set[s] = true
	}
	var missing []string
	for _, t := range eng.Types(event.SourceSyscall) {
		name := t.String()
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
	return p
}

// Counters are the agent loop's running totals.
type Counters struct {
	Records atomic.Uint64 // sensor records read
	Events  atomic.Uint64 // events evaluated
	Alerts  atomic.Uint64
	Errors  atomic.Uint64 // records that failed to decode
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
	// OnEvent, when set, sees every event after evaluation (capture).
	OnEvent func(e *event.Event, p *state.Process)

	Counters Counters
}

// Run reads until ctx is done or the sensor fails.
func (l *Loop) Run(ctx context.Context) error {
	var rec sensor.Record
	c := fields.Ctx{Hostname: l.Hostname}
	emit := func(r *engine.Rule) {
		l.Counters.Alerts.Add(1)
		l.Emit(r.Alert(&c))
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
		e, p := l.Translator.Apply(&rec)
		if e == nil {
			continue
		}
		l.Counters.Events.Add(1)
		c.Evt, c.Proc = e, p
		l.Engine.Load().Match(&c, emit)
		if l.OnEvent != nil {
			l.OnEvent(e, p)
		}
	}
}
