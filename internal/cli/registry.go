package cli

import (
	"context"
	"time"

	"github.com/truesightsec/truesight/internal/container"
)

// startRegistry runs a container registry for one command and returns once
// the runtimes have described the containers running now, or after wait
// (names and images make a report readable; no check needs them), or when
// ctx ends. stop ends the registry.
func startRegistry(ctx context.Context, opts container.Options, wait time.Duration) (reg *container.Registry, stop func()) {
	reg = container.NewRegistry(opts)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = reg.Run(ctx)
	}()
	select {
	case <-reg.Synced():
	case <-time.After(wait):
	case <-ctx.Done():
	}
	return reg, func() { cancel(); <-done }
}
