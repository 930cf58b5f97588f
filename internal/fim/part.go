package fim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/truesightsec/truesight/internal/agent"
	"github.com/truesightsec/truesight/internal/config"
	"github.com/truesightsec/truesight/internal/container"
	"github.com/truesightsec/truesight/internal/event"
	"github.com/truesightsec/truesight/internal/fanotify"
	"github.com/truesightsec/truesight/internal/state"
)

// Part watches every container's files in `truesight run`: fanotify
// notification marks (never permission marks) on each container's root
// filesystem, reached through /proc/<pid>/root, so the kernel reports the
// change whichever mount namespace the writer is in (a sibling writing
// through /proc/<pid>/root is seen on the target). Each change is judged
// against the layer baselines and becomes a finding of type file_drift.
//
// Two groups: one without file ids marks each container's overlay
// superblock for FAN_CLOSE_WRITE (content writes anywhere, with the file's
// path from its descriptor); one reporting directory ids and names
// (FAN_REPORT_DFID_NAME) marks every directory of the watched trees for
// FAN_CREATE, FAN_DELETE, FAN_MOVED_FROM/TO and FAN_ATTRIB, because
// overlayfs gives no decodable file handles for a superblock mark.
type Part struct {
	cfg      config.FIM
	procRoot string
	env      *agent.Env
	mon      *Monitor

	writes, dirs *fanotify.Group

	mu         sync.Mutex
	containers map[string]*watched // full id -> container
	byDev      map[uint64]*watched // overlay device -> container
	byDir      map[string]dirRef   // fsid and handle -> directory
	reported   map[string]string   // container id + path -> state reported
	pending    map[string]*pendingChange
	asked      map[string]bool // containers whose names were waited for once
	wake       chan struct{}
	// Poll is how often running containers are listed (default 1 s).
	Poll time.Duration
}

type watched struct {
	c    *Container
	ids  []string
	dev  uint64
	fsid [2]int32
	root string // /proc/<pid>/root
}

type dirRef struct {
	w   *watched
	rel string
}

type pendingChange struct {
	w      *watched
	path   string
	writer *state.Process
	pid    int32
	at     time.Time
}

// NewPart returns the real-time FIM part; procRoot is the node's /proc.
func NewPart(cfg config.FIM, procRoot string) *Part {
	if procRoot == "" {
		procRoot = "/proc"
	}
	return &Part{cfg: cfg, procRoot: procRoot, containers: map[string]*watched{}, byDev: map[uint64]*watched{},
		byDir: map[string]dirRef{}, reported: map[string]string{}, pending: map[string]*pendingChange{}, asked: map[string]bool{},
		wake: make(chan struct{}, 1), Poll: time.Second}
}

// Name names the part in the agent's log.
func (p *Part) Name() string { return "fim" }

// Attach opens the baseline database (held until Run ends) and the two
// fanotify groups.
func (p *Part) Attach(env *agent.Env) error {
	p.env = env
	key, err := LoadKey(p.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("fim: %w", err)
	}
	store, err := OpenStore(p.cfg.DB, key, false)
	if err != nil {
		return fmt.Errorf("fim: %w", err)
	}
	p.mon = &Monitor{Store: store, Walk: WalkOptions{Workers: p.cfg.Workers, MaxHashBytes: int64(p.cfg.MaxHashMiB) << 20}}
	const eventFlags = unix.O_RDONLY | unix.O_LARGEFILE | unix.O_CLOEXEC
	if p.writes, err = fanotify.Init(unix.FAN_CLASS_NOTIF, eventFlags); err != nil {
		_ = store.Close()
		return fmt.Errorf("fim: %w (needs root: CAP_SYS_ADMIN)", err)
	}
	if p.dirs, err = fanotify.Init(unix.FAN_CLASS_NOTIF|unix.FAN_REPORT_DFID_NAME, eventFlags); err != nil {
		_ = p.writes.Close()
		_ = store.Close()
		return fmt.Errorf("fim: %w", err)
	}
	return nil
}

// Run watches until ctx ends.
func (p *Part) Run(ctx context.Context) error {
	defer func() {
		_ = p.writes.Close()
		_ = p.dirs.Close()
		_ = p.mon.Store.Close()
	}()
	var wg sync.WaitGroup
	for _, fn := range []func(context.Context){p.readWrites, p.readDirs, p.judge} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(ctx)
		}()
	}
	t := time.NewTicker(p.Poll)
	defer t.Stop()
	for {
		p.discover(ctx)
		select {
		case <-ctx.Done():
			_ = p.writes.SetReadDeadline(time.Now())
			_ = p.dirs.SetReadDeadline(time.Now())
			wg.Wait()
			return nil
		case <-t.C:
		}
	}
}

// discover starts watching new containers and forgets those gone.
func (p *Part) discover(ctx context.Context) {
	var lookup func(string) *container.Info
	if p.env.Containers != nil {
		lookup = p.env.Containers.Lookup
	}
	procs, err := container.ScanProcs(p.procRoot)
	if err != nil {
		p.env.Log.Warn("fim: list containers", "err", err)
		return
	}
	p.mu.Lock()
	for id, w := range p.containers {
		if _, ok := procs[id]; !ok {
			p.forget(id, w)
		}
	}
	p.mu.Unlock()
	// Off the findings' path the runtime may take its time to name new
	// containers, within one budget per round.
	budget := time.Now().Add(3 * time.Second)
	for id, pr := range procs {
		p.mu.Lock()
		_, known := p.containers[id]
		p.mu.Unlock()
		if known {
			continue
		}
		if p.env.Containers != nil {
			p.env.Containers.Seen(id) // ask the runtime for its name and image
		}
		c, err := ContainerOf(p.procRoot, id, pr.Pid, lookup)
		if left := time.Until(budget); err == nil && c.Name == "" && p.env.Containers != nil && left > 0 {
			if info := p.wait(id, left); info != nil {
				c.Name, c.Image, c.ImageDigest = info.Name, info.Image, info.ImageDigest
			}
		}
		if err != nil {
			p.mu.Lock()
			p.containers[id] = nil // not an overlay root: nothing to watch
			p.mu.Unlock()
			p.env.Log.Info("fim: container not watched", "container", container.ShortID(id), "reason", err)
			continue
		}
		if err := p.watch(ctx, c); err != nil {
			p.env.Log.Warn("fim: watch container", "container", container.ShortID(id), "err", err)
		}
	}
}

// forget drops a container that is gone; its marks went with its
// superblock. p.mu is held.
func (p *Part) forget(id string, w *watched) {
	delete(p.containers, id)
	if w == nil {
		return
	}
	delete(p.byDev, w.dev)
	delete(p.asked, id)
	for k, d := range p.byDir {
		if d.w == w {
			delete(p.byDir, k)
		}
	}
	for k := range p.reported {
		if strings.HasPrefix(k, id+"\x00") {
			delete(p.reported, k)
		}
	}
}

// watch baselines the container's layers (the first container of an
// image pays for it), marks its root filesystem and its watched trees, and
// reports the drift it already has.
func (p *Part) watch(ctx context.Context, c *Container) error {
	root := filepath.Join(p.procRoot, strconv.Itoa(c.Pid), "root")
	ids, _, err := p.mon.Layers(ctx, c)
	if err != nil {
		return err
	}
	var st unix.Stat_t
	var sfs unix.Statfs_t
	if err := unix.Stat(root, &st); err != nil {
		return err
	}
	if err := unix.Statfs(root, &sfs); err != nil {
		return err
	}
	w := &watched{c: c, ids: ids, dev: st.Dev, fsid: [2]int32{sfs.Fsid.Val[0], sfs.Fsid.Val[1]}, root: root}
	if err := p.writes.Mark(unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, unix.FAN_CLOSE_WRITE, unix.AT_FDCWD, root); err != nil {
		return err
	}
	p.mu.Lock()
	p.containers[c.ID] = w
	p.byDev[w.dev] = w
	p.mu.Unlock()
	for _, tree := range p.cfg.WatchPaths {
		p.markTree(w, tree)
	}
	p.mu.Lock()
	dirs := 0
	for _, d := range p.byDir {
		if d.w == w {
			dirs++
		}
	}
	p.mu.Unlock()
	p.env.Log.Info("fim: watching container", "container", container.ShortID(c.ID), "name", c.Name, "directories", dirs, "layers", len(ids))
	// What the container changed before it was watched.
	changes, _, err := p.mon.Drift(ctx, c)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, ch := range changes {
		p.report(w, ch, nil, 0, "present when the agent started watching the container")
	}
	return nil
}

const dirMask = unix.FAN_CREATE | unix.FAN_DELETE | unix.FAN_MOVED_FROM | unix.FAN_MOVED_TO | unix.FAN_ATTRIB |
	unix.FAN_CLOSE_WRITE | unix.FAN_ONDIR | unix.FAN_EVENT_ON_CHILD

// atHandleFID asks name_to_handle_at for the file id fanotify reports,
// which overlayfs gives even when its handles cannot be opened.
const atHandleFID = 0x200

// markTree marks every directory of tree (a path in the container) that
// is a directory, without following symbolic links.
func (p *Part) markTree(w *watched, tree string) {
	_ = filepath.WalkDir(filepath.Join(w.root, tree), func(full string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(full, w.root), "/")
		return p.markDir(w, rel)
	})
}

func (p *Part) markDir(w *watched, rel string) error {
	full := w.root + rel
	if err := p.dirs.Mark(unix.FAN_MARK_ADD, dirMask, unix.AT_FDCWD, full); err != nil {
		return nil // gone or another filesystem (a mount inside): skip it
	}
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, full, atHandleFID)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	p.byDir[dirKey(w.fsid, h.Type(), h.Bytes())] = dirRef{w: w, rel: rel}
	p.mu.Unlock()
	return nil
}

func dirKey(fsid [2]int32, typ int32, handle []byte) string {
	var b [12]byte
	*(*[2]int32)(unsafe.Pointer(&b[0])) = fsid
	*(*int32)(unsafe.Pointer(&b[8])) = typ
	return string(b[:]) + string(handle)
}

// readEvents reads a fanotify group until ctx ends, handing each event
// to handle.
func (p *Part) readEvents(ctx context.Context, g *fanotify.Group, handle func(ev *fanotify.Event)) {
	buf := make([]byte, 64<<10)
	for ctx.Err() == nil {
		n, err := g.Read(buf)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				p.env.Log.Warn("fim: read fanotify", "err", err)
			}
			return
		}
		for b := buf[:n]; len(b) > 0; {
			var ev fanotify.Event
			if b, err = fanotify.Parse(b, &ev); err != nil {
				break
			}
			handle(&ev)
		}
	}
}

// readWrites turns close-after-write events into pending changes.
func (p *Part) readWrites(ctx context.Context) {
	var pathBuf []byte
	p.readEvents(ctx, p.writes, func(ev *fanotify.Event) {
		if ev.Fd < 0 {
			return // queue overflow: the next check finds what was lost
		}
		writer := writerOf(p.procRoot, ev.Pid)
		var st unix.Stat_t
		serr := unix.Fstat(int(ev.Fd), &st)
		var err error
		pathBuf, err = fanotify.FdPath(ev.Fd, pathBuf[:0])
		_ = unix.Close(int(ev.Fd))
		if serr != nil || err != nil {
			return
		}
		p.mu.Lock()
		w := p.byDev[st.Dev]
		p.mu.Unlock()
		if w == nil {
			return
		}
		p.queue(w, strings.TrimSuffix(string(pathBuf), " (deleted)"), writer, ev.Pid)
	})
}

// readDirs turns directory events (create, delete, rename, attributes)
// into pending changes, and marks new directories of watched trees.
func (p *Part) readDirs(ctx context.Context) {
	p.readEvents(ctx, p.dirs, func(ev *fanotify.Event) {
		var writer *state.Process
		for i := range ev.Info {
			in := &ev.Info[i]
			if in.Name == nil || (in.Type != unix.FAN_EVENT_INFO_TYPE_DFID_NAME && in.Type != unix.FAN_EVENT_INFO_TYPE_OLD_DFID_NAME && in.Type != unix.FAN_EVENT_INFO_TYPE_NEW_DFID_NAME) {
				continue
			}
			p.mu.Lock()
			d, ok := p.byDir[dirKey(in.Fsid, in.HandleType, in.Handle)]
			p.mu.Unlock()
			if !ok {
				continue
			}
			if writer == nil {
				writer = writerOf(p.procRoot, ev.Pid)
			}
			rel := path.Join(d.rel, string(in.Name))
			if ev.Mask&unix.FAN_ONDIR != 0 && ev.Mask&(unix.FAN_CREATE|unix.FAN_MOVED_TO) != 0 {
				p.markTree(d.w, rel)
			}
			p.queue(d.w, rel, writer, ev.Pid)
		}
	})
}

// settle is how long a path must stay quiet before it is judged, so a
// create, its writes and a chmod make one finding.
const settle = 50 * time.Millisecond

func (p *Part) queue(w *watched, rel string, writer *state.Process, pid int32) {
	p.mu.Lock()
	k := w.c.ID + "\x00" + rel
	pc := p.pending[k]
	if pc == nil {
		pc = &pendingChange{w: w, path: rel}
		p.pending[k] = pc
	}
	pc.at = time.Now()
	if writer != nil || pc.writer == nil {
		pc.writer, pc.pid = writer, pid
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// judge classifies settled paths against the baselines and reports
// what drifted (once per state of a path).
func (p *Part) judge(ctx context.Context) {
	t := time.NewTicker(settle / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-t.C:
		}
		now := time.Now()
		var ready []*pendingChange
		p.mu.Lock()
		for k, pc := range p.pending {
			if now.Sub(pc.at) >= settle {
				ready = append(ready, pc)
				delete(p.pending, k)
			}
		}
		p.mu.Unlock()
		for _, pc := range ready {
			changes, err := p.mon.DriftPath(ctx, pc.w.c, pc.w.ids, pc.path)
			if err != nil {
				continue
			}
			k := pc.w.c.ID + "\x00" + pc.path
			if len(changes) == 0 {
				p.mu.Lock()
				delete(p.reported, k) // back to the image's state
				p.mu.Unlock()
			}
			for _, ch := range changes {
				p.report(pc.w, ch, pc.writer, pc.pid, "")
			}
		}
	}
}

// report makes a finding of one change, unless the same state of that
// path was reported already.
func (p *Part) report(w *watched, ch Change, writer *state.Process, pid int32, note string) {
	f := &event.Finding{Kind: "file_drift", Path: ch.Path, Change: string(ch.Kind), Layer: ch.Layer,
		Container: w.c.ID, ContainerName: w.c.Name, ContainerImage: w.c.Image, Root: w.c.Overlay.Upper,
		Detail: map[string]string{}}
	if ch.Old != nil {
		f.OldSHA256, f.OldMode = ch.Old.Digest, fmt.Sprintf("%04o", ch.Old.Mode)
	}
	if ch.New != nil {
		f.NewSHA256, f.NewMode = ch.New.Digest, fmt.Sprintf("%04o", ch.New.Mode)
		if ch.New.Type == TypeFile && ch.New.Mode&0o6000 != 0 {
			f.Detail["setid"] = "true"
		}
	}
	f.SHA256 = f.NewSHA256
	if len(ch.Attrs) > 0 {
		f.Detail["attrs"] = strings.Join(ch.Attrs, ",")
	}
	if note != "" {
		f.Detail["note"] = note
	}
	seen := f.Change + " " + f.NewSHA256 + " " + f.NewMode
	k := w.c.ID + "\x00" + ch.Path
	p.mu.Lock()
	same := p.reported[k] == seen
	p.reported[k] = seen
	p.mu.Unlock()
	if same {
		return
	}
	p.describe(w.c)
	if writer != nil && writer.ContainerID != "" && writer.ContainerID != w.c.ID && p.env.Containers != nil {
		p.wait(writer.ContainerID, describeWait) // so container.* name the writer's container
	}
	p.mu.Lock() // describe may be naming the container from another goroutine
	f.ContainerName, f.ContainerImage = w.c.Name, w.c.Image
	label := w.c.Label()
	p.mu.Unlock()
	f.Writer = describeWriter(writer, pid)
	f.Summary = fmt.Sprintf("%s %s in container %s (%s)", f.Change, f.Path, label, container.ShortID(w.c.ID))
	if writer != nil && writer.ContainerID != w.c.ID {
		f.Summary += " by " + f.Writer
	}
	ev := &event.Event{Time: time.Now().UnixNano(), Type: event.MustType("file_drift"), Source: event.SourceTruesight, Finding: f}
	if writer != nil {
		ev.Pid, ev.Tid = writer.Pid, writer.Pid
	}
	p.env.Report(ev, writer)
}

// describe fills in the container's name and image once the runtime
// told the registry.
func (p *Part) describe(c *Container) {
	p.mu.Lock()
	named := c.Name != ""
	p.mu.Unlock()
	if named || p.env.Containers == nil {
		return
	}
	if info := p.wait(c.ID, describeWait); info != nil {
		p.mu.Lock()
		c.Name, c.Image, c.ImageDigest = info.Name, info.Image, info.ImageDigest
		p.mu.Unlock()
	}
}

// describeWait bounds the wait for a runtime's answer about a container
// a finding names: a finding is late by at most this much, never lost.
const describeWait = 500 * time.Millisecond

// wait waits for the registry to describe container id, once per
// container: a runtime that does not know it (or no runtime at all) must
// not slow every finding down.
func (p *Part) wait(id string, d time.Duration) *container.Info {
	p.mu.Lock()
	asked := p.asked[id]
	p.asked[id] = true
	p.mu.Unlock()
	if asked {
		return p.env.Containers.Lookup(id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return p.env.Containers.Wait(ctx, id)
}

func describeWriter(w *state.Process, pid int32) string {
	switch {
	case w != nil && w.ContainerID != "":
		return fmt.Sprintf("pid %d %s in container %s", w.Pid, w.Comm, container.ShortID(w.ContainerID))
	case w != nil:
		return fmt.Sprintf("pid %d %s on the host", w.Pid, w.Comm)
	case pid > 0:
		return fmt.Sprintf("pid %d (exited before it could be read)", pid)
	}
	return ""
}

// writerOf describes the process pid from /proc at once (a writer may be
// short-lived): comm, command line, executable, user and container. It
// is nil when the process is gone.
func writerOf(procRoot string, pid int32) *state.Process {
	if pid <= 0 {
		return nil
	}
	dir := filepath.Join(procRoot, strconv.Itoa(int(pid)))
	cg, err := os.ReadFile(dir + "/cgroup")
	if err != nil {
		return nil
	}
	sp := &state.Process{Pid: int64(pid), Tid: int64(pid), LoginUID: -1}
	sp.ContainerID = container.IDFromCgroupFile(cg)
	if comm, err := os.ReadFile(dir + "/comm"); err == nil {
		sp.SetComm(strings.TrimSpace(string(comm)))
	}
	if argv, err := os.ReadFile(dir + "/cmdline"); err == nil && len(argv) > 0 {
		parts := strings.Split(strings.TrimRight(string(argv), "\x00"), "\x00")
		sp.SetArgs(parts[0], parts[1:])
	}
	sp.ExePath, _ = os.Readlink(dir + "/exe")
	if status, err := os.ReadFile(dir + "/status"); err == nil {
		for line := range bytes.Lines(status) {
			if v, ok := bytes.CutPrefix(line, []byte("Uid:")); ok {
				if f := strings.Fields(string(v)); len(f) > 1 {
					u, _ := strconv.ParseUint(f[1], 10, 32)
					sp.UID, sp.EUID = uint32(u), uint32(u)
				}
			}
			if v, ok := bytes.CutPrefix(line, []byte("PPid:")); ok {
				sp.PPid, _ = strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
			}
		}
	}
	return sp
}
