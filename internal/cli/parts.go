package cli

import (
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/truesightsec/truesight/internal/agent"
	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/console"
	"github.com/truesightsec/truesight/internal/enforce"
	"github.com/truesightsec/truesight/internal/fim"
	"github.com/truesightsec/truesight/internal/posture"
)

// runParts are the parts `truesight run` starts beside the event loop
// (detectors and the console), as the configuration and flags ask.
// Each capability adds its own line.
func runParts(cfg *config.Config, f *runFlags) ([]agent.Part, error) {
	var parts []agent.Part
	_ = cfg
	_ = f
	if cfg.Truesight.Console.Enabled {
		parts = append(parts, console.New(cfg.Truesight.Console))
	}
	if cfg.Truesight.Enforce.Enabled {
		parts = append(parts, enforce.NewPart(cfg.Truesight.Enforce, cfg.Truesight.Containers.HostRoot))
	}
	if cfg.Truesight.Posture.Enabled {
		parts = append(parts, posture.NewPart(cfg.Truesight.Posture))
	}
	if cfg.Truesight.FIM.Enabled {
		parts = append(parts, fim.NewPart(cfg.Truesight.FIM, filepath.Join("/", cfg.Truesight.Containers.HostRoot, "proc")))
	}
	return parts, nil
}

// runFlags are the flags of `truesight run` that parts read.
type runFlags struct {
	enforce bool
}

func (f *runFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.enforce, "enforce", false, "deny writes to the loader's configuration (truesight.enforce.enabled=true, truesight.enforce.mode=enforce); docs/enforcement.md")
}

// overrides are the configuration keys the flags set.
func (f *runFlags) overrides() []string {
	if !f.enforce {
		return nil
	}
	return []string{"truesight.enforce.enabled=true", "truesight.enforce.mode=enforce"}
}
