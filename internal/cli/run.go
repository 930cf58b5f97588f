package cli

import (
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
	"github.com/truesightsec/truesight/internal/scan"
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
		pf         runFlags
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
			// First of all: a process started in the background of a script
			// starts with SIGINT ignored, and until this handler is in place
			// the kernel discards the signal. SIGINT or SIGTERM while the
			// agent starts stops it as soon as it runs.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			stderr := cmd.ErrOrStderr()
			spots, err := parseBlindSpots(blindSpots)
			if err != nil {
				return err
			}
			cfg, err := loadConfig(cmd, &cfgf, append(af.overrides(cmd), pf.overrides()...))
			if err != nil {
				return err
			}
			copts, err := cf.options(cmd, nil, cfg.Truesight.Containers)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			parts, err := runParts(cfg, &pf)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if !cmd.Flags().Changed("scan-interval") {
				scanEvery = time.Duration(cfg.Truesight.ScanInterval)
			}
			// Loading the sensor takes seconds on a busy host. A stop signal
			// meanwhile ends the command at once: nothing was watched yet,
			// and what New acquired is released when it returns (the kernel
			// frees it with the process anyway).
			type started struct {
				a   *agent.Agent
				err error
			}
			ready := make(chan started, 1)
			go func() {
				a, err := agent.New(cfg, agent.Options{RulesFiles: rf.files, NoDefaultRules: rf.noDefaults, Containers: copts,
					ScanInterval: scanEvery, KernelBlindSpots: spots, Duration: duration, Stderr: stderr, Parts: parts})
				ready <- started{a, err}
			}()
			var a *agent.Agent
			select {
			case r := <-ready:
				if r.err != nil {
					return exitCode(r.err)
				}
				a = r.a
			case <-ctx.Done():
				go func() {
					if r := <-ready; r.err == nil {
						r.a.Close()
					}
				}()
				fmt.Fprintln(stderr, "truesight: stopped while starting; nothing was watched")
				return nil
			}
			st := a.Started()
			fmt.Fprintf(stderr, "truesight: %d rules loaded, capturing %d syscalls (%s); %d processes seeded from the kernel; %d outputs\n",
				st.Rules, len(st.Plan.Syscalls), strings.Join(st.Plan.Syscalls, ","), st.Processes, st.Outputs)
			if st.Plan.SkipReadOnly {
				fmt.Fprintln(stderr, "truesight: no rule reads a read-only open of a regular file: the kernel counts those opens and their closes instead of recording them")
			}
			if len(st.Plan.Uncapturable) > 0 {
				fmt.Fprintf(stderr, "truesight: warning: rules need event types the live sensor cannot capture, they will not fire live: %s\n",
					strings.Join(st.Plan.Uncapturable, ","))
			}
			fmt.Fprintln(stderr, "truesight: watching; stop with Ctrl-C")

			if cpuProf != "" {
				stopProf, err := startCPUProfile(cpuProf)
				if err != nil {
					a.Close()
					return &exitError{code: 2, err: err}
				}
				defer stopProf()
			}
			runErr := a.Run(ctx)
			end := a.Stopped()
			fmt.Fprintf(stderr, "truesight: ring buffer %d MiB, at most %.1f MiB (%.0f%%) waiting in it\n", end.RingBufferSize>>20,
				float64(end.RingBufferPeak)/(1<<20), 100*float64(end.RingBufferPeak)/float64(max(end.RingBufferSize, 1)))
			fmt.Fprintf(stderr, "truesight: stopped: %d events, %d alerts, %d kernel drops, %d undecodable records; %d read-only opens and closes of regular files left in the kernel (no rule reads them)\n",
				end.Events, end.Alerts, end.KernelDrops, end.Undecodable, end.KernelSkipped)
			if end.Panics > 0 {
				fmt.Fprintf(stderr, "truesight: %d records hit a bug and were skipped (see the first stack above)\n", end.Panics)
			}
			if runErr != nil {
				return &exitError{code: 2, err: runErr}
			}
			return nil
		},
	}
	rf.register(cmd)
	af.register(cmd)
	cfgf.register(cmd)
	cf.register(cmd)
	pf.register(cmd)
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long (e.g. 30s); 0 runs until interrupted")
	cmd.Flags().DurationVar(&scanEvery, "scan-interval", 30*time.Second, "how often to scan for hidden processes and preload injection (also at once after a write to the loader's configuration or a new container); 0 disables (truesight.scan_interval)")
	cmd.Flags().StringArrayVar(&blindSpots, "kernel-blind-spot", defaultBlindSpots, "PID:COMM of a process this platform keeps out of the BPF task views (see truesight scan)")
	cmd.Flags().StringVar(&cpuProf, "cpuprofile", "", "write a CPU profile of the event loop to this file (for developers)")
	_ = cmd.Flags().MarkHidden("cpuprofile")
	return cmd
}

// parseBlindSpots parses --kernel-blind-spot values; an empty one clears
// the default.
func parseBlindSpots(values []string) ([]scan.BlindSpot, error) {
	var spots []scan.BlindSpot
	for _, b := range values {
		if b == "" {
			continue
		}
		spot, err := scan.ParseBlindSpot(b)
		if err != nil {
			return nil, &exitError{code: 2, err: fmt.Errorf("--kernel-blind-spot: %w", err)}
		}
		spots = append(spots, spot)
	}
	return spots, nil
}

// exitCode gives an error of the agent's assembly its exit code: 1 when
// the rules have errors (already printed), 2 otherwise.
func exitCode(err error) error {
	var re *agent.RulesError
	if errors.As(err, &re) {
		return &exitError{code: 1, err: err}
	}
	return &exitError{code: 2, err: err}
}

// startCPUProfile profiles the process into path until the returned stop.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// selfMntNS is the host's mount namespace, for the translators cli builds.
func selfMntNS() uint32 { return agent.SelfMntNS() }
