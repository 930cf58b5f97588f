package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/truesightsec/truesight/internal/agent"
	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/node"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/scan"
	"github.com/truesightsec/truesight/internal/sensor"
)

// defaultBlindSpots are the processes this project's VMs keep out of the
// BPF task views (platform.md): PID 1, the VM's supervisor.
var defaultBlindSpots = []string{"1:process_api"}

func newScanCmd() *cobra.Command {
	var (
		rf             ruleFlags
		cf             runtimeFlags
		cfgf           configFlags
		format         string
		iso8601        bool
		noKernel       bool
		blindSpots     []string
		pidMax         int
		listingTimeout time.Duration
		cpuProf        string
	)
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Reveal hidden processes and preload injection, once (needs root)",
		Long: `Compare the kernel's task list (eBPF), the /proc directory read with
getdents64, direct probes of every PID up to pid_max, and what the libc tools
(ps, ls) of every root with preload configuration or LD_PRELOAD users really
show; read /etc/ld.so.preload and ld.so.conf of every root, the loader
variables of every process and the libraries every process maps. Findings are
confirmed twice, turned into events of source truesight and judged by the
rules, like syscall events.

Prints a readable report (or Falco's JSON alert lines with --format json).
Exits 0 when nothing was found, 1 when a rule raised an alert, 2 on error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "text" && format != "json" {
				return &exitError{code: 2, err: fmt.Errorf("--format: %q is not text or json", format)}
			}
			if cpuProf != "" {
				stop, err := startCPUProfile(cpuProf)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--cpuprofile: %w", err)}
				}
				defer stop()
			}
			var spots []scan.BlindSpot
			for _, s := range blindSpots {
				if s == "" {
					continue // --kernel-blind-spot= clears the default
				}
				b, err := scan.ParseBlindSpot(s)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--kernel-blind-spot: %w", err)}
				}
				spots = append(spots, b)
			}
			// The task iterator loads (the kernel's verifier, BTF) while the
			// rules compile and the runtimes answer.
			type loaded struct {
				tasks *sensor.Tasks
				err   error
			}
			var kernel chan loaded
			if !noKernel && os.Geteuid() == 0 {
				kernel = make(chan loaded, 1)
				go func() {
					t, err := sensor.OpenTasks("")
					kernel <- loaded{t, err}
				}()
				defer func() {
					if k, ok := <-kernel; ok && k.tasks != nil {
						k.tasks.Close()
					}
				}()
			}
			stderr := cmd.ErrOrStderr()
			cfg, err := loadConfig(cmd, &cfgf, nil)
			if err != nil {
				return err
			}
			eng, _, err := agent.LoadEngine(agent.ConfigRules(cfg, rf.files, rf.noDefaults), agent.EngineOptions(cfg), stderr)
			if err != nil {
				return exitCode(err)
			}
			if os.Geteuid() != 0 {
				return &exitError{code: 2, err: fmt.Errorf("scan needs root (to read every process's maps and environment, enter containers' namespaces and load eBPF): try sudo %s", strings.Join(os.Args, " "))}
			}
			opts := scan.Options{KernelBlindSpots: spots, PidMax: pidMax, ListingTimeout: listingTimeout}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// Container names and images from the runtimes, when any answers
			// within a moment.
			copts, err := cf.options(cmd, slog.New(slog.NewTextHandler(io.Discard, nil)), cfg.Truesight.Containers)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			reg, stopReg := startRegistry(ctx, copts, 2*time.Second)
			defer stopReg()
			opts.Containers = reg.Lookup
			opts.HostRoot = copts.HostRoot
			opts.ProcPath = node.Root(copts.HostRoot).Path("/proc")
			if kernel != nil {
				// The kernel view needs only the task iterator, loaded
				// alone, not the whole sensor.
				k := <-kernel
				close(kernel)
				if k.err != nil {
					fmt.Fprintf(stderr, "truesight: warning: no kernel view, comparing /proc and probes only: %v\n", k.err)
				} else {
					defer k.tasks.Close()
					opts.Kernel = k.tasks
				}
			}
			rep, err := scan.New(opts).Scan(ctx)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			host, _ := os.Hostname()
			results := judge(eng, rep, host)
			out := cmd.OutOrStdout()
			if format == "json" {
				for _, r := range results {
					for _, a := range r.alerts {
						fmt.Fprintf(out, "%s\n", a.JSON(output.JSONOptions{Text: output.TextOptions{ISO8601: iso8601}}))
					}
				}
			} else {
				writeScanReport(out, rep, results, output.TextOptions{ISO8601: iso8601})
			}
			for _, r := range results {
				if len(r.alerts) > 0 {
					return &exitError{code: 1}
				}
			}
			return nil
		},
	}
	rf.register(cmd)
	cf.register(cmd)
	cfgf.register(cmd)
	cmd.Flags().StringVar(&format, "format", "text", "text: a readable report; json: Falco's JSON alert objects, one per line")
	cmd.Flags().BoolVar(&iso8601, "iso8601", false, "print alert times in ISO 8601")
	cmd.Flags().BoolVar(&noKernel, "no-kernel-view", false, "do not load eBPF for the kernel's task list (compare /proc and probes only)")
	cmd.Flags().StringArrayVar(&blindSpots, "kernel-blind-spot", defaultBlindSpots,
		"PID:COMM of a process this platform keeps out of the BPF task views; only its absence from the kernel view is excused, and the report says so (repeatable; --kernel-blind-spot= for none)")
	cmd.Flags().IntVar(&pidMax, "pid-max", 0, "probe PIDs below this (0: the kernel's pid_max)")
	cmd.Flags().StringVar(&cpuProf, "cpuprofile", "", "write a CPU profile of the scan to this file (for developers)")
	_ = cmd.Flags().MarkHidden("cpuprofile")
	cmd.Flags().DurationVar(&listingTimeout, "listing-timeout", scan.DefaultListingTimeout, "time limit of each libc listing run inside a root")
	return cmd
}

// judged is a finding with the alerts the rules raised for it.
type judged struct {
	finding *scan.Finding
	alerts  []*output.Alert
}

// judge runs every finding through the rules.
func judge(eng *engine.Engine, rep *scan.Report, host string) []judged {
	out := make([]judged, 0, len(rep.Findings))
	for _, f := range rep.Findings {
		c := &fields.Ctx{Evt: f.Event(), Proc: f.Process, Hostname: host}
		j := judged{finding: f}
		eng.Match(c, func(r *engine.Rule) { j.alerts = append(j.alerts, r.Alert(c)) })
		out = append(out, j)
	}
	return out
}

func writeScanReport(w io.Writer, rep *scan.Report, results []judged, topts output.TextOptions) {
	st := rep.Stats
	kernel := "kernel task iterator (eBPF)"
	if !st.KernelView {
		kernel = "no kernel view"
	}
	fmt.Fprintf(w, "truesight scan: %d processes, %d kernel threads, %d roots, %d libc views; PIDs 1-%d probed in %s; %s; %s in all\n",
		st.Processes, st.KernelThreads, st.Roots, st.Views, st.PidMax-1, st.Sweep.Round(time.Millisecond), kernel, st.Duration.Round(time.Millisecond))
	for _, e := range rep.Excused {
		fmt.Fprintf(w, "excused: %s is missing from the kernel view, a configured blind spot of this platform\n", e)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	alerts := 0
	var unmatched []string
	for _, r := range results {
		if len(r.alerts) == 0 {
			unmatched = append(unmatched, r.finding.Kind+": "+r.finding.Summary)
			continue
		}
		for _, a := range r.alerts {
			alerts++
			fmt.Fprintf(w, "\n%s %s\n  %s\n", strings.ToUpper(a.Priority), a.Rule, a.Text(topts))
		}
		for _, l := range r.finding.Lines() {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	if len(unmatched) > 0 {
		fmt.Fprintf(w, "\nfindings no rule alerted on (tuned out by the rules):\n")
		for _, u := range unmatched {
			fmt.Fprintf(w, "  %s\n", u)
		}
	}
	fmt.Fprintf(w, "\n%d findings (confirmed twice), %d alerts\n", len(results), alerts)
}
