package enforce_test

import (
	"context"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/truesightsec/truesight/internal/enforce"
)

var atFDCWD = unix.AT_FDCWD

func unsafePointer(p *byte) unsafe.Pointer { return unsafe.Pointer(p) }

// runGuard runs g until the returned stop is called.
func runGuard(tb testing.TB, g *enforce.Guard) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("guard: %v", err)
		}
	}
}
