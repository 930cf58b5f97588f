package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/truesightsec/truesight/internal/agent"
	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
	"github.com/truesightsec/truesight/internal/sensor"
	"github.com/truesightsec/truesight/internal/state"
)

// alertFlags select how alerts are printed.
type alertFlags struct {
	json     bool
	iso8601  bool
	priority string
	matching string
}

func (f *alertFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.json, "json", false, "print alerts as Falco's JSON objects, one per line")
	cmd.Flags().BoolVar(&f.iso8601, "iso8601", false, "print alert times in ISO 8601 instead of HH:MM:SS.nnnnnnnnn")
	cmd.Flags().StringVar(&f.priority, "priority", "debug", "minimum priority of rules to load (emergency ... debug)")
	cmd.Flags().StringVar(&f.matching, "rule-matching", "first", "first: only the first matching rule alerts; all: every matching rule does")
}

func (f *alertFlags) engineOptions() (engine.Options, error) {
	var o engine.Options
	m, err := engine.ParseMatching(f.matching)
	if err != nil {
		return o, &exitError{code: 2, err: err}
	}
	o.Matching = m
	p, ok := rules.ParsePriority(f.priority)
	if !ok {
		return o, &exitError{code: 2, err: fmt.Errorf("--priority: %q is not a priority (emergency, alert, critical, error, warning, notice, informational, debug)", f.priority)}
	}
	o.MinPriority, o.HasMinPriority = p, true
	return o, nil
}

// printer writes alerts to a writer, serialised.
type printer struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
	text output.TextOptions
}

func (p *printer) emit(a *output.Alert) {
	var line []byte
	if p.json {
		line = append(a.JSON(output.JSONOptions{Text: p.text}), '\n')
	} else {
		line = []byte(a.Text(p.text) + "\n")
	}
	p.mu.Lock()
	_, _ = p.w.Write(line)
	p.mu.Unlock()
}

func newRunCmd() *cobra.Command {
	var (
		rf       ruleFlags
		af       alertFlags
		duration time.Duration
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Watch the kernel with eBPF and alert on rule matches (needs root)",
		Long: `Load the rules, attach the eBPF sensor, seed the process table from the kernel
and print an alert on stdout for every event a rule matches, in Falco's text
format (or JSON with --json). Stops on SIGINT or SIGTERM, detaching
everything, and prints event and drop counts on stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := af.engineOptions()
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			eng, _, err := rf.load(stderr, opts)
			if err != nil {
				return err
			}
			if os.Geteuid() != 0 {
				return &exitError{code: 2, err: fmt.Errorf("run needs root (CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN to load eBPF programs): try sudo %s", strings.Join(os.Args, " "))}
			}
			plan := agent.PlanFor(eng)
			s, err := sensor.Open(sensor.Options{Syscalls: plan.Syscalls})
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			defer s.Close()

			table := state.NewTable(0)
			tr := agent.NewTranslator(table, state.NewUsers(), selfMntNS())
			tasks, err := s.Snapshot()
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			tr.Seed(tasks)

			host, _ := os.Hostname()
			pr := &printer{w: cmd.OutOrStdout(), json: af.json, text: output.TextOptions{ISO8601: af.iso8601}}
			loop := &agent.Loop{Sensor: s, Translator: tr, Hostname: host, Emit: pr.emit}
			loop.Engine.Store(eng)

			fmt.Fprintf(stderr, "truesight: %d rules loaded, capturing %d syscalls (%s); %d processes seeded from the kernel\n",
				len(eng.Rules()), len(plan.Syscalls), strings.Join(plan.Syscalls, ","), table.Len())
			if len(plan.Uncapturable) > 0 {
				fmt.Fprintf(stderr, "truesight: warning: rules need event types the live sensor cannot capture, they will not fire live: %s\n",
					strings.Join(plan.Uncapturable, ","))
			}
			fmt.Fprintln(stderr, "truesight: watching; stop with Ctrl-C")

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if duration > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, duration)
				defer cancel()
			}
			runErr := loop.Run(ctx)
			st, _ := s.Stats()
			closeErr := s.Close()
			fmt.Fprintf(stderr, "truesight: stopped: %d events, %d alerts, %d kernel drops, %d undecodable records\n",
				loop.Counters.Events.Load(), loop.Counters.Alerts.Load(), st.Drops, loop.Counters.Errors.Load())
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
	cmd.Flags().DurationVar(&duration, "duration", 0, "stop after this long (e.g. 30s); 0 runs until interrupted")
	return cmd
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
