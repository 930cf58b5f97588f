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
// rules (Env.Report). A container is judged once, when first seen.
type Part struct {
	cfg  config.Posture
	env  *agent.Env
	seen map[string]bool
	// describe bounds the wait for a new container's name and image.
	describe time.Duration
}

// NewPart returns the posture part for truesight.posture.
func NewPart(cfg config.Posture) *Part {
	return &Part{cfg: cfg, seen: map[string]bool{}, describe: 2 * time.Second}
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

// sweep judges the containers not seen before and forgets those gone.
func (p *Part) sweep(ctx context.Context, procRoot string, self Self) {
	lookup := func(id string) *container.Info {
		if p.env.Containers == nil {
			return nil
		}
		if info := p.env.Containers.Lookup(id); info != nil || p.seen[id] {
			return info
		}
		wctx, cancel := context.WithTimeout(ctx, p.describe)
		defer cancel()
		return p.env.Containers.Wait(wctx, id)
	}
	obs, err := ObserveAll(procRoot, lookup)
	if err != nil {
		p.env.Log.Warn("posture: read /proc", "error", err)
		return
	}
	present := make(map[string]bool, len(obs))
	for _, o := range obs {
		present[o.ID] = true
		if p.seen[o.ID] {
			continue
		}
		p.seen[o.ID] = true
		proc := processOf(procRoot, o, p.env.Containers)
		for _, f := range CheckRunning(o, self) {
			p.env.Report(f.Event(time.Now().UnixNano()), proc)
		}
	}
	for id := range p.seen {
		if !present[id] {
			delete(p.seen, id)
		}
	}
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
