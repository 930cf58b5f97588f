package cli

import (
	"bufio"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/truesightsec/truesight/internal/agent"
	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/fields"
	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/replay"
)

func newReplayCmd() *cobra.Command {
	var (
		rf       ruleFlags
		cfgf     configFlags
		format   string
		iso8601  bool
		matching string
		hostname string
		print    string
		all      bool
		quiet    bool
	)
	cmd := &cobra.Command{
		Use:   "replay FILE",
		Short: "Run a sysdig or Falco capture file (.scap) through the rules",
		Long: `Read a capture in the scap format (as written by sysdig -w, falco
--capture or truesight capture; plain or gzip-compressed), rebuild process
and file descriptor state from its tables and events, and judge every event
with the rules as if it were live. Alerts carry the capture's timestamps and,
unless --hostname says otherwise, the capture's machine name.

The configuration (-c, -o) applies as it does to truesight run: rules_files,
priority, rule_matching, append_output, json_output and the json_include_*
keys, time_format_iso_8601. Alerts go to stdout only.

Exits 0 when no rule fired, 1 when one did, 2 when the rules or the capture
could not be read (alerts raised before a damaged part are printed).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "" && format != "text" && format != "json" {
				return &exitError{code: 2, err: fmt.Errorf("--format: %q is not text or json", format)}
			}
			cfg, err := loadConfig(cmd, &cfgf, nil)
			if err != nil {
				return err
			}
			eopts := agent.EngineOptions(cfg)
			if matching != "" {
				m, err := engine.ParseMatching(matching)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--rule-matching: %w", err)}
				}
				eopts.Matching = m
			}
			stderr := cmd.ErrOrStderr()
			eng, _, err := agent.LoadEngine(agent.ConfigRules(cfg, rf.files, rf.noDefaults), eopts, stderr)
			if err != nil {
				return exitCode(err)
			}
			enc := cfg.Encoding()
			if format != "" {
				enc.JSON = format == "json"
			}
			if cmd.Flags().Changed("iso8601") {
				enc.Options.Text.ISO8601 = iso8601
			}
			// bufio.Writer keeps its first error; Flush reports it.
			w := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
			// Alerts print as the configuration's stdout output prints them
			// (without colour), synchronously: a capture has no queue to
			// lose alerts from.
			alerts := 0
			var line []byte
			emit := func(a *output.Alert) {
				alerts++
				line = append(enc.AppendLine(line[:0], a), '\n')
				_, _ = w.Write(line)
			}
			opts := replay.Options{Hostname: hostname, AllEvents: all}
			if print != "" {
				f, err := output.Compile(print)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--print: %w", err)}
				}
				opts.Observe = func(c *fields.Ctx) {
					_, _ = w.WriteString(f.String(c))
					_ = w.WriteByte('\n')
				}
			}
			st, err := replay.File(args[0], eng, opts, emit)
			if ferr := w.Flush(); ferr != nil && err == nil {
				return &exitError{code: 2, err: fmt.Errorf("write alerts: %w", ferr)}
			}
			if !quiet && st.Events > 0 {
				fmt.Fprintf(stderr, "truesight: replayed %d events (%d judged), %d alerts\n", st.Events, st.Shown, st.Alerts)
				if bad := st.Reader.BadEvents + st.Reader.BadBlocks + st.Reader.UnknownEvents; bad > 0 {
					fmt.Fprintf(stderr, "truesight: warning: skipped %d blocks the reader could not use; first: %v\n", bad, st.Reader.FirstBadBlock)
				}
			}
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if alerts > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	rf.register(cmd)
	cfgf.register(cmd)
	cmd.Flags().StringVar(&format, "format", "", "alert format: text (Falco's alert line) or json (Falco's JSON object); default: json_output of the configuration (text)")
	cmd.Flags().BoolVar(&iso8601, "iso8601", false, "print alert times in ISO 8601 (time_format_iso_8601)")
	cmd.Flags().StringVar(&matching, "rule-matching", "", "first: only the first matching rule alerts for an event (Falco's default); all: every one (rule_matching)")
	cmd.Flags().StringVar(&hostname, "hostname", "", "hostname of the alerts (default: the capture's machine name)")
	cmd.Flags().StringVarP(&print, "print", "p", "", "also print every event with this output format, as sysdig -p does (e.g. '%evt.num %evt.type %proc.name %fd.name')")
	cmd.Flags().BoolVar(&all, "all-events", false, "judge every event, including those sysdig and Falco do not show (internal records, state-only events of filtered captures)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "do not print the summary on stderr")
	return cmd
}
