package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/truesightsec/truesight/internal/agent"
	"github.com/truesightsec/truesight/internal/capture"
	"github.com/truesightsec/truesight/internal/condition"
	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/sensor"
	"github.com/truesightsec/truesight/internal/state"
)

func newCaptureCmd() *cobra.Command {
	var (
		rf       ruleFlags
		file     string
		filter   string
		seconds  int
		compress bool
	)
	cmd := &cobra.Command{
		Use:   "capture -w FILE",
		Short: "Record live events to a scap capture file that sysdig, Falco and truesight replay read (needs root)",
		Long: `Attach the eBPF sensor and write every event (or those matching --filter, a
condition in Falco's filter language) to FILE in the scap format, with the
process table and the host's users at the start, exactly as the agent's
state machine took them. It records every syscall the rules in force need
(the embedded defaults and each -r FILE) and what state tracking needs, so
"truesight replay" of the file with those rules says what the live agent
would have said; events the filter drops that change process state are kept,
marked state-only, as sysdig does, until -M seconds have passed or SIGINT/SIGTERM.
Replay it with "truesight replay FILE" or read it with "sysdig -r FILE".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stderr := cmd.ErrOrStderr()
			if file == "" {
				return &exitError{code: 2, err: fmt.Errorf("-w FILE is required")}
			}
			var pred engine.Predicate
			if filter != "" {
				expr, err := condition.Parse(filter)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--filter: %w", err)}
				}
				if pred, err = engine.Compile(expr); err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--filter: %w", err)}
				}
			}
			if os.Geteuid() != 0 {
				return &exitError{code: 2, err: fmt.Errorf("capture needs root to load eBPF programs: try sudo %s", strings.Join(os.Args, " "))}
			}
			// Every syscall the rules in force need, with what state
			// tracking needs, so a replay with those rules sees what a
			// live agent would have judged.
			syscalls := append(append([]string{}, sensor.DefaultSyscalls...), agent.StateSyscalls...)
			if len(rf.files) > 0 || !rf.noDefaults {
				eng, _, err := rf.load(stderr, engine.Options{})
				if err != nil {
					return err
				}
				syscalls = append(syscalls, agent.PlanFor(eng).Syscalls...)
			}
			slices.Sort(syscalls)
			syscalls = slices.Compact(syscalls)
			s, err := sensor.Open(sensor.Options{Syscalls: syscalls})
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
			threads := tr.Seed(tasks)

			f, err := os.Create(file)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			w, err := capture.NewWriter(f, capture.WriterOptions{Compress: compress})
			if err != nil {
				f.Close()
				return &exitError{code: 2, err: err}
			}
			host, _ := os.Hostname()
			if err := w.WriteMachine(capture.MachineInfo{NumCPUs: uint32(numCPU()), Hostname: host}); err != nil {
				return &exitError{code: 2, err: err}
			}
			if err := w.WriteUsers(state.CaptureAccounts("")); err != nil {
				return &exitError{code: 2, err: err}
			}
			if err := w.WriteThreads(threads); err != nil {
				return &exitError{code: 2, err: err}
			}

			var writeErr error
			c := fields.Ctx{Hostname: host}
			loop := &agent.Loop{Sensor: s, Translator: tr, Hostname: host, Emit: func(*output.Alert) {},
				OnEvent: func(e *event.Event, p *state.Process) {
					if writeErr != nil {
						return
					}
					b := tr.Built()
					if b == nil {
						return
					}
					b.Flags = 0
					if pred != nil {
						c.Evt, c.Proc = e, p
						if !pred.Eval(&c) {
							if !tr.Machine.ChangesState(b.Code) {
								return
							}
							// Kept for the state a replay needs, not shown,
							// as sysdig keeps what its filter drops.
							b.Flags = capture.DumpStateOnly
						}
					}
					// The event exactly as the state machine took it, so a
					// replay of the capture sees what live saw.
					writeErr = w.WriteBuilt(b)
				}}
			loop.Engine.Store(engine.New(nil, engine.Options{}))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if seconds > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Duration(seconds)*time.Second)
				defer cancel()
			}
			fmt.Fprintf(stderr, "truesight: capturing to %s; stop with Ctrl-C\n", file)
			runErr := loop.Run(ctx)
			st, _ := s.Stats()
			closeErr := w.Close()
			if err := f.Close(); closeErr == nil {
				closeErr = err
			}
			fmt.Fprintf(stderr, "truesight: wrote %d events to %s (%d seen, %d kernel drops)\n", w.Count, file, loop.Counters.Events.Load(), st.Drops)
			for _, err := range []error{runErr, writeErr, closeErr} {
				if err != nil {
					return &exitError{code: 2, err: err}
				}
			}
			return nil
		},
	}
	rf.register(cmd)
	cmd.Flags().StringVarP(&file, "write", "w", "", "capture file to write")
	cmd.Flags().StringVar(&filter, "filter", "", "only events matching this condition (Falco's filter language, e.g. \"evt.type in (openat, execve)\")")
	cmd.Flags().IntVarP(&seconds, "seconds", "M", 0, "stop after this many seconds; 0 runs until interrupted")
	cmd.Flags().BoolVarP(&compress, "compress", "z", false, "gzip the capture")
	return cmd
}

func numCPU() int { return runtime.NumCPU() }
