package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/truesightsec/truesight/internal/agent"
	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/scan"
	"github.com/truesightsec/truesight/internal/sensor"
	"github.com/truesightsec/truesight/internal/state"
	"github.com/truesightsec/truesight/internal/web"
)

// configFlags select the configuration file and overrides.
type configFlags struct {
	path      string
	overrides []string
}

func (f *configFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.path, "config", "c", "", "configuration file (falco.yaml key names); the embedded default applies without one")
	cmd.Flags().StringArrayVarP(&f.overrides, "option", "o", nil, "override one configuration key, e.g. -o json_output=true -o http_output.url=http://... (repeatable)")
}

// alertFlags are shortcuts for common configuration keys.
type alertFlags struct {
	json     bool
	iso8601  bool
	priority string
	matching string
}

func (f *alertFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.json, "json", false, "print alerts as Falco's JSON objects (json_output=true)")
	cmd.Flags().BoolVar(&f.iso8601, "iso8601", false, "alert times in ISO 8601 (time_format_iso_8601=true)")
	cmd.Flags().StringVar(&f.priority, "priority", "", "minimum priority of rules to load, emergency ... debug (priority=...)")
	cmd.Flags().StringVar(&f.matching, "rule-matching", "", "first: only the first matching rule alerts; all: every one does (rule_matching=...)")
}

// overrides turns the shortcut flags that were given into -o overrides,
// applied after the user's own.
func (f *alertFlags) overrides(cmd *cobra.Command) []string {
	var o []string
	if cmd.Flags().Changed("json") {
		o = append(o, "json_output="+strconv.FormatBool(f.json))
	}
	if cmd.Flags().Changed("iso8601") {
		o = append(o, "time_format_iso_8601="+strconv.FormatBool(f.iso8601))
	}
	if f.priority != "" {
		o = append(o, "priority="+f.priority)
	}
	if f.matching != "" {
		o = append(o, "rule_matching="+f.matching)
	}
	return o
}

// loadConfig reads the configuration, printing warnings.
func loadConfig(cmd *cobra.Command, cf *configFlags, extra []string) (*config.Config, error) {
	cfg, warnings, err := config.Load(cf.path, append(append([]string{}, cf.overrides...), extra...))
	for _, w := range warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), w)
	}
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	return cfg, nil
}

func engineOptions(cfg *config.Config) engine.Options {
	o := engine.Options{MinPriority: cfg.MinPriority(), HasMinPriority: true}
	if cfg.AllMatching() {
		o.Matching = engine.MatchAll
	}
	for _, a := range cfg.AppendOutput {
		e := engine.AppendOutput{Source: a.Match.Source, Rule: a.Match.Rule, Tags: a.Match.Tags, Extra: a.ExtraOutput}
		for _, f := range a.ExtraFields {
			e.Fields = append(e.Fields, output.ExtraField{Name: f.Name, Value: f.Value})
		}
		o.Append = append(o.Append, e)
	}
	return o
}

func newRunCmd() *cobra.Command {
	var (
		rf         ruleFlags
		af         alertFlags
		cfgf       configFlags
		cf         runtimeFlags
		duration   time.Duration
		cpuProf    string
		scanEvery  time.Duration
		blindSpots []string
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Watch the kernel with eBPF and alert on rule matches (needs root)",
		Long: `Load the configuration and the rules, attach the eBPF sensor, seed the process
table from the kernel and send an alert to every configured output (stdout by
default, in Falco's text format) for each event a rule matches. SIGHUP
reopens alert files and reloads the rules; rules files are also reloaded when
they change. Stops on SIGINT or SIGTERM, flushing outputs and detaching
everything, and prints event and drop counts on stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stderr := cmd.ErrOrStderr()
			cfg, err := loadConfig(cmd, &cfgf, af.overrides(cmd))
			if err != nil {
				return err
			}
			files := ruleFlags{files: append(append([]string{}, cfg.RulesFiles...), rf.files...), noDefaults: rf.noDefaults}
			opts := engineOptions(cfg)
			eng, _, err := files.load(stderr, opts)
			if err != nil {
				return err
			}
			if os.Geteuid() != 0 {
				return &exitError{code: 2, err: fmt.Errorf("run needs root (CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN to load eBPF programs): try sudo %s", strings.Join(os.Args, " "))}
			}
			log := cfg.Logger(stderr)
			host, _ := os.Hostname()

			outs, err := cfg.Outputs()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			d := output.NewDispatcher(cfg.DispatcherOptions(log, host), outs...)
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout())
				defer cancel()
				if err := d.Close(ctx); err != nil {
					log.Error("flush alerts", "error", err)
				}
			}()

			plan := agent.PlanFor(eng)
			s, err := sensor.Open(sensor.Options{Syscalls: plan.Syscalls})
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			defer s.Close()

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			copts, err := cf.options(cmd, log, cfg.Truesight.Containers)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			reg := container.NewRegistry(copts)
			regDone := make(chan struct{})
			regCtx, stopReg := context.WithCancel(ctx)
			go func() { _ = reg.Run(regCtx); close(regDone) }()
			defer func() { stopReg(); <-regDone }()

			var spots []scan.BlindSpot
			for _, b := range blindSpots {
				if b == "" {
					continue
				}
				spot, err := scan.ParseBlindSpot(b)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--kernel-blind-spot: %w", err)}
				}
				spots = append(spots, spot)
			}
			// A scan runs at once after a write to the loader's
			// configuration and when a new container appears.
			kick := make(chan struct{}, 1)
			kickScan := func() {
				select {
				case kick <- struct{}{}:
				default:
				}
			}
			table := state.NewTable(0)
			tr := agent.NewTranslator(table, state.NewUsers(), selfMntNS())
			seen := map[string]bool{}
			tr.SeenContainer = func(id string) {
				reg.Seen(id)
				if !seen[id] {
					if len(seen) > 65536 {
						clear(seen)
					}
					seen[id] = true
					kickScan()
				}
			}
			tasks, err := s.Snapshot()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			tr.Seed(tasks)

			metrics := web.NewMetrics()
			metrics.ObserveOutputs(d.Stats)
			metrics.ObserveSuppressed(d.Suppressed)
			metrics.ObserveKernelDrops(func() uint64 { st, _ := s.Stats(); return st.Drops })
			metrics.ObserveProcessTable(table.Len)
			emitAlert := func(a *output.Alert) {
				metrics.Alert(a.Rule, a.Priority)
				d.Send(a)
			}
			loop := &agent.Loop{Sensor: s, Translator: tr, Hostname: host, Containers: reg, Metrics: metrics,
				Emit: emitAlert, LoaderConfigWritten: kickScan}
			loop.Engine.Store(eng)
			if !cmd.Flags().Changed("scan-interval") {
				scanEvery = time.Duration(cfg.Truesight.ScanInterval)
			}
			if scanEvery > 0 {
				sc := scan.New(scan.Options{Kernel: s, KernelBlindSpots: spots, Containers: reg.Lookup})
				go sc.Run(ctx, scanEvery, kick, func(f *scan.Finding) {
					c := &fields.Ctx{Evt: f.Event(), Proc: f.Process, Hostname: host, Containers: reg.Lookup}
					loop.Engine.Load().Match(c, func(r *engine.Rule) { emitAlert(r.Alert(c)) })
				}, func(err error) { log.Warn("scan failed", "error", err) })
			}
			if ws := cfg.Webserver; ws.Enabled {
				o := web.Options{Address: ws.Address(), HealthzPath: ws.K8sHealthzEndpoint, Logger: log}
				if ws.PrometheusMetricsEnabled {
					o.Metrics = metrics
				}
				if ws.SSLEnabled {
					o.CertFile = ws.SSLCertificate
				}
				if srv, err := web.Listen(o); err != nil {
					log.Warn("web server not started; alerts still flow", "error", err)
				} else {
					defer func() { _ = srv.Shutdown(context.Background()) }()
				}
			}

			reload := func(why string) {
				err := loop.Reload(func() (*engine.Engine, error) {
					next, _, diags := engine.Load(mustSources(files), opts)
					if next == nil {
						return nil, errors.New(diags.Errors().String())
					}
					if p := agent.PlanFor(next); strings.Join(p.Syscalls, ",") != strings.Join(plan.Syscalls, ",") {
						log.Warn("reloaded rules need syscalls the sensor was not started with; restart to capture them", "needed", strings.Join(p.Syscalls, ","))
					}
					return next, nil
				})
				metrics.Reload(err == nil)
				if err != nil {
					log.Error("rules reload failed; the previous rules keep running", "trigger", why, "error", err)
					return
				}
				log.Info("rules reloaded", "trigger", why, "rules", len(loop.Engine.Load().Rules()))
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						d.Reopen()
						reload("SIGHUP")
					}
				}
			}()
			if len(files.files) > 0 {
				go config.Watch(ctx, files.files, 2*time.Second, func() { reload("rules file changed") })
			}

			fmt.Fprintf(stderr, "truesight: %d rules loaded, capturing %d syscalls (%s); %d processes seeded from the kernel; %d outputs\n",
				len(eng.Rules()), len(plan.Syscalls), strings.Join(plan.Syscalls, ","), table.Len(), len(outs))
			if len(plan.Uncapturable) > 0 {
				fmt.Fprintf(stderr, "truesight: warning: rules need event types the live sensor cannot capture, they will not fire live: %s\n",
					strings.Join(plan.Uncapturable, ","))
			}
			fmt.Fprintln(stderr, "truesight: watching; stop with Ctrl-C")

			if cpuProf != "" {
				f, err := os.Create(cpuProf)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					return &exitError{code: 2, err: err}
				}
				defer pprof.StopCPUProfile()
			}
			runCtx := ctx
			if duration > 0 {
				var cancel context.CancelFunc
				runCtx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			runErr := loop.Run(runCtx)
			st, _ := s.Stats()
			closeErr := s.Close()
			fmt.Fprintf(stderr, "truesight: stopped: %d events, %d alerts, %d kernel drops, %d undecodable records\n",
				loop.Counters.Events.Load(), loop.Counters.Alerts.Load(), st.Drops, loop.Counters.Errors.Load())
			if n := loop.Counters.Panics.Load(); n > 0 {
				fmt.Fprintf(stderr, "truesight: %d records hit a bug and were skipped (see the first stack above)\n", n)
			}
			if runErr != nil {
				return &exitError{code: 2, err: runErr}
			}
			if closeErr != nil {
				return &exitError{code: 2, err: closeErr}
			}
			return nil
		},
	}
	rf.register(cmd)
	af.register(cmd)
	cfgf.register(cmd)
	cf.register(cmd)
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long (e.g. 30s); 0 runs until interrupted")
	cmd.Flags().DurationVar(&scanEvery, "scan-interval", 30*time.Second, "how often to scan for hidden processes and preload injection (also at once after a write to the loader's configuration or a new container); 0 disables (truesight.scan_interval)")
	cmd.Flags().StringArrayVar(&blindSpots, "kernel-blind-spot", defaultBlindSpots, "PID:COMM of a process this platform keeps out of the BPF task views (see truesight scan)")
	cmd.Flags().StringVar(&cpuProf, "cpuprofile", "", "write a CPU profile of the event loop to this file (for developers)")
	_ = cmd.Flags().MarkHidden("cpuprofile")
	return cmd
}

// mustSources reads the rules files for a reload; a file that cannot be
// read becomes an empty source, so the loader reports it by name.
func mustSources(f ruleFlags) []rules.Source {
	srcs, err := f.sources()
	if err != nil {
		return []rules.Source{{Name: err.Error(), Data: []byte("- rule:")}}
	}
	return srcs
}

// selfMntNS returns the inode of the agent's own mount namespace: the host's.
func selfMntNS() uint32 {
	link, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return 0
	}
	// "mnt:[4026531841]"
	i, j := strings.IndexByte(link, '['), strings.IndexByte(link, ']')
	if i < 0 || j < i {
		return 0
	}
	n, err := strconv.ParseUint(link[i+1:j], 10, 32)
	if err != nil {
		return 0
	}
	return uint32(n)
}
