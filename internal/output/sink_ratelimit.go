package output

import (
	"sync"
	"time"
)

// RateLimit lets at most Max identical alerts, with the same rule and the
// same output text, through per Window; the rest are suppressed and
// counted. An alert storm from one noisy process then costs a few lines,
// while a different alert always gets through.
type RateLimit struct {
	Window time.Duration
	Max    int
}

// limiter applies a RateLimit. Each distinct alert opens a window at its
// first occurrence.
type limiter struct {
	mu        sync.Mutex
	o         RateLimit
	seen      map[limitKey]*limitEntry
	lastPrune time.Time
}

type limitKey struct{ rule, msg string }

type limitEntry struct {
	start time.Time
	n     int
}

// allow reports whether a may pass at time now.
func (l *limiter) allow(a *Alert, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastPrune) >= l.o.Window {
		// Forget closed windows, so that memory follows the alert rate.
		for k, e := range l.seen {
			if now.Sub(e.start) >= l.o.Window {
				delete(l.seen, k)
			}
		}
		l.lastPrune = now
	}
	k := limitKey{a.Rule, a.Message}
	e := l.seen[k]
	if e == nil || now.Sub(e.start) >= l.o.Window {
		l.seen[k] = &limitEntry{start: now, n: 1}
		return true
	}
	if e.n < l.o.Max {
		e.n++
		return true
	}
	return false
}
