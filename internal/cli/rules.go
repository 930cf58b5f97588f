package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/truesightsec/truesight/internal/agent"
	"github.com/truesightsec/truesight/internal/engine"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/rules"
)

// ruleFlags are the flags every command that loads rules shares.
type ruleFlags struct {
	files      []string
	noDefaults bool
}

func (f *ruleFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVarP(&f.files, "rules", "r", nil, "rules file to load after the embedded defaults (repeatable, loaded in order)")
	cmd.Flags().BoolVar(&f.noDefaults, "no-default-rules", false, "do not load truesight's embedded default rules")
}

// load builds an engine from the flags, printing warnings to stderr; an
// error diagnostic fails the load with exit code 1.
func (f *ruleFlags) load(stderr io.Writer, opts engine.Options) (*engine.Engine, *rules.Ruleset, error) {
	eng, rs, err := agent.LoadEngine(agent.Rules{Files: f.files, NoDefaults: f.noDefaults}, opts, stderr)
	if err != nil {
		return nil, rs, exitCode(err)
	}
	return eng, rs, nil
}

func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Validate and list rules",
	}
	cmd.AddCommand(newRulesValidateCmd(), newRulesListCmd())
	return cmd
}

func newRulesValidateCmd() *cobra.Command {
	var withDefaults bool
	cmd := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Load rules files in order and report every error and warning with file:line:column",
		Long: `Load rules files in order, as the agent would, and report every error and
warning with file, line, column and the item's name. Exits 0 when the files
load, 1 when any error was found.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := ruleFlags{files: args, noDefaults: !withDefaults}
			eng, _, err := f.load(cmd.ErrOrStderr(), engine.Options{})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d rules enabled)\n", strings.Join(args, ", "), len(eng.Rules()))
			return nil
		},
	}
	cmd.Flags().BoolVar(&withDefaults, "with-defaults", false, "load the embedded default rules first, as the agent does")
	return cmd
}

func newRulesListCmd() *cobra.Command {
	var f ruleFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the loaded rules: name, priority, source, event types and tags",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			eng, _, err := f.load(cmd.ErrOrStderr(), engine.Options{})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "RULE\tPRIORITY\tSOURCE\tEVENT TYPES\tTAGS")
			for _, r := range eng.Rules() {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Priority, r.Source, typeList(r), strings.Join(r.Tags, ","))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\n%d rules enabled; the sensor captures %d event types for them.\n",
				len(eng.Rules()), len(eng.Types(event.SourceSyscall)))
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func typeList(r *engine.Rule) string {
	if r.AllTypes {
		return "(all)"
	}
	names := make([]string, len(r.Types))
	for i, t := range r.Types {
		names[i] = t.String()
	}
	return strings.Join(names, ",")
}
