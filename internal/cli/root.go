package cli

import (
	"errors"
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/truesightsec/truesight/internal/version"
)

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

// Main runs the command line and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	return mainWithInput(args, nil, stdout, stderr)
}

// mainWithInput is Main reading stdin from in (os.Stdin when nil).
func mainWithInput(args []string, in io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	if in != nil {
		root.SetIn(in)
	}
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "truesight:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "truesight:", err)
	return 2
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "truesight",
		Short: "Runtime security agent that speaks Falco's rules language",
		Long: `truesight watches the kernel with eBPF, judges every event with Falco rules
(unchanged), and reveals what a compromised userland hides.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newVersionCmd(), newFieldsCmd(), newRulesCmd(), newRunCmd(), newScanCmd(), newContainersCmd(), newConfigCmd(), newReplayCmd(), newCaptureCmd(), newPreflightCmd())
	root.AddCommand(newPostureCmd(), newFimCmd(), newEnforceCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print truesight's version and the rules engine version it implements",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "truesight %s\nengine version %s\n%s %s/%s\n",
				version.Version, version.EngineVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
