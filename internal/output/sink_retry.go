package output

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// RetryPolicy says how often and how patiently a network sink retries an
// alert it could not deliver.
type RetryPolicy struct {
	// MaxRetries is how many times a failed delivery is retried; 0 means
	// never, negative means until it succeeds or shutdown cancels it. While
	// a sink retries, later alerts wait in its queue.
	MaxRetries int
	// InitialBackoff is the wait before the first retry (0: 100ms); it
	// doubles each time up to MaxBackoff (0: 10s), with ±20% jitter so that
	// many agents do not retry in step.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
}

// backoff returns the wait before retry number n (0-based).
func (p RetryPolicy) backoff(n int) time.Duration {
	d, limit := p.InitialBackoff, p.MaxBackoff
	if d <= 0 {
		d = 100 * time.Millisecond
	}
	if limit <= 0 {
		limit = 10 * time.Second
	}
	for i := 0; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	jitter := time.Duration(float64(d) * 0.2 * (2*rand.Float64() - 1))
	return d + jitter
}

// retries reports whether retry number n (0-based) is allowed.
func (p RetryPolicy) retries(n int) bool {
	return p.MaxRetries < 0 || n < p.MaxRetries
}

// sleep waits d or until ctx is done, and reports whether the wait was
// complete.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// permanentError marks a failure that retrying cannot fix, such as a
// receiver rejecting the payload.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// withRetry runs try until it succeeds, fails permanently, the policy gives
// up or ctx is done; wait, when positive, replaces the next backoff (a
// server's Retry-After). It returns the last error.
func withRetry(ctx context.Context, p RetryPolicy, try func() (wait time.Duration, err error)) error {
	for n := 0; ; n++ {
		wait, err := try()
		if err == nil {
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) || !p.retries(n) || ctx.Err() != nil {
			return err
		}
		if wait <= 0 {
			wait = p.backoff(n)
		}
		if !sleep(ctx, wait) {
			return err
		}
	}
}
