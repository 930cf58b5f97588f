package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/node"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/preflight"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/scan"
	"github.com/truesightsec/truesight/internal/sensor"
	"github.com/truesightsec/truesight/internal/state"
	"github.com/truesightsec/truesight/internal/web"
)

// Options are what the command line adds to the configuration.
type Options struct {
	// RulesFiles are loaded after the configuration's rules_files, in order;
	// NoDefaultRules leaves out the embedded default rules.
	RulesFiles     []string
	NoDefaultRules bool
	// Containers selects the runtime sockets; a nil Logger is the agent's.
	Containers container.Options
	// ScanInterval is how often the scan for hidden processes and preload
	// injection runs (also at once after a write to the loader's
	// configuration or a new container); 0 disables it.
	ScanInterval time.Duration
	// KernelBlindSpots are processes this platform keeps out of the BPF
	// task views.
	KernelBlindSpots []scan.BlindSpot
	// Duration stops Run after this long; 0 runs until its context ends.
	Duration time.Duration
	// Stderr receives rules diagnostics and the log (default os.Stderr).
	Stderr io.Writer
	// Parts run beside the event loop (detectors, the console); see Part.
	Parts []Part
}

// Agent is `truesight run`: the sensor, process state, container registry,
// engine, scan and outputs, assembled from a configuration. New acquires
// everything (a mistake shows before anything runs), Run watches until its
// context ends and then releases it all.
type Agent struct {
	opts    Options
	log     *slog.Logger
	host    string
	plan    Plan
	outputs int
	// ringSize is the sensor's ring buffer size in bytes.
	ringSize int

	sensor  *sensor.Sensor
	table   *state.Table
	reg     *container.Registry
	stopReg func() // stops the registry and waits for it
	disp    *output.Dispatcher
	metrics *web.Metrics
	server  *web.Server
	loop    *Loop

	// seen dedups the scan kicks of new containers (loop goroutine only).
	seen map[string]bool
	kick chan struct{}

	mu        sync.Mutex
	cfg       *config.Config
	watched   []string
	runCtx    context.Context // set while Run runs
	stopWatch context.CancelFunc
	closeOnce sync.Once
	stopped   Stopped

	obs      observers
	lastScan atomic.Pointer[ScanStatus] // the last scan's, for Env.LastScan
}

// Started describes what New set up.
type Started struct {
	Rules     int
	Plan      Plan
	Processes int // seeded from the kernel
	Outputs   int
}

// Stopped are the totals of a run.
type Stopped struct {
	Events, Alerts, KernelDrops uint64
	// KernelSkipped are the records the read-only file filter left in the
	// kernel: read-only opens of regular files and their closes.
	KernelSkipped uint64
	Undecodable   uint64 // records that failed to decode
	Panics        uint64 // records that hit a bug and were skipped
	// RingBufferSize and RingBufferPeak are the ring buffer's size and the
	// most bytes seen waiting in it, in bytes.
	RingBufferSize, RingBufferPeak int
}

// New loads the rules, opens the outputs, attaches the sensor, seeds the
// process table and starts following the container runtimes. Errors in
// the rules are a *RulesError (each was written to Options.Stderr); every
// other error means the agent cannot start as configured.
func New(cfg *config.Config, opts Options) (*Agent, error) {
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	eng, _, err := LoadEngine(ConfigRules(cfg, opts.RulesFiles, opts.NoDefaultRules), EngineOptions(cfg), opts.Stderr)
	if err != nil {
		return nil, err
	}
	// The same checks and lines as truesight preflight.
	if err := preflight.Required(opts.Containers.HostRoot).Err(); err != nil {
		return nil, fmt.Errorf("run cannot start: %w", err)
	}
	a := &Agent{opts: opts, cfg: cfg, log: cfg.Logger(opts.Stderr), seen: map[string]bool{}, kick: make(chan struct{}, 1)}
	a.host, _ = os.Hostname()

	outs, err := cfg.Outputs()
	if err != nil {
		return nil, err
	}
	a.outputs = len(outs)
	a.disp = output.NewDispatcher(cfg.DispatcherOptions(a.log, a.host), outs...)
	ok := false
	defer func() {
		if !ok {
			a.release()
		}
	}()

	a.plan = PlanFor(eng)
	a.plan.Syscalls = partSyscalls(a.plan.Syscalls, opts.Parts)
	a.ringSize = cfg.RingBufferSize(sensor.OnlineCPUs())
	snaplen := 0
	if a.plan.Data {
		snaplen = cfg.Truesight.Snaplen
	}
	if a.sensor, err = sensor.Open(sensor.Options{Syscalls: a.plan.Syscalls, RingBufferSize: a.ringSize, Snaplen: snaplen}); err != nil {
		return nil, err
	}
	copts := opts.Containers
	if copts.Logger == nil {
		copts.Logger = a.log
	}
	a.reg = container.NewRegistry(copts)
	// The registry connects to the runtimes while the rest starts, so
	// that the first containers seen once Run runs are described in time.
	regCtx, cancelReg := context.WithCancel(context.Background())
	regDone := make(chan struct{})
	go func() { _ = a.reg.Run(regCtx); close(regDone) }()
	a.stopReg = func() { cancelReg(); <-regDone }

	a.table = state.NewTable(0)
	tr := NewTranslator(a.table, state.NewUsers(), SelfMntNS())
	tr.SeenContainer = a.seenContainer
	tasks, err := a.sensor.Snapshot()
	if err != nil {
		return nil, err
	}
	tr.Seed(tasks)

	a.metrics = web.NewMetrics()
	a.metrics.ObserveOutputs(a.disp.Stats)
	a.metrics.ObserveSuppressed(a.disp.Suppressed)
	a.metrics.ObserveKernel(func() web.KernelCounts {
		st, _ := a.sensor.Stats()
		return web.KernelCounts{Drops: st.Drops, Skipped: st.Skipped}
	})
	a.metrics.ObserveProcessTable(a.table.Len)
	a.loop = &Loop{Sensor: a.sensor, Translator: tr, Hostname: a.host, Containers: a.reg, Metrics: a.metrics,
		Emit: a.emit, LoaderConfigWritten: a.kickScan, NameChanged: a.nameChanged}
	a.loop.Engine.Store(eng)

	if ws := cfg.Webserver; ws.Enabled {
		o := web.Options{Address: ws.Address(), HealthzPath: ws.K8sHealthzEndpoint, Logger: a.log}
		if ws.PrometheusMetricsEnabled {
			o.Metrics = a.metrics
		}
		if ws.SSLEnabled {
			o.CertFile = ws.SSLCertificate
		}
		if a.server, err = web.Listen(o); err != nil {
			a.log.Warn("web server not started; alerts still flow", "error", err)
		}
	}
	env := &Env{Log: a.log, Config: cfg, Hostname: a.host, Containers: a.reg, Sensor: a.sensor, Metrics: a.metrics, a: a}
	for _, p := range opts.Parts {
		if err := p.Attach(env); err != nil {
			return nil, fmt.Errorf("%s: %w", p.Name(), err)
		}
	}
	ok = true
	return a, nil
}

// partSyscalls adds the syscalls the parts need to the plan's, sorted.
func partSyscalls(plan []string, parts []Part) []string {
	set := map[string]bool{}
	for _, s := range plan {
		set[s] = true
	}
	for _, p := range parts {
		if sp, ok := p.(SyscallsPart); ok {
			for _, s := range sp.Syscalls() {
				if _, known := sensor.SyscallNumber(s); known {
					set[s] = true
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Started describes the rules, syscalls, processes and outputs New set up.
func (a *Agent) Started() Started {
	return Started{Rules: len(a.loop.Engine.Load().Rules()), Plan: a.plan, Processes: a.table.Len(), Outputs: a.outputs}
}

// Stopped returns the totals once Run has returned.
func (a *Agent) Stopped() Stopped {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopped
}

// Engine is the engine judging events now.
func (a *Agent) Engine() *engine.Engine { return a.loop.Engine.Load() }

func (a *Agent) emit(al *output.Alert) {
	a.metrics.Alert(al.Rule, al.Priority)
	a.obs.Lock()
	aobs := a.obs.alertObs
	a.obs.Unlock()
	for _, fn := range aobs {
		fn(al)
	}
	a.disp.Send(al)
}

// kickScan asks for a scan at once, without blocking: one pending kick is
// enough.
func (a *Agent) kickScan() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// seenContainer tells the registry about a container's process and kicks
// a scan the first time a container is seen.
func (a *Agent) seenContainer(id string) {
	a.reg.Seen(id)
	if !a.seen[id] {
		if len(a.seen) > 65536 {
			clear(a.seen)
		}
		a.seen[id] = true
		a.kickScan()
	}
}

// Run watches until ctx ends (or Options.Duration has passed, or the
// sensor fails), then stops the scan, detaches the sensor, stops the
// registry and the web server and flushes the outputs. SIGHUP reopens the
// alert files and reloads the rules; rules files are also reloaded when
// they change. Run is called once.
func (a *Agent) Run(ctx context.Context) error {
	defer a.release()
	if a.opts.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.opts.Duration)
		defer cancel()
	}
	ctx, cancelCause := context.WithCancelCause(ctx)
	cancel := func() { cancelCause(nil) }
	defer cancel()
	var wg sync.WaitGroup

	var scanWG sync.WaitGroup
	if a.opts.ScanInterval > 0 {
		sc := scan.New(scan.Options{ProcPath: node.Root(a.opts.Containers.HostRoot).Path("/proc"), HostRoot: a.opts.Containers.HostRoot, Kernel: a.sensor, KernelBlindSpots: a.opts.KernelBlindSpots, Containers: a.reg.Lookup, Scanned: a.scanned})
		scanWG.Go(func() {
			sc.Run(ctx, a.opts.ScanInterval, a.kick, func(f *scan.Finding) { a.report(f.Event(), f.Process) },
				func(err error) { a.log.Warn("scan failed", "error", err) })
		})
	}
	for _, p := range a.opts.Parts {
		scanWG.Go(func() {
			if err := p.Run(ctx); err != nil && ctx.Err() == nil {
				a.log.Error("stopped with an error; the agent keeps running", "part", p.Name(), "error", err)
			}
		})
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				a.disp.Reopen()
				a.reload("SIGHUP")
			}
		}
	})
	a.mu.Lock()
	a.runCtx = ctx
	a.watchLocked(ConfigRules(a.cfg, a.opts.RulesFiles, a.opts.NoDefaultRules).Files, &wg)
	cfg := a.cfg
	a.mu.Unlock()
	// The drop monitor's exit action ends ctx with a *DropExit.
	_, waitDrops := StartDropMonitor(ctx, cfg, a.sensor, a.ringSize, a.host, a.log, a.emit, cancelCause)

	runErr := a.loop.Run(ctx)
	cancel()
	waitDrops()
	var dropExit *DropExit
	if errors.As(context.Cause(ctx), &dropExit) && runErr == nil {
		runErr = dropExit
	}
	// The scan reads the sensor's task view: it ends before the sensor
	// is closed.
	scanWG.Wait()
	st, _ := a.sensor.Stats()
	closeErr := a.sensor.Close()
	wg.Wait()
	a.mu.Lock()
	a.runCtx = nil
	a.stopped = Stopped{Events: a.loop.Counters.Events.Load(), Alerts: a.loop.Counters.Alerts.Load(), KernelDrops: st.Drops,
		KernelSkipped: st.Skipped, Undecodable: a.loop.Counters.Errors.Load(), Panics: a.loop.Counters.Panics.Load()}
	a.stopped.RingBufferSize, a.stopped.RingBufferPeak = a.sensor.RingBuffer()
	a.mu.Unlock()
	if runErr != nil {
		return runErr
	}
	return closeErr
}

// watchLocked follows the rules files for changes, replacing the watch of
// a previous list; called with a.mu held while Run runs.
func (a *Agent) watchLocked(files []string, wg *sync.WaitGroup) {
	if a.stopWatch != nil {
		a.stopWatch()
		a.stopWatch = nil
	}
	a.watched = files
	if len(files) == 0 || a.runCtx == nil {
		return
	}
	ctx, cancel := context.WithCancel(a.runCtx)
	a.stopWatch = cancel
	run := func() { config.Watch(ctx, files, 2*time.Second, func() { a.reload("rules file changed") }) }
	if wg != nil {
		wg.Go(run)
	} else {
		go run()
	}
}

// Reload builds the engine of cfg's rules (its rules_files before
// Options.RulesFiles, priority, rule_matching, append_output) and swaps it
// in atomically. When the rules do not load the running engine stays and
// the error says why. Outputs, the sensor's syscalls and the rest of the
// configuration keep what New set up; a later SIGHUP reloads cfg again.
func (a *Agent) Reload(cfg *config.Config) error {
	r := ConfigRules(cfg, a.opts.RulesFiles, a.opts.NoDefaultRules)
	opts := EngineOptions(cfg)
	err := a.loop.Reload(func() (*engine.Engine, error) {
		next, _, diags := engine.Load(sourcesOrError(r), opts)
		if next == nil {
			return nil, errors.New(diags.Errors().String())
		}
		if p := PlanFor(next); p.Data && !a.plan.Data {
			a.log.Warn("reloaded rules read I/O data (evt.buffer) the sensor was not started to copy; restart to capture it")
		}
		if p := PlanFor(next); strings.Join(p.Syscalls, ",") != strings.Join(a.plan.Syscalls, ",") {
			a.log.Warn("reloaded rules need syscalls the sensor was not started with; restart to capture them", "needed", strings.Join(p.Syscalls, ","))
		}
		return next, nil
	})
	a.metrics.Reload(err == nil)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.cfg = cfg
	if !slices.Equal(r.Files, a.watched) {
		a.watchLocked(r.Files, nil)
	}
	a.mu.Unlock()
	return nil
}

// reload reloads the current configuration's rules and logs the outcome.
func (a *Agent) reload(why string) {
	a.mu.Lock()
	cfg := a.cfg
	a.mu.Unlock()
	if err := a.Reload(cfg); err != nil {
		a.log.Error("rules reload failed; the previous rules keep running", "trigger", why, "error", err)
		return
	}
	a.log.Info("rules reloaded", "trigger", why, "rules", len(a.loop.Engine.Load().Rules()))
}

// sourcesOrError reads the rules files for a reload; a file that cannot be
// read becomes a broken source, so the loader reports it by name.
func sourcesOrError(r Rules) []rules.Source {
	srcs, err := r.Sources()
	if err != nil {
		return []rules.Source{{Name: err.Error(), Data: []byte("- rule:")}}
	}
	return srcs
}

// Close releases what New acquired when Run is not called; after Run it
// does nothing.
func (a *Agent) Close() { a.release() }

// release shuts down the web server, detaches the sensor, stops the
// registry and flushes the outputs, once.
func (a *Agent) release() {
	a.closeOnce.Do(func() {
		if a.stopReg != nil {
			a.stopReg()
		}
		if a.server != nil {
			_ = a.server.Shutdown(context.Background())
		}
		if a.sensor != nil {
			_ = a.sensor.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout())
		defer cancel()
		if err := a.disp.Close(ctx); err != nil {
			a.log.Error("flush alerts", "error", err)
		}
	})
}
