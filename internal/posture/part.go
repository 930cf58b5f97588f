package posture

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/truesightsec/truesight/internal/agent"
	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/state"
)

// Part runs the checks of `truesight posture --running` inside
// `truesight run`: on the node and the containers running at start, then
// on each container that appears, and reports every finding through the
// rules (Env.Report). A container's finding is reported once, when first
// seen; it is reported again when what was seen changes (a container
// joins the pid namespace of one that can write its /etc).
type Part struct {
	cfg config.Posture
	env *agent.Env
	// seen holds, by container id, the findings reported (check and
	// message).
	seen map[string]map[string]bool
	// describe bounds the wait for a new container's name and image.
	describe time.Duration
}

// NewPart returns the posture part for truesight.posture.
func NewPart(cfg config.Posture) *Part {
	return &Part{cfg: cfg, seen: map[string]map[string]bool{}, describe: 2 * time.Second}
}

// Name implements agent.Part.
func (p *Part) Name() string { return "posture" }

// Attach implements agent.Part.
func (p *Part) Attach(env *agent.Env) error {
	p.env = env
	return nil
}

// Run implements agent.Part: the node once, the containers at every
// interval.
func (p *Part) Run(ctx context.Context) error {
	hostRoot := "/"
	if p.env.Config != nil {
		hostRoot = filepath.Join("/", p.env.Config.Truesight.Containers.HostRoot)
	}
	procRoot, sysRoot := filepath.Join(hostRoot, "proc"), filepath.Join(hostRoot, "sys")
	self, err := ReadSelf(procRoot)
	if err != nil {
		return err
	}
	for _, f := range CheckNode(ReadNode(sysRoot, procRoot), p.env.Hostname) {
		p.env.Report(f.Event(time.Now().UnixNano()), nil)
	}
	interval := time.Duration(p.cfg.Interval)
	if interval <= 0 {
		interval = 30 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		p.sweep(ctx, procRoot, self)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sweep judges the containers, reports what was not reported before, and
// forgets the containers gone.
func (p *Part) sweep(ctx context.Context, procRoot string, self Self) {
	// New containers' names and images: asked for all at once, waited
	// for together up to p.describe (a runtime that does not answer
	// delays the sweep once, not once per container).
	wctx, cancel := context.WithTimeout(ctx, p.describe)
	defer cancel()
	reg := p.env.Containers
	if reg != nil {
		if procs, err := container.ScanProcs(procRoot); err == nil {
			for id := range procs {
				if p.seen[id] == nil {
					reg.Seen(id)
				}
			}
		}
	}
	lookup := func(id string) *container.Info {
		if reg == nil {
			return nil
		}
		if info := reg.Lookup(id); info != nil || p.seen[id] != nil {
			return info
		}
		return reg.Wait(wctx, id)
	}
	obs, err := ObserveAll(procRoot, lookup)
	if err != nil {
		p.env.Log.Warn("posture: read /proc", "error", err)
		return
	}
	present := make(map[string]bool, len(obs))
	for _, o := range obs {
		present[o.ID] = true
		reported := p.seen[o.ID]
		if reported == nil {
			reported = map[string]bool{}
			p.seen[o.ID] = reported
		}
		var proc *state.Process
		for _, f := range CheckRunning(o, self) {
			key := findingKey(o, &f)
			if reported[key] {
				continue
			}
			reported[key] = true
			if proc == nil {
				proc = processOf(procRoot, o, reg)
			}
			p.env.Report(f.Event(time.Now().UnixNano()), proc)
		}
	}
	for id := range p.seen {
		if !present[id] {
			delete(p.seen, id)
		}
	}
}

// findingKey says what a finding is about, so that it is reported again
// only when that changes: for the shared pid namespace, the ids of the
// containers in it (their names come later, when the runtime answers).
func findingKey(o *Observed, f *Finding) string {
	if f.Check == SharedPIDNamespace || f.Check == AttackPath {
		return f.Check + "\x00" + strings.Join(o.sharesPIDIDs, ",")
	}
	return f.Check + "\x00" + f.Message
}

// processOf describes the container's first process for the proc.* and
// container.* fields of its findings.
func processOf(procRoot string, o *Observed, reg *container.Registry) *state.Process {
	sp := &state.Process{Pid: o.Pid, Tid: o.Pid, ContainerID: o.ID, LoginUID: -1,
		UID: uint32(o.Uid[0]), EUID: uint32(o.Uid[1]), GID: uint32(o.Gid[0]), EGID: uint32(o.Gid[1])}
	dir := filepath.Join(procRoot, strconv.FormatInt(o.Pid, 10))
	if b, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		sp.SetComm(strings.TrimSpace(string(b)))
	}
	if reg != nil {
		if info := reg.Lookup(o.ID); info != nil {
			sp.Container.Store(info)
		}
	}
	return sp
}
