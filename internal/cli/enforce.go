package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/enforce"
	"github.com/truesightsec/truesight/internal/node"
)

func newEnforceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "enforce",
		Short: "Protection of the loader's configuration (docs/enforcement.md)",
	}
	var cfgf configFlags
	status := &cobra.Command{
		Use:   "status",
		Short: "Which filesystems `truesight run --enforce` protects, its mode and counters",
		Long: `Read the state file of the running agent (truesight.enforce.state_file)
and print whether protection runs, its mode, each protected root and the
counters of answered opens. Exits 0 when an agent protects, 1 when none does
or the one that did died (protection lapsed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, &cfgf, nil)
			if err != nil {
				return err
			}
			root := node.Root(cfg.Truesight.Containers.HostRoot)
			path := root.Path(cfg.Truesight.Enforce.StateFile)
			out := cmd.OutOrStdout()
			st, err := enforce.ReadStatus(path)
			if errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(out, "protection: not running (no state file %s)\n", path)
				return &exitError{code: 1}
			}
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if !st.Alive(root.Path("/proc")) {
				fmt.Fprintf(out, "protection: LAPSED: agent pid %d is gone, last seen %s; nothing is protected\n", st.Pid, st.Updated.Format(time.RFC3339))
				return &exitError{code: 1}
			}
			fmt.Fprintf(out, "protection: running (agent pid %d since %s, mode %s, updated %s)\n", st.Pid,
				st.Started.Format(time.RFC3339), st.Mode, st.Updated.Format(time.RFC3339))
			sort.Slice(st.Roots, func(i, j int) bool { return st.Roots[i].Name < st.Roots[j].Name })
			fmt.Fprintf(out, "marked filesystems: %d\n", len(st.Roots))
			for _, r := range st.Roots {
				fmt.Fprintf(out, "  %-24s %-12s %s\n", r.Name, container.ShortID(r.ID), r.Dir)
			}
			c := st.Counters
			fmt.Fprintf(out, "opens answered: %d (protected paths %d: reads %d, denied %d, alerted %d, allowed writers %d; errors %d, timeouts %d)\n",
				c.Events, c.Protected, c.Reads, c.Denied, c.Alerted, c.Allowed, c.Errors, c.Timeouts)
			fmt.Fprintf(out, "renames undone: %d (processes killed %d)\n", c.Restored, c.Killed)
			return nil
		},
	}
	cfgf.register(status)
	cmd.AddCommand(status)
	return cmd
}
