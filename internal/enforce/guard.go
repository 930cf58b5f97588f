package enforce

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/fanotify"
)

// Root is one protected root filesystem: a container's, or the host's.
type Root struct {
	// ID is the container's full id, or "host".
	ID string
	// Dir reaches the root from the agent: /proc/<pid>/root of a process
	// of the container, or / (under the host root) for the host.
	Dir string
	// Prefixes are where else the agent may see this filesystem mounted
	// (a container's root path on the host, /var/lib/containers/.../merged):
	// an open through such a path is judged on the path below it.
	Prefixes []string
	// Name describes the root in alerts (the container's name).
	Name string
}

// Options configure a Guard.
type Options struct {
	// ProcRoot is where the host's /proc is (default /proc).
	ProcRoot string
	// Deadline bounds the wait of one handed-off decision (default 100ms);
	// past it the open is allowed and a Timeout block reported.
	Deadline time.Duration
	// Report receives every block (denied, alerted, killed, restored,
	// timeout); it is called from the guard's goroutines and must not
	// block for long.
	Report func(*Block)
}

// Counters are the guard's running totals.
type Counters struct {
	Events    atomic.Uint64 // permission events answered
	Protected atomic.Uint64 // of them, opens of protected paths
	Reads     atomic.Uint64 // of them, reads (always allowed)
	Denied    atomic.Uint64
	Alerted   atomic.Uint64 // writes allowed in detect mode
	Allowed   atomic.Uint64 // writes by allowed writers and the agent itself
	Errors    atomic.Uint64 // opens whose intent or path could not be read
	Timeouts  atomic.Uint64 // answered by the deadline
	Restored  atomic.Uint64
	Killed    atomic.Uint64
	// Ignored are the files whose opens no longer ask: unprotected regular
	// files with one link and directories, marked ignored at their first
	// open.
	Ignored atomic.Uint64
}

// Guard answers the permission events of the protected roots.
type Guard struct {
	opts   Options
	policy atomic.Pointer[Policy]
	group  *fanotify.Group
	pid    int

	mu    sync.Mutex
	roots map[string]*rootState // by Root.ID
	// fs maps a superblock (st_dev) to the roots on it; replaced, never
	// mutated, so the event path reads it without a lock.
	fs atomic.Pointer[map[uint64]*rootState]

	work    chan *pending
	changes chan Change
	pmu     sync.Mutex
	waiting map[int32]*pending // handed-off events by fd, for the deadline

	Counters Counters
}

// rootState is a protected root and the copies of its protected files.
type rootState struct {
	Root
	dev  uint64
	copy *snapshot
	// inodes are the protected files' inodes (snapshot.inodes), replaced
	// after a restore gives a file a new one.
	inodes atomic.Pointer[map[uint64]string]
}

// maxIgnores bounds the ignore marks the guard adds (they are evictable:
// the kernel drops one with its inode from the cache).
const maxIgnores = 1 << 20

// pending is a permission event handed to the worker.
type pending struct {
	fd       int32
	tid      int32
	rel      string
	entry    string
	flags    uint64
	root     *rootState
	start    time.Time
	answered atomic.Bool
	// writer is set by the worker as soon as it has described the
	// writer, for a report by the watchdog after the process is gone.
	writer atomic.Pointer[Writer]
}

// New creates the fanotify group. It needs CAP_SYS_ADMIN.
func New(p *Policy, opts Options) (*Guard, error) {
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.Deadline <= 0 {
		opts.Deadline = 100 * time.Millisecond
	}
	if opts.Report == nil {
		opts.Report = func(*Block) {}
	}
	// FAN_REPORT_TID: the event names the waiting thread, whose syscall
	// says whether the open writes.
	g, err := fanotify.Init(unix.FAN_CLASS_CONTENT|unix.FAN_REPORT_TID, unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC|unix.O_NOATIME)
	if err != nil {
		return nil, fmt.Errorf("enforce: %w (needs CAP_SYS_ADMIN and a kernel with fanotify permission events)", err)
	}
	gd := &Guard{opts: opts, group: g, pid: os.Getpid(), roots: map[string]*rootState{},
		work: make(chan *pending, 256), changes: make(chan Change, 1024), waiting: map[int32]*pending{}}
	gd.policy.Store(p)
	empty := map[uint64]*rootState{}
	gd.fs.Store(&empty)
	return gd, nil
}

// Policy is the policy in force.
func (g *Guard) Policy() *Policy { return g.policy.Load() }

// Protect keeps copies of the root's protected files and marks its
// filesystem. A root already protected through the same Dir is left as it
// is; through another (a restarted container) it is protected anew.
func (g *Guard) Protect(r Root) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if old, ok := g.roots[r.ID]; ok {
		if old.Dir == r.Dir {
			return nil
		}
		// The container restarted: its root is another mount now.
		_ = g.group.Mark(unix.FAN_MARK_REMOVE|unix.FAN_MARK_FILESYSTEM, unix.FAN_OPEN_PERM, unix.AT_FDCWD, old.Dir)
		delete(g.roots, r.ID)
		g.publish()
	}
	var st unix.Stat_t
	if err := unix.Stat(r.Dir, &st); err != nil {
		return fmt.Errorf("protect %s: %w", r.Name, err)
	}
	// Copies first: the agent's own reads of a marked filesystem would
	// wait for its own answers.
	snap, err := takeSnapshot(r.Dir, g.Policy())
	if err != nil {
		return fmt.Errorf("protect %s: keep copies: %w", r.Name, err)
	}
	rs := &rootState{Root: r, dev: st.Dev, copy: snap}
	ino := snap.inodes()
	rs.inodes.Store(&ino)
	if err := g.group.Mark(unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, unix.FAN_OPEN_PERM, unix.AT_FDCWD, r.Dir); err != nil {
		return fmt.Errorf("protect %s: %w", r.Name, err)
	}
	g.roots[r.ID] = rs
	g.publish()
	return nil
}

// Forget drops a root whose container exited. Its mark goes with the
// filesystem.
func (g *Guard) Forget(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if rs, ok := g.roots[id]; ok {
		delete(g.roots, id)
		// Unmarking a filesystem still mounted elsewhere; an error means
		// it is gone already.
		_ = g.group.Mark(unix.FAN_MARK_REMOVE|unix.FAN_MARK_FILESYSTEM, unix.FAN_OPEN_PERM, unix.AT_FDCWD, rs.Dir)
		g.publish()
	}
}

// Roots lists the protected roots.
func (g *Guard) Roots() []Root {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Root, 0, len(g.roots))
	for _, rs := range g.roots {
		out = append(out, rs.Root)
	}
	return out
}

// publish rebuilds the superblock map; called with g.mu held.
func (g *Guard) publish() {
	m := make(map[uint64]*rootState, len(g.roots))
	for _, rs := range g.roots {
		m[rs.dev] = rs
	}
	g.fs.Store(&m)
}

// Close closes the group: the kernel allows every open still waiting.
func (g *Guard) Close() error { return g.group.Close() }

// Run answers permission events until ctx ends, then closes the group.
func (g *Guard) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wctx, cancel := context.WithCancel(context.Background())
	wg.Go(func() { g.worker(wctx) })
	wg.Go(func() { g.watchdog(wctx) })
	wg.Go(func() { g.repair(wctx) })
	stop := context.AfterFunc(ctx, func() { _ = g.group.SetReadDeadline(time.Now()) })
	defer stop()
	err := g.read(ctx)
	cancel()
	wg.Wait()
	_ = g.group.Close()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// read is the event loop. It never opens a file on a marked filesystem
// (that open would wait for this loop's own answer).
func (g *Guard) read(ctx context.Context) error {
	buf := make([]byte, 64<<10)
	scratch := make([]byte, 0, unix.PathMax+512)
	for {
		n, err := g.group.Read(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, os.ErrClosed) {
				return nil
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			return err
		}
		b := buf[:n]
		for len(b) > 0 {
			var ev fanotify.Event
			if b, err = fanotify.Parse(b, &ev); err != nil {
				return fmt.Errorf("enforce: %w", err)
			}
			if ev.Fd < 0 {
				continue // queue overflow: permission events are never dropped
			}
			g.Counters.Events.Add(1)
			if !g.decide(&ev, scratch) {
				continue // handed off: the worker answers and closes
			}
			_ = unix.Close(int(ev.Fd))
		}
	}
}

// decide answers an event at once, or hands it to the worker (false).
func (g *Guard) decide(ev *fanotify.Event, scratch []byte) bool {
	allow := func() bool {
		_ = g.group.Respond(ev.Fd, unix.FAN_ALLOW)
		return true
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(ev.Fd), &st); err != nil {
		return allow()
	}
	rs := (*g.fs.Load())[st.Dev]
	if rs == nil {
		return allow()
	}
	p, err := fanotify.FdPath(ev.Fd, scratch[:0])
	if err != nil {
		g.Counters.Errors.Add(1)
		return allow()
	}
	rel := rs.relative(unsafe.String(unsafe.SliceData(p), len(p)))
	pol := g.Policy()
	entry, ok := pol.Match(rel)
	if !ok && st.Nlink > 1 {
		// Another name of a protected file (a hard link made before
		// protection, or outside the protected directories).
		if r, prot := (*rs.inodes.Load())[st.Ino]; prot {
			rel = r
			entry, ok = pol.Match(r)
		}
	}
	if !ok {
		if (st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink == 1 || st.Mode&unix.S_IFMT == unix.S_IFDIR) && g.Counters.Ignored.Load() < maxIgnores {
			// The file's later opens need no answer: an ignore mark on its
			// inode. Should it be renamed or linked onto a protected path,
			// the repair undoes that (and removes the mark).
			if g.group.Mark(unix.FAN_MARK_ADD|unix.FAN_MARK_IGNORED_MASK|unix.FAN_MARK_IGNORED_SURV_MODIFY|unix.FAN_MARK_EVICTABLE,
				unix.FAN_OPEN_PERM, int(ev.Fd), "") == nil {
				g.Counters.Ignored.Add(1)
			}
		}
		return allow()
	}
	g.Counters.Protected.Add(1)
	intent, flags, err := threadIntent(g.opts.ProcRoot, ev.Pid, scratch[len(p):cap(scratch)])
	switch {
	case intent == IntentRead:
		g.Counters.Reads.Add(1)
		return allow()
	case err != nil:
		g.Counters.Errors.Add(1)
	}
	if g.own(ev.Pid, scratch[len(p):cap(scratch)]) {
		// The agent restoring a file: never wait on itself.
		g.Counters.Allowed.Add(1)
		return allow()
	}
	// A write (or an open of unknown intent) of a protected path: who
	// writes and what to answer takes file reads, which must not happen
	// on this goroutine.
	pe := &pending{fd: ev.Fd, tid: ev.Pid, rel: strings.Clone(rel), entry: entry, flags: flags, root: rs, start: time.Now()}
	if intent == IntentUnknown {
		pe.flags = ^uint64(0)
	}
	select {
	case g.work <- pe:
		return false
	default:
		// The worker is swamped: answer as for an internal error.
		g.Counters.Errors.Add(1)
		resp := uint32(unix.FAN_ALLOW)
		if pol.DenyOnError && pol.Enforce {
			resp = unix.FAN_DENY
		}
		_ = g.group.Respond(ev.Fd, resp)
		return true
	}
}

// own reports whether tid is a thread of the agent, without allocating.
func (g *Guard) own(tid int32, buf []byte) bool {
	b := append(buf[:0], "/proc/self/task/"...)
	b = strconv.AppendInt(b, int64(tid), 10)
	b = append(b, 0)
	var st unix.Stat_t
	return statz(b, &st) == nil
}

// relative is the path inside the root of a path the agent read back.
func (rs *rootState) relative(p string) string {
	for _, pre := range rs.Prefixes {
		if pre != "" && len(p) > len(pre) && p[len(pre)] == '/' && p[:len(pre)] == pre {
			return p[len(pre):]
		}
	}
	return p
}

// worker decides handed-off events: the writer's identity, the answer,
// the cleanup of a denied create, the report.
func (g *Guard) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			// Allow what is left; closing the group would too.
			for {
				select {
				case pe := <-g.work:
					_ = g.group.Respond(pe.fd, unix.FAN_ALLOW)
					_ = unix.Close(int(pe.fd))
				default:
					return
				}
			}
		case pe := <-g.work:
			g.pmu.Lock()
			g.waiting[pe.fd] = pe
			g.pmu.Unlock()
			g.judge(pe)
			g.pmu.Lock()
			delete(g.waiting, pe.fd)
			g.pmu.Unlock()
			_ = unix.Close(int(pe.fd))
		}
	}
}

// watchdog allows handed-off events that wait past the deadline.
func (g *Guard) watchdog(ctx context.Context) {
	t := time.NewTicker(max(g.opts.Deadline/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			var late []*pending
			g.pmu.Lock()
			for _, pe := range g.waiting {
				if now.Sub(pe.start) > g.opts.Deadline && pe.answered.CompareAndSwap(false, true) {
					_ = g.group.Respond(pe.fd, unix.FAN_ALLOW)
					late = append(late, pe)
				}
			}
			g.pmu.Unlock()
			for _, pe := range late {
				g.Counters.Timeouts.Add(1)
				w := pe.writer.Load()
				if w == nil {
					d := writerOf(g.opts.ProcRoot, pe.tid)
					w = &d
				}
				g.opts.Report(&Block{Action: ActionTimeout, Path: pe.rel, Policy: pe.entry, Root: pe.root.Root,
					Writer: *w, Time: time.Now(),
					Reason: fmt.Sprintf("no decision within %s: the open was allowed", g.opts.Deadline)})
			}
		}
	}
}

// answer responds once (the watchdog may have answered already).
func (g *Guard) answer(pe *pending, resp uint32) bool {
	if !pe.answered.CompareAndSwap(false, true) {
		return false
	}
	_ = g.group.Respond(pe.fd, resp)
	return true
}

// judge decides one open for writing of a protected path.
func (g *Guard) judge(pe *pending) {
	pol := g.Policy()
	w := writerOf(g.opts.ProcRoot, pe.tid)
	pe.writer.Store(&w)
	if pol.WriterPath(w.Exe) {
		if sum, err := exeHash(g.opts.ProcRoot, pe.tid); err == nil && pol.Writer(w.Exe, sum) {
			g.answer(pe, unix.FAN_ALLOW)
			g.Counters.Allowed.Add(1)
			return
		}
	}
	b := &Block{Path: pe.rel, Policy: pe.entry, Root: pe.root.Root, Writer: w, Time: time.Now(), Flags: pe.flags}
	unknown := pe.flags == ^uint64(0)
	if unknown {
		b.Flags = 0
	}
	switch {
	case unknown && (!pol.DenyOnError || !pol.Enforce):
		g.answer(pe, unix.FAN_ALLOW)
		b.Action, b.Reason = ActionAlerted, "the open's intent could not be read; allowed (truesight.enforce.on_error: allow)"
		g.Counters.Alerted.Add(1)
	case !pol.Enforce:
		g.answer(pe, unix.FAN_ALLOW)
		b.Action, b.Reason = ActionAlerted, "detect mode: the write was allowed"
		g.Counters.Alerted.Add(1)
	default:
		if !g.answer(pe, unix.FAN_DENY) {
			return // the watchdog allowed it and reported
		}
		b.Action, b.Reason = ActionDenied, "open for writing denied (EPERM)"
		g.Counters.Denied.Add(1)
		if b.Flags&unix.O_CREAT != 0 || unknown {
			if g.removeCreated(pe) {
				b.Reason += "; the empty file the create left was removed"
			}
		}
	}
	g.opts.Report(b)
}

// removeCreated removes the empty file a denied O_CREAT left, when the
// path had no file at protection start.
func (g *Guard) removeCreated(pe *pending) bool {
	if _, had := pe.root.copy.files[pe.rel]; had {
		return false
	}
	var st unix.Stat_t
	dir, name := splitRel(pe.rel)
	dfd, err := openInRoot(pe.root.Dir, dir)
	if err != nil {
		return false
	}
	defer func() { _ = unix.Close(dfd) }()
	if unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != 0 {
		return false
	}
	return unix.Unlinkat(dfd, name, 0) == nil
}

// Writer is the process that opened, renamed or linked a protected path.
type Writer struct {
	Pid, Tid    int
	Comm        string
	Exe         string // as its root sees it
	Cmdline     []string
	ContainerID string // full id, "" on the host
	Gone        bool   // it exited before it could be described
}

// writerOf describes the thread tid from /proc.
func writerOf(procRoot string, tid int32) Writer {
	w := Writer{Tid: int(tid), Pid: int(tid)}
	dir := procRoot + "/" + strconv.Itoa(int(tid))
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		w.Gone = true
		return w
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				w.Pid = n
			}
		}
		if v, ok := strings.CutPrefix(line, "Name:"); ok {
			w.Comm = strings.TrimSpace(v)
		}
	}
	w.Exe, _ = os.Readlink(dir + "/exe")
	if b, err := os.ReadFile(dir + "/cmdline"); err == nil {
		w.Cmdline = strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	}
	if b, err := os.ReadFile(dir + "/cgroup"); err == nil {
		w.ContainerID = container.IDFromCgroupFile(b)
	}
	return w
}

// atFDCWD is AT_FDCWD as a syscall argument.
var atFDCWD = unix.AT_FDCWD

// statz stats a NUL-terminated path without allocating.
func statz(path []byte, st *unix.Stat_t) error {
	_, _, e := unix.Syscall6(unix.SYS_NEWFSTATAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(&path[0])), uintptr(unsafe.Pointer(st)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// Relevant reports whether a rename or link with these paths may touch a
// protected path of some root, cheaply (the sensor's loop asks).
func (g *Guard) Relevant(paths [2]string) bool {
	pol := g.Policy()
	fs := *g.fs.Load()
	if len(fs) == 0 {
		return false
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		for _, rel := range relCandidates(p) {
			if _, ok := pol.Match(rel); ok {
				return true
			}
			for _, rs := range fs {
				if r := rs.relative(rel); r != rel {
					if _, ok := pol.Match(r); ok {
						return true
					}
				}
			}
		}
	}
	return false
}
