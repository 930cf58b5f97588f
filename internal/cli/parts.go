package cli

import (
	"github.com/truesightsec/truesight/internal/agent"
	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/console"
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
	return parts, nil
}

// runFlags are the flags of `truesight run` that parts read.
type runFlags struct{}
