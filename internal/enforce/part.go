package enforce

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/truesightsec/truesight/internal/agent"
	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/node"
	"github.com/truesightsec/truesight/internal/state"
)

// Kind is finding.kind (and evt.type) of protection's findings.
const Kind = "enforce"

// Part runs protection inside `truesight run`: it marks each protected
// container's root filesystem as the registry describes it (those already
// running included), answers the permission events, undoes renames and
// links the sensor reports, and reports every block as a finding.
type Part struct {
	cfg      config.Enforce
	hostRoot node.Root
	env      *agent.Env
	guard    *Guard

	mu      sync.Mutex
	queue   []observed // containers to protect or forget, in order
	wake    chan struct{}
	started time.Time
}

// observed is one observation of the registry.
type observed struct {
	info   *container.Info
	exited bool
}

// NewPart builds the part from a validated configuration; hostRoot is
// truesight.containers.host_root.
func NewPart(cfg config.Enforce, hostRoot string) *Part {
	return &Part{cfg: cfg, hostRoot: node.Root(hostRoot), wake: make(chan struct{}, 1)}
}

// Name implements agent.Part.
func (p *Part) Name() string { return "enforce" }

// Syscalls are the renames, links and unlinks the sensor must report.
func (p *Part) Syscalls() []string { return agent.NameChangeSyscalls }

// Attach creates the fanotify group and subscribes to containers and
// renames.
func (p *Part) Attach(env *agent.Env) error {
	p.env = env
	g, err := New(NewPolicy(p.cfg), Options{ProcRoot: p.hostRoot.Path("/proc"), Deadline: time.Duration(p.cfg.AnswerDeadline), Report: p.report})
	if err != nil {
		return err
	}
	p.guard = g
	env.Containers.Observe(func(info *container.Info, exited bool) {
		p.mu.Lock()
		p.queue = append(p.queue, observed{info, exited})
		p.mu.Unlock()
		select {
		case p.wake <- struct{}{}:
		default:
		}
	})
	env.OnNameChange(func(ev *event.Event, _ *state.Process) {
		if g.Relevant(ev.Paths) {
			g.Changed(Change{Paths: ev.Paths, Pid: int(ev.Pid), Syscall: ev.Type.String(), Time: time.Unix(0, ev.Time)})
		}
	})
	return nil
}

// Guard is the part's guard (its counters and roots), nil before Attach.
func (p *Part) Guard() *Guard { return p.guard }

// Run protects until ctx ends. When it returns the group is closed and
// the kernel allows every open (fail-open); the state file is removed.
func (p *Part) Run(ctx context.Context) error {
	p.started = time.Now()
	p.checkLapse()
	done := make(chan error, 1)
	go func() { done <- p.guard.Run(ctx) }()
	if p.guard.Policy().Host() {
		r := Root{ID: container.HostID, Dir: p.hostRoot.Path("/"), Name: "host"}
		if err := p.guard.Protect(r); err != nil {
			p.env.Log.Error("enforce: the host's root is not protected", "error", err)
		}
	}
	// Containers described before the part subscribed (and those running
	// when the agent started) are protected too.
	for _, info := range p.env.Containers.Containers() {
		if !p.env.Containers.Exited(info.FullID) {
			p.protect(info)
		}
	}
	p.writeState()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			err := <-done
			p.removeState()
			return err
		case err := <-done:
			// The group failed: the kernel allows every open from now on.
			p.report(&Block{Action: ActionLapsed, Time: time.Now(), Reason: fmt.Sprintf("protection stopped: %v", err)})
			p.removeState()
			return err
		case <-p.wake:
			p.mu.Lock()
			q := p.queue
			p.queue = nil
			p.mu.Unlock()
			for _, o := range q {
				if o.exited {
					p.guard.Forget(o.info.FullID)
					continue
				}
				p.protect(o.info)
			}
			p.writeState()
		case <-tick.C:
			p.writeState()
		}
	}
}

// protect marks a running container the policy selects.
func (p *Part) protect(info *container.Info) {
	if info.Pid <= 0 || !p.guard.Policy().Selects(info) {
		return
	}
	r := Root{ID: info.FullID, Dir: p.hostRoot.Path("/proc/" + strconv.FormatInt(info.Pid, 10) + "/root"), Name: info.Name}
	if info.RootPath != "" {
		r.Prefixes = []string{info.RootPath}
	}
	if err := p.guard.Protect(r); err != nil {
		p.env.Log.Warn("enforce: container not protected", "container", info.Name, "id", info.ID, "error", err)
		return
	}
}

// report turns a block into a finding for the rules.
func (p *Part) report(b *Block) {
	mode := config.EnforceDetect
	if p.guard != nil && p.guard.Policy().Enforce {
		mode = config.EnforceEnforce
	}
	ev, proc := b.Event(mode)
	if proc != nil && proc.ContainerID != "" {
		if info := p.env.Containers.Lookup(proc.ContainerID); info != nil {
			proc.Container.Store(info)
		}
	}
	p.env.Report(ev, proc)
}

// Event is the block as an event of source truesight with the writing
// process (nil for a block about no process).
func (b *Block) Event(mode string) (*event.Event, *state.Process) {
	d := map[string]string{"action": string(b.Action), "mode": mode}
	set := func(k, v string) {
		if v != "" {
			d[k] = v
		}
	}
	set("path", b.Path)
	set("policy", b.Policy)
	set("syscall", b.Syscall)
	set("target_container", container.ShortID(b.Root.ID))
	if b.Root.ID == container.HostID {
		set("target_container", container.HostID)
	}
	set("target_name", b.Root.Name)
	if b.Flags != 0 {
		set("flags", "0x"+strconv.FormatUint(b.Flags, 16))
	}
	if b.Action == ActionRestored || b.Action == ActionFailed {
		d["killed"] = strconv.FormatBool(b.Killed)
	}
	if b.Window > 0 {
		d["window"] = b.Window.String()
	}
	ev := &event.Event{Time: b.Time.UnixNano(), Type: event.MustType(Kind), Source: event.SourceTruesight,
		Finding: &event.Finding{Kind: Kind, Summary: b.Reason, Root: b.Root.Dir, Detail: d, FirstSeen: b.Time.UnixNano()}}
	if b.Writer.Pid == 0 {
		return ev, nil
	}
	w := b.Writer
	ev.Pid, ev.Tid = int64(w.Pid), int64(w.Tid)
	proc := &state.Process{Pid: int64(w.Pid), Tid: int64(w.Pid), LoginUID: -1, ContainerID: w.ContainerID, ExePath: w.Exe}
	proc.SetComm(w.Comm)
	if len(w.Cmdline) > 0 {
		proc.SetArgs(w.Cmdline[0], w.Cmdline[1:])
	}
	return ev, proc
}

// stateFile is what the state file holds: who protects what, for the next
// start and `truesight enforce status`.
type stateFile struct {
	Pid      int       `json:"pid"`
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
	Mode     string    `json:"mode"`
	Roots    []Root    `json:"roots"`
	Counters struct {
		Events, Protected, Reads, Denied, Alerted, Allowed, Errors, Timeouts, Restored, Killed uint64
	} `json:"counters"`
}

// Status is the content of a state file: `truesight enforce status`.
type Status = stateFile

func (p *Part) writeState() {
	if p.cfg.StateFile == "" {
		return
	}
	st := stateFile{Pid: os.Getpid(), Started: p.started, Updated: time.Now(), Mode: p.cfg.Mode, Roots: p.guard.Roots()}
	c := &p.guard.Counters
	k := &st.Counters
	k.Events, k.Protected, k.Reads, k.Denied = c.Events.Load(), c.Protected.Load(), c.Reads.Load(), c.Denied.Load()
	k.Alerted, k.Allowed, k.Errors, k.Timeouts = c.Alerted.Load(), c.Allowed.Load(), c.Errors.Load(), c.Timeouts.Load()
	k.Restored, k.Killed = c.Restored.Load(), c.Killed.Load()
	b, _ := json.MarshalIndent(&st, "", "  ")
	path := p.hostRoot.Path(p.cfg.StateFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		p.env.Log.Warn("enforce: state file", "error", err)
		return
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err == nil {
		_ = os.Rename(tmp, path)
	}
}

func (p *Part) removeState() {
	if p.cfg.StateFile != "" {
		_ = os.Remove(p.hostRoot.Path(p.cfg.StateFile))
	}
}

// ReadStatus reads a state file.
func ReadStatus(path string) (*Status, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st Status
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: not a truesight enforce state file: %w", path, err)
	}
	return &st, nil
}

// Alive reports whether the agent that wrote the state still runs.
func (st *Status) Alive(procRoot string) bool {
	if st.Pid <= 0 {
		return false
	}
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(st.Pid) + "/stat")
	if err != nil {
		return false
	}
	// The same pid may be another process by now: compare start times
	// loosely through the comm.
	return strings.Contains(string(b), "(truesight)")
}

// checkLapse reports a state file left by an agent that died while
// protecting: opens were allowed from its death until now.
func (p *Part) checkLapse() {
	if p.cfg.StateFile == "" {
		return
	}
	st, err := ReadStatus(p.hostRoot.Path(p.cfg.StateFile))
	if err != nil || st.Pid == os.Getpid() || st.Alive(p.hostRoot.Path("/proc")) {
		return
	}
	names := make([]string, 0, len(st.Roots))
	for _, r := range st.Roots {
		names = append(names, r.Name)
	}
	p.report(&Block{Action: ActionLapsed, Time: time.Now(), Root: Root{Name: strings.Join(names, ",")},
		Reason: fmt.Sprintf("the agent (pid %d) protecting %d roots stopped without a clean exit; last seen %s: writes since were not stopped",
			st.Pid, len(st.Roots), st.Updated.Format(time.RFC3339))})
}
