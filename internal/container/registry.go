package container

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/truesightsec/truesight/internal/node"
)

// Default socket paths, each tried under Options.HostRoot. A runtime whose
// default sockets are all missing is simply not there; only explicitly
// configured sockets warn when missing.
var (
	DefaultDockerSockets     = []string{"/run/docker.sock", "/run/podman/podman.sock"}
	DefaultContainerdSockets = []string{"/run/containerd/containerd.sock", "/run/k3s/containerd/containerd.sock"}
	DefaultCRISockets        = []string{"/run/containerd/containerd.sock", "/run/crio/crio.sock", "/run/k3s/containerd/containerd.sock"}
)

// Options configures a Registry. The zero value auto-detects every runtime
// at its default sockets on the local host.
type Options struct {
	// HostRoot prefixes every socket path: "/host" for an agent running in
	// a DaemonSet pod that mounts the node's / at /host.
	HostRoot string
	// Docker lists Docker Engine API sockets (Docker or Podman's
	// compatible service); Containerd lists containerd API sockets; CRI
	// lists Kubernetes CRI sockets (containerd's CRI plugin, CRI-O). nil
	// means the defaults above; an empty non-nil slice disables that kind.
	Docker, Containerd, CRI []string
	// Capacity bounds the number of containers remembered (default 4096).
	Capacity int
	// ExitGrace is how long an exited container's metadata stays after the
	// runtime reports its exit, so that late events of its last processes
	// are still attributed (default 30s).
	ExitGrace time.Duration
	// Timeout bounds one request to a runtime (default 5s).
	Timeout time.Duration
	// MaxBackoff caps the delay between reconnection attempts (default 30s;
	// the first retry comes after 250ms).
	MaxBackoff time.Duration
	// Logger receives the few warnings the registry gives: a configured
	// socket missing, a runtime lost and found again, no runtime at all.
	// nil uses slog.Default().
	Logger *slog.Logger
}

func (o *Options) withDefaults() {
	if o.Capacity <= 0 {
		o.Capacity = 4096
	}
	if o.ExitGrace <= 0 {
		o.ExitGrace = 30 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// errNotFound is what a runtime client returns for an id it does not know.
var errNotFound = errors.New("no such container")

// change is what a runtime's event stream says happened to a container.
type change struct {
	id   string
	kind changeKind
	at   time.Time
}

type changeKind uint8

const (
	changeStarted changeKind = iota // created, started or updated: (re)inspect
	changeExited                    // the container's init process exited
)

// runtimeClient is one connection to one runtime socket.
type runtimeClient interface {
	// kind names the API: docker, containerd or cri.
	kind() string
	socket() string
	// connect checks that the daemon answers and learns what it is.
	connect(ctx context.Context) error
	// inspect returns the container's metadata, or errNotFound.
	inspect(ctx context.Context, id string) (*Info, error)
	// running lists the full ids of the running containers.
	running(ctx context.Context) ([]string, error)
	// watch streams container changes until the stream breaks or ctx ends.
	watch(ctx context.Context, report func(change)) error
	close()
}

// entry is the registry's record of one container id. info is replaced,
// never mutated, so a pointer handed out by Lookup stays consistent.
type entry struct {
	info     *Info
	added    time.Time
	exited   time.Time // zero while running
	fetching bool
	again    bool      // the runtime reported a change during the fetch
	polls    int       // refetches while the container was not yet started
	misses   int       // fetches that found no runtime knowing the id
	retryAt  time.Time // when to ask again after a miss
}

// Registry is the cache of container metadata the field extractors read.
// Lookup and Seen never wait on a runtime: a miss queues an asynchronous
// fetch, and the fields print <NA> until the runtime answers. Runtime
// event streams keep the cache fresh; exited containers are evicted after
// Options.ExitGrace; the cache holds at most Options.Capacity containers.
type Registry struct {
	opts    Options
	clients []*clientState

	mu      sync.RWMutex
	entries map[string]*entry
	// waiters are the Wait calls for ids not described yet; each channel
	// (buffered) receives the metadata once.
	waiters map[string][]chan *Info

	requests chan string
	changes  chan change
	fetchSem chan struct{}

	observers atomic.Pointer[[]func(*Info, bool)] // Observe's, copied on add

	synced   chan struct{} // closed when every client has had its first try
	syncOnce sync.Once
	pending  sync.WaitGroup // clients still on their first try
}

// clientState wraps a client with its connection status.
type clientState struct {
	c         runtimeClient
	explicit  bool
	mu        sync.Mutex
	connected bool
	engine    string // what connect learned (docker, podman, containerd, cri-o)
	warned    bool   // a missing/lost warning was given and not yet resolved
	wasUp     bool
}

func (s *clientState) up() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected
}

// NewRegistry builds a registry for the runtimes the options name; nothing
// is contacted until Run.
func NewRegistry(opts Options) *Registry {
	opts.withDefaults()
	r := &Registry{
		opts:     opts,
		entries:  make(map[string]*entry),
		waiters:  make(map[string][]chan *Info),
		requests: make(chan string, 1024),
		changes:  make(chan change, 1024),
		fetchSem: make(chan struct{}, 8),
		synced:   make(chan struct{}),
	}
	add := func(paths, defaults []string, mk func(path string) runtimeClient) {
		explicit := paths != nil
		if !explicit {
			paths = defaults
		}
		for _, p := range paths {
			r.clients = append(r.clients, &clientState{c: mk(node.Root(opts.HostRoot).Path(p)), explicit: explicit})
		}
	}
	// Order matters: a container known to several clients is described by
	// the first that knows it, and CRI knows more than plain containerd.
	add(opts.Docker, DefaultDockerSockets, func(p string) runtimeClient { return newDockerClient(p, opts.Timeout) })
	add(opts.CRI, DefaultCRISockets, func(p string) runtimeClient { return newCRIClient(p, opts.Timeout) })
	add(opts.Containerd, DefaultContainerdSockets, func(p string) runtimeClient { return newContainerdClient(p, opts.Timeout) })
	return r
}

// Lookup returns what is known about the container with this full id, or
// nil while nothing is. It never blocks on a runtime and does not allocate
// when the container is known; an unknown id queues a fetch.
func (r *Registry) Lookup(fullID string) *Info {
	r.mu.RLock()
	e := r.entries[fullID]
	var info *Info
	if e != nil {
		info = e.info
	}
	r.mu.RUnlock()
	if e == nil && fullID != "" {
		r.request(fullID)
	}
	return info
}

// Wait returns the container's metadata as soon as a runtime has described
// it, asking for it if nobody has yet, or nil when ctx ends first. It is
// for the first event of a new container, whose rules need the image or
// privileges at once; the event path otherwise uses Lookup, which never
// waits.
func (r *Registry) Wait(ctx context.Context, fullID string) *Info {
	if fullID == "" {
		return nil
	}
	ch := make(chan *Info, 1)
	r.mu.Lock()
	if e := r.entries[fullID]; e != nil && e.info != nil {
		info := e.info
		r.mu.Unlock()
		return info
	}
	r.waiters[fullID] = append(r.waiters[fullID], ch)
	r.mu.Unlock()
	r.request(fullID)
	select {
	case info := <-ch:
		return info
	case <-ctx.Done():
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ws := r.waiters[fullID]
	for i, w := range ws {
		if w == ch {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(r.waiters, fullID)
	} else {
		r.waiters[fullID] = ws
	}
	select {
	case info := <-ch: // it came with the end of ctx
		return info
	default:
		return nil
	}
}

// Seen tells the registry a process was seen in this container, so that
// its metadata is fetched before any rule asks for it.
func (r *Registry) Seen(fullID string) {
	if fullID == "" {
		return
	}
	r.mu.RLock()
	_, ok := r.entries[fullID]
	r.mu.RUnlock()
	if !ok {
		r.request(fullID)
	}
}

// request queues a fetch without ever blocking: when the queue is full the
// id is dropped, and the next Lookup asks again.
func (r *Registry) request(id string) {
	select {
	case r.requests <- id:
	default:
	}
}

// Containers returns the metadata of every known container, sorted by
// name then id.
func (r *Registry) Containers() []*Info {
	r.mu.RLock()
	out := make([]*Info, 0, len(r.entries))
	for _, e := range r.entries {
		if e.info != nil {
			out = append(out, e.info)
		}
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].FullID < out[j].FullID
	})
	return out
}

// Exited reports whether the runtime said the container exited (its
// metadata is kept for the grace period).
func (r *Registry) Exited(fullID string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e := r.entries[fullID]
	return e != nil && !e.exited.IsZero()
}

// Runtime describes one runtime socket and whether it answers.
type Runtime struct {
	API       string // docker, containerd or cri
	Socket    string
	Engine    string // docker, podman, containerd, cri-o; "" until connected
	Connected bool
}

// Runtimes lists the sockets the registry watches.
func (r *Registry) Runtimes() []Runtime {
	out := make([]Runtime, 0, len(r.clients))
	for _, s := range r.clients {
		s.mu.Lock()
		out = append(out, Runtime{API: s.c.kind(), Socket: s.c.socket(), Engine: s.engine, Connected: s.connected})
		s.mu.Unlock()
	}
	return out
}

// Synced returns a channel closed once every runtime socket has been tried
// once (connected and listed, or found missing).
func (r *Registry) Synced() <-chan struct{} { return r.synced }

// Run connects to the runtimes, follows their events and serves fetches
// until ctx ends. Lookups work before and after Run; they just find
// nothing new.
func (r *Registry) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	r.pending.Add(len(r.clients))
	for _, s := range r.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.follow(ctx, s)
		}()
	}
	go func() {
		r.pending.Wait()
		r.syncOnce.Do(func() { close(r.synced) })
		if ctx.Err() != nil {
			return
		}
		if r.connectedCount() == 0 && !r.anyWarned() {
			var tried []string
			for _, s := range r.clients {
				tried = append(tried, s.c.kind()+":"+s.c.socket())
			}
			r.opts.Logger.Warn("container: no container runtime answered; container.name, container.image and k8s.* fields will print <NA> until one does (configure the runtime sockets if they live elsewhere; podman answers once its API is served: systemctl enable --now podman.socket, or podman system service --time=0 unix:///run/podman/podman.sock)",
				"tried", tried)
		}
	}()

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			for _, s := range r.clients {
				s.c.close()
			}
			return nil
		case id := <-r.requests:
			r.schedule(ctx, id, false)
		case ch := <-r.changes:
			r.apply(ctx, ch)
		case now := <-tick.C:
			r.sweep(ctx, now)
		}
	}
}

func (r *Registry) anyWarned() bool {
	for _, s := range r.clients {
		s.mu.Lock()
		w := s.warned
		s.mu.Unlock()
		if w {
			return true
		}
	}
	return false
}

func (r *Registry) connectedCount() int {
	n := 0
	for _, s := range r.clients {
		if s.up() {
			n++
		}
	}
	return n
}

// schedule starts a fetch of id unless one is running; force refetches a
// known container (the runtime said it changed).
func (r *Registry) schedule(ctx context.Context, id string, force bool) {
	r.mu.Lock()
	e := r.entries[id]
	if e == nil {
		r.makeRoom()
		e = &entry{added: time.Now()}
		r.entries[id] = e
	} else if e.fetching {
		e.again = e.again || force
		r.mu.Unlock()
		return
	} else if !force && (e.info != nil || time.Now().Before(e.retryAt)) {
		r.mu.Unlock()
		return
	}
	e.fetching = true
	r.mu.Unlock()
	go func() {
		select {
		case r.fetchSem <- struct{}{}:
		case <-ctx.Done():
			r.finish(id, nil)
			return
		}
		info := r.fetch(ctx, id)
		<-r.fetchSem
		r.finish(id, info)
	}()
}

// fetch asks each connected runtime in turn.
func (r *Registry) fetch(ctx context.Context, id string) *Info {
	for _, s := range r.clients {
		if !s.up() {
			continue
		}
		info, err := s.c.inspect(ctx, id)
		if err == nil && info != nil {
			checkNamespaces(info, node.Root(r.opts.HostRoot).Path("/proc"))
			return info
		}
	}
	return nil
}

// Observe adds fn, called after each description a runtime gives of a
// container (its start, an update, and every container already running
// when Run connects) with exited false, and once with exited true when the
// runtime reports that the container exited. fn is called from the
// registry's goroutines and must not block; add observers before Run.
func (r *Registry) Observe(fn func(info *Info, exited bool)) {
	for {
		old := r.observers.Load()
		var next []func(*Info, bool)
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, fn)
		if r.observers.CompareAndSwap(old, &next) {
			return
		}
	}
}

func (r *Registry) notify(info *Info, exited bool) {
	if obs := r.observers.Load(); obs != nil && info != nil {
		for _, fn := range *obs {
			fn(info, exited)
		}
	}
}

func (r *Registry) finish(id string, info *Info) {
	if info != nil {
		defer r.notify(info, false)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if info != nil {
		for _, w := range r.waiters[id] {
			w <- info
		}
		delete(r.waiters, id)
	}
	e := r.entries[id]
	if e == nil {
		return // evicted meanwhile
	}
	e.fetching = false
	refetch := e.again
	e.again = false
	if info != nil {
		e.info = info
		e.misses = 0
		// Created but not yet started: ask again shortly for the start
		// time, in case the start event is late or never comes.
		if info.StartTs == 0 && e.exited.IsZero() && e.polls < 20 {
			e.polls++
			refetch = true
		}
	} else if e.info == nil {
		e.misses++
		d := time.Second << min(e.misses-1, 6)
		e.retryAt = time.Now().Add(d)
	}
	if refetch {
		time.AfterFunc(50*time.Millisecond, func() {
			select {
			case r.changes <- change{id: id, kind: changeStarted}:
			default:
			}
		})
	}
}

func (r *Registry) apply(ctx context.Context, ch change) {
	switch ch.kind {
	case changeStarted:
		r.mu.Lock()
		if e := r.entries[ch.id]; e != nil {
			e.exited = time.Time{}
		}
		r.mu.Unlock()
		r.schedule(ctx, ch.id, true)
	case changeExited:
		var info *Info
		r.mu.Lock()
		if e := r.entries[ch.id]; e != nil && e.exited.IsZero() {
			e.exited = ch.at
			info = e.info
		}
		r.mu.Unlock()
		r.notify(info, true)
	}
}

// sweep evicts containers past their exit grace, forgets ids no runtime
// knew once they are old, and retries misses that are due.
func (r *Registry) sweep(ctx context.Context, now time.Time) {
	var retry []string
	r.mu.Lock()
	for id, e := range r.entries {
		switch {
		case !e.exited.IsZero() && now.Sub(e.exited) > r.opts.ExitGrace:
			delete(r.entries, id)
		case e.info == nil && !e.fetching && e.misses > 0 && now.After(e.retryAt):
			if e.misses >= 8 {
				// Nobody knows it: forget it; a new sighting asks again.
				delete(r.entries, id)
				continue
			}
			retry = append(retry, id)
		}
	}
	r.mu.Unlock()
	for _, id := range retry {
		r.schedule(ctx, id, false)
	}
}

// makeRoom evicts one entry when the cache is full: an exited container
// first (oldest exit), then an id no runtime knows, then the oldest.
// Called with r.mu held.
func (r *Registry) makeRoom() {
	if len(r.entries) < r.opts.Capacity {
		return
	}
	var victim string
	var vrank int
	var vtime time.Time
	for id, e := range r.entries {
		if e.fetching {
			continue
		}
		rank, t := 2, e.added
		switch {
		case !e.exited.IsZero():
			rank, t = 0, e.exited
		case e.info == nil:
			rank = 1
		}
		if victim == "" || rank < vrank || (rank == vrank && t.Before(vtime)) {
			victim, vrank, vtime = id, rank, t
		}
	}
	if victim != "" {
		delete(r.entries, victim)
	}
}

// follow keeps one client connected: connect, list what runs, follow
// events; on failure warn once and retry with exponential backoff.
func (r *Registry) follow(ctx context.Context, s *clientState) {
	first := true
	backoff := 250 * time.Millisecond
	for ctx.Err() == nil {
		err := r.session(ctx, s, &first)
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		wasConnected := s.connected
		s.connected = false
		warn := !s.warned && (s.explicit || s.wasUp || exists(s.c.socket()))
		if warn {
			s.warned = true
		}
		s.mu.Unlock()
		if first {
			first = false
			r.pending.Done()
		}
		if wasConnected {
			backoff = 250 * time.Millisecond
		}
		if warn {
			r.opts.Logger.Warn("container: runtime socket unavailable; metadata of its containers will be <NA> until it answers again, retrying with backoff",
				"api", s.c.kind(), "socket", s.c.socket(), "error", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, r.opts.MaxBackoff)
	}
}

// session is one connection's life: it returns why it ended.
func (r *Registry) session(ctx context.Context, s *clientState, first *bool) error {
	cctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	err := s.c.connect(cctx)
	cancel()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.connected = true
	s.engine = engineOf(s.c)
	recovered := s.warned
	s.warned = false
	s.wasUp = true
	s.mu.Unlock()
	if recovered {
		r.opts.Logger.Info("container: runtime socket answers again", "api", s.c.kind(), "socket", s.c.socket())
	}

	// Subscribe before listing, so that nothing starting in between is
	// missed; the events wait in the channel while the list is applied.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	werr := make(chan error, 1)
	go func() {
		werr <- s.c.watch(wctx, func(ch change) {
			select {
			case r.changes <- ch:
			case <-wctx.Done():
			}
		})
	}()

	lctx, lcancel := context.WithTimeout(ctx, r.opts.Timeout)
	ids, err := s.c.running(lctx)
	lcancel()
	if err != nil {
		return err
	}
	r.resync(ctx, s, ids)
	if *first {
		// Fetch what runs now before declaring the first sync done.
		r.waitFetches(ctx, ids)
		*first = false
		r.pending.Done()
	}
	return <-werr
}

// resync reconciles the cache with a runtime's list of running containers:
// new ones are fetched, and known ones from this runtime that no longer
// run (we missed their exit while disconnected) are marked exited.
func (r *Registry) resync(ctx context.Context, s *clientState, ids []string) {
	runningNow := make(map[string]bool, len(ids))
	for _, id := range ids {
		runningNow[id] = true
	}
	source := sourceOf(s.c)
	now := time.Now()
	var gone []*Info
	r.mu.Lock()
	for id, e := range r.entries {
		if e.info != nil && e.info.Runtime == source && e.exited.IsZero() && !runningNow[id] {
			e.exited = now
			gone = append(gone, e.info)
		}
		if e.info == nil && !e.fetching {
			e.retryAt = time.Time{}
		}
	}
	var unknown []string
	for id, e := range r.entries {
		if e.info == nil {
			unknown = append(unknown, id)
		}
	}
	r.mu.Unlock()
	for _, info := range gone {
		r.notify(info, true)
	}
	for _, id := range ids {
		r.schedule(ctx, id, false)
	}
	for _, id := range unknown {
		r.schedule(ctx, id, false)
	}
}

// waitFetches waits (briefly) until the given ids are no longer being
// fetched.
func (r *Registry) waitFetches(ctx context.Context, ids []string) {
	deadline := time.Now().Add(r.opts.Timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		busy := false
		r.mu.RLock()
		for _, id := range ids {
			if e := r.entries[id]; e != nil && e.fetching {
				busy = true
				break
			}
		}
		r.mu.RUnlock()
		if !busy {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sourceOf is the Info.Runtime of the containers a client describes.
func sourceOf(c runtimeClient) string { return c.kind() + ":" + c.socket() }

// engineOf is what the client reports as the container type once
// connected.
func engineOf(c runtimeClient) string {
	if e, ok := c.(interface{ engine() string }); ok {
		return e.engine()
	}
	return c.kind()
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
