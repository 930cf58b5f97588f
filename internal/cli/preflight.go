package cli

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/preflight"
)

func newPreflightCmd() *cobra.Command {
	var (
		rf   runtimeFlags
		cfgf configFlags
		tier string
	)
	cmd := &cobra.Command{
		Use:   "preflight",
		Short: "Check that this node (or pod) has what the agent needs",
		Long: `Check the kernel and its BTF, each capability the tier needs, the bpf()
system call, the node's /proc and PID namespace, pid_max, bpffs and tracefs,
fanotify and the container runtime sockets; print each as ok, missing or
warning, with what to do. The Helm chart runs it as an init container.

Exits 0 when nothing is missing, 1 when something is, 2 on a usage error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t := preflight.Tier(tier)
			if t != preflight.Detect && t != preflight.Enforce {
				return &exitError{code: 2, err: fmt.Errorf("--tier: %q is not detect or enforce", tier)}
			}
			cfg, err := loadConfig(cmd, &cfgf, nil)
			if err != nil {
				return err
			}
			opts, err := rf.options(cmd, slog.New(slog.NewTextHandler(io.Discard, nil)), cfg.Truesight.Containers)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			var sockets []string
			for _, s := range []struct{ conf, defaults []string }{
				{opts.Docker, container.DefaultDockerSockets},
				{opts.CRI, container.DefaultCRISockets},
				{opts.Containerd, container.DefaultContainerdSockets},
			} {
				if s.conf == nil {
					s.conf = s.defaults
				}
				for _, p := range s.conf {
					if !slices.Contains(sockets, p) {
						sockets = append(sockets, p)
					}
				}
			}
			rep := preflight.Run(preflight.Options{HostRoot: opts.HostRoot, Tier: t, Sockets: sockets, SocketTimeout: min(opts.Timeout, 2*time.Second)})
			rep.Write(cmd.OutOrStdout())
			if m := rep.Missing(); len(m) > 0 {
				names := make([]string, len(m))
				for i, c := range m {
					names[i] = c.Name
				}
				return &exitError{code: 1, err: fmt.Errorf("preflight: missing for the %s tier: %v", t, names)}
			}
			return nil
		},
	}
	rf.register(cmd)
	cfgf.register(cmd)
	cmd.Flags().StringVar(&tier, "tier", string(preflight.Detect), "the privileges to check: detect (watch and scan) or enforce (also deny opens with fanotify)")
	return cmd
}
