package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/truesightsec/truesight/internal/fields"
)

func newFieldsCmd() *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "fields",
		Short: "List every field conditions and outputs can use, with its type and meaning",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "FIELD\tTYPE\tDESCRIPTION")
			for _, f := range fields.All() {
				if prefix != "" && !strings.HasPrefix(f.Name, prefix) {
					continue
				}
				name := f.Name
				switch f.Arg {
				case fields.IndexArg:
					name += "[n]"
				case fields.KeyArg:
					name += "[key]"
				case fields.NameOrIndex:
					name += "[name|n]"
				}
				desc := f.Desc
				if f.Deprecated {
					desc = "(deprecated) " + desc
				}
				fmt.Fprintf(w, "%s\t%s\t%s\n", name, f.Type, desc)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "", "only fields whose name starts with this (e.g. proc.)")
	return cmd
}
