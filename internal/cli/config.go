package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Validate or show the configuration",
	}
	var vf configFlags
	validate := &cobra.Command{
		Use:   "validate",
		Short: "Check a configuration file: errors with key, line and column; exits 1 on error",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := loadConfig(cmd, &vf, nil); err != nil {
				return &exitError{code: 1, err: err.(*exitError).err}
			}
			name := vf.path
			if name == "" {
				name = "embedded default"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok\n", name)
			return nil
		},
	}
	vf.register(validate)
	var sf configFlags
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration (defaults, file and -o overrides) as YAML",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, &sf, nil)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), cfg.Show())
			return nil
		},
	}
	sf.register(show)
	cmd.AddCommand(validate, show)
	return cmd
}
