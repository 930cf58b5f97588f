package enforce

import (
	"context"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Change says a process renamed, linked, symlinked or removed a path:
// what permission events cannot stop. The sensor reports it after the
// syscall returned.
type Change struct {
	// Paths are the syscall's paths as the event shows them (the
	// process's view, or /proc/<pid>/root/... of another root).
	Paths [2]string
	Pid   int
	// Syscall is the event type (rename, linkat, unlink...).
	Syscall string
	// Time is when the syscall returned.
	Time time.Time
}

// Changed queues a change for checking; it never blocks (a full queue
// drops it, counted as an error).
func (g *Guard) Changed(c Change) {
	select {
	case g.changes <- c:
	default:
		g.Counters.Errors.Add(1)
	}
}

// relCandidates are the paths inside some root that p may name.
func relCandidates(p string) []string {
	out := []string{p}
	if rest, ok := strings.CutPrefix(p, "/proc/"); ok {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i > 0 && strings.HasPrefix(rest[i:], "/root/") {
			out = append(out, rest[i+len("/root"):])
		}
	}
	return out
}

// repair checks queued changes until ctx ends.
func (g *Guard) repair(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-g.changes:
			g.check(c)
		}
	}
}

// check compares every protected root's copy of the paths a change may
// have touched with what is there now; a difference is undone (enforce) or
// reported (detect).
func (g *Guard) check(c Change) {
	pol := g.Policy()
	type target struct{ rel, entry string }
	var targets []target
	for _, p := range c.Paths {
		if p == "" {
			continue
		}
		for _, rel := range relCandidates(p) {
			g.mu.Lock()
			for _, rs := range g.roots {
				rel = rs.relative(rel)
			}
			g.mu.Unlock()
			if e, ok := pol.Match(rel); ok {
				targets = append(targets, target{rel, e})
			}
		}
	}
	if len(targets) == 0 {
		return
	}
	g.mu.Lock()
	roots := make([]*rootState, 0, len(g.roots))
	for _, rs := range g.roots {
		roots = append(roots, rs)
	}
	g.mu.Unlock()
	var writer *Writer
	killed := false
	for _, rs := range roots {
		for _, t := range targets {
			want := rs.copy.files[t.rel]
			now, err := current(rs.Dir, t.rel)
			if err != nil || same(now, want) {
				continue
			}
			g.unignore(rs, t.rel)
			if writer == nil {
				w := writerOf(g.opts.ProcRoot, int32(c.Pid))
				writer = &w
			}
			b := &Block{Path: t.rel, Policy: t.entry, Root: rs.Root, Writer: *writer, Syscall: c.Syscall, Time: time.Now()}
			if !pol.Enforce {
				b.Action, b.Reason = ActionAlerted, "detect mode: the change was left in place"
				g.Counters.Alerted.Add(1)
				g.opts.Report(b)
				continue
			}
			if !killed && c.Pid > 1 && c.Pid != g.pid && !writer.Gone {
				// A rename has no permission hook: stop the process before it
				// uses what it put in place, then undo it.
				if unix.Kill(c.Pid, unix.SIGKILL) == nil {
					killed = true
					g.Counters.Killed.Add(1)
				}
			}
			b.Killed = killed
			if err := restore(rs.Dir, t.rel, want); err != nil {
				b.Action, b.Reason = ActionFailed, fmt.Sprintf("could not restore: %v", err)
				g.opts.Report(b)
				continue
			}
			if fresh, err := takeSnapshotOf(rs.Dir, t.rel); err == nil {
				rs.reinode(t.rel, fresh)
			}
			g.Counters.Restored.Add(1)
			b.Action = ActionRestored
			if !c.Time.IsZero() {
				b.Window = time.Since(c.Time)
			}
			b.Reason = "the copy kept when protection started was put back"
			if want == nil {
				b.Reason = "the file did not exist when protection started: removed"
			}
			if killed {
				b.Reason = "process killed; " + b.Reason
			}
			g.opts.Report(b)
		}
	}
}

// unignore removes an ignore mark from the file now at rel: it came from
// an unprotected name and its opens must be judged again.
func (g *Guard) unignore(rs *rootState, rel string) {
	fd, err := openInRoot(rs.Dir, rel)
	if err != nil {
		return
	}
	defer func() { _ = unix.Close(fd) }()
	_ = g.group.Mark(unix.FAN_MARK_REMOVE|unix.FAN_MARK_IGNORED_MASK, unix.FAN_OPEN_PERM, fd, "")
}

// takeSnapshotOf describes the file at rel after a restore.
func takeSnapshotOf(dir, rel string) (*fileCopy, error) { return current(dir, rel) }

// reinode records the inode a restored file has now.
func (rs *rootState) reinode(rel string, fc *fileCopy) {
	old := *rs.inodes.Load()
	next := make(map[uint64]string, len(old)+1)
	for ino, r := range old {
		if r != rel {
			next[ino] = r
		}
	}
	if fc != nil && fc.mode&unix.S_IFMT == unix.S_IFREG {
		next[fc.ino] = rel
	}
	rs.inodes.Store(&next)
}
