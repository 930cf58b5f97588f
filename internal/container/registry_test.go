package container

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRuntime is a runtime the test scripts: which containers it knows and
// what events it sends. The real clients are tested against real daemons;
// this one pins down the cache's policy.
type fakeRuntime struct {
	mu     sync.Mutex
	known  map[string]*Info
	asked  map[string]int
	events chan change
	slow   time.Duration
	live   []string
}

func newFake() *fakeRuntime {
	return &fakeRuntime{known: map[string]*Info{}, asked: map[string]int{}, events: make(chan change, 16)}
}

func (f *fakeRuntime) kind() string                      { return "fake" }
func (f *fakeRuntime) socket() string                    { return "/fake.sock" }
func (f *fakeRuntime) connect(ctx context.Context) error { return nil }
func (f *fakeRuntime) close()                            {}
func (f *fakeRuntime) running(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live, nil
}
func (f *fakeRuntime) inspect(ctx context.Context, id string) (*Info, error) {
	if f.slow > 0 {
		time.Sleep(f.slow)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked[id]++
	if i := f.known[id]; i != nil {
		c := *i
		return &c, nil
	}
	return nil, errNotFound
}
func (f *fakeRuntime) watch(ctx context.Context, report func(change)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ch := <-f.events:
			report(ch)
		}
	}
}
func (f *fakeRuntime) add(id, name string) {
	f.mu.Lock()
	f.known[id] = &Info{FullID: id, ID: ShortID(id), Name: name, StartTs: 1, Runtime: "fake:/fake.sock"}
	f.mu.Unlock()
}
func (f *fakeRuntime) timesAsked(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked[id]
}

func hexID(n int) string {
	const digits = "0123456789abcdef"
	b := []byte(strings.Repeat("0", 64))
	for i := 63; n > 0; i-- {
		b[i] = digits[n%16]
		n /= 16
	}
	return string(b)
}

func fakeRegistry(t testing.TB, f *fakeRuntime, opts Options) (*Registry, context.CancelFunc) {
	opts.Docker, opts.Containerd, opts.CRI = []string{}, []string{}, []string{}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	r := NewRegistry(opts)
	r.clients = []*clientState{{c: f, explicit: true}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	<-r.Synced()
	return r, func() { cancel(); <-done }
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestLookupIsAsynchronousAndAsksOnce(t *testing.T) {
	f := newFake()
	f.slow = 200 * time.Millisecond
	id := hexID(1)
	f.add(id, "web")
	r, stop := fakeRegistry(t, f, Options{})
	defer stop()

	start := time.Now()
	for range 100 {
		if i := r.Lookup(id); i != nil {
			t.Fatalf("metadata before the runtime answered: %+v", i)
		}
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("100 lookups of an unknown container took %v: Lookup waited on the runtime", d)
	}
	eventually(t, "metadata", func() bool { return r.Lookup(id) != nil })
	if got := r.Lookup(id).Name; got != "web" {
		t.Errorf("name %q", got)
	}
	if n := f.timesAsked(id); n != 1 {
		t.Errorf("runtime asked %d times for one container, want 1", n)
	}
}

func TestLookupOfAKnownContainerDoesNotAllocate(t *testing.T) {
	r := NewRegistry(Options{Docker: []string{}, Containerd: []string{}, CRI: []string{}})
	id := hexID(7)
	r.entries[id] = &entry{info: &Info{FullID: id, Name: "db"}}
	if n := testing.AllocsPerRun(1000, func() { _ = r.Lookup(id) }); n != 0 {
		t.Errorf("Lookup allocates %v times per hit", n)
	}
}

func TestExitedContainersAreEvictedAfterTheGracePeriod(t *testing.T) {
	f := newFake()
	id := hexID(2)
	f.add(id, "job")
	r, stop := fakeRegistry(t, f, Options{ExitGrace: 300 * time.Millisecond})
	defer stop()
	r.Seen(id)
	eventually(t, "metadata", func() bool { return r.Lookup(id) != nil })

	exitAt := time.Now()
	f.events <- change{id: id, kind: changeExited, at: exitAt}
	eventually(t, "exit", func() bool { return r.Exited(id) })
	if r.Lookup(id) == nil {
		t.Fatal("metadata dropped at exit, before the grace period")
	}
	eventually(t, "eviction", func() bool {
		r.mu.RLock()
		defer r.mu.RUnlock()
		return r.entries[id] == nil
	})
	if d := time.Since(exitAt); d < 300*time.Millisecond {
		t.Errorf("evicted %v after exit, before the grace period", d)
	}
}

func TestAStartEventRefreshesMetadata(t *testing.T) {
	f := newFake()
	id := hexID(3)
	f.add(id, "old-name")
	r, stop := fakeRegistry(t, f, Options{})
	defer stop()
	r.Seen(id)
	eventually(t, "metadata", func() bool { return r.Lookup(id) != nil })
	first := r.Lookup(id)

	f.add(id, "new-name")
	f.events <- change{id: id, kind: changeStarted, at: time.Now()}
	eventually(t, "refresh", func() bool { return r.Lookup(id).Name == "new-name" })
	if first.Name != "old-name" {
		t.Errorf("a published Info was mutated: %+v", first)
	}
}

func TestTheCacheIsBoundedAndEvictsExitedContainersFirst(t *testing.T) {
	f := newFake()
	for n := 1; n <= 5; n++ {
		f.add(hexID(n), "c")
	}
	r, stop := fakeRegistry(t, f, Options{Capacity: 3, ExitGrace: time.Hour})
	defer stop()
	for n := 1; n <= 3; n++ {
		r.Seen(hexID(n))
		eventually(t, "metadata", func() bool { return r.Lookup(hexID(n)) != nil })
	}
	f.events <- change{id: hexID(2), kind: changeExited, at: time.Now()}
	eventually(t, "exit", func() bool { return r.Exited(hexID(2)) })

	r.Seen(hexID(4))
	eventually(t, "metadata of 4", func() bool { return r.Lookup(hexID(4)) != nil })
	r.mu.RLock()
	n, has2, has1 := len(r.entries), r.entries[hexID(2)] != nil, r.entries[hexID(1)] != nil
	r.mu.RUnlock()
	if n != 3 || has2 || !has1 {
		t.Errorf("after overflow: %d entries, exited kept %v, oldest running kept %v; want 3, false, true", n, has2, has1)
	}

	r.Seen(hexID(5))
	eventually(t, "metadata of 5", func() bool { return r.Lookup(hexID(5)) != nil })
	r.mu.RLock()
	n, has1 = len(r.entries), r.entries[hexID(1)] != nil
	r.mu.RUnlock()
	if n != 3 || has1 {
		t.Errorf("with no exited container left, the oldest must go: %d entries, oldest kept %v", n, has1)
	}
}

func TestUnknownIdsAreRetriedWithBackoffNotOnEveryLookup(t *testing.T) {
	f := newFake()
	id := hexID(9)
	r, stop := fakeRegistry(t, f, Options{})
	defer stop()
	for range 50 {
		r.Lookup(id)
		time.Sleep(10 * time.Millisecond)
	}
	if n := f.timesAsked(id); n != 1 {
		t.Errorf("runtime asked %d times in 0.5s for an unknown id, want 1 (next retry after 1s)", n)
	}
	f.add(id, "late")
	eventually(t, "retry", func() bool { return r.Lookup(id) != nil })
}

func TestParseImageRef(t *testing.T) {
	cases := []struct {
		ref                     string
		repository, tag, digest string
	}{
		{"nginx", "nginx", "latest", ""},
		{"nginx:1.25", "nginx", "1.25", ""},
		{"docker.io/library/nginx:1.25", "docker.io/library/nginx", "1.25", ""},
		{"localhost:5000/app", "localhost:5000/app", "latest", ""},
		{"localhost:5000/app:v2", "localhost:5000/app", "v2", ""},
		{"quay.io/x/y@sha256:abc", "quay.io/x/y", "", "sha256:abc"},
		{"quay.io/x/y:1@sha256:abc", "quay.io/x/y", "1", "sha256:abc"},
		{"sha256:60acf114fe4680fb2e3c6b55956f1062a6090ab8176bb9303b0cc6cc753598ae", "", "", ""},
		{"", "", "", ""},
	}
	for _, c := range cases {
		got := parseImageRef(c.ref)
		if got != (imageRef{c.repository, c.tag, c.digest}) {
			t.Errorf("%q: got %+v, want {%s %s %s}", c.ref, got, c.repository, c.tag, c.digest)
		}
	}
}

func TestRepoDigestPicksTheContainersRepository(t *testing.T) {
	list := []string{"a/b@sha256:1", "c/d@sha256:2"}
	if got := repoDigest("c/d", list); got != "sha256:2" {
		t.Errorf("got %q", got)
	}
	if got := repoDigest("x/y", list); got != "" {
		t.Errorf("ambiguous: got %q", got)
	}
	if got := repoDigest("x/y", list[:1]); got != "sha256:1" {
		t.Errorf("only one: got %q", got)
	}
}

func BenchmarkLookupHit(b *testing.B) {
	r := NewRegistry(Options{Docker: []string{}, Containerd: []string{}, CRI: []string{}})
	ids := make([]string, 200)
	for n := range ids {
		ids[n] = hexID(n + 1)
		r.entries[ids[n]] = &entry{info: &Info{FullID: ids[n]}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; b.Loop(); n++ {
		if r.Lookup(ids[n%len(ids)]) == nil {
			b.Fatal("miss")
		}
	}
}

func BenchmarkLookupHitParallel(b *testing.B) {
	r := NewRegistry(Options{Docker: []string{}, Containerd: []string{}, CRI: []string{}})
	id := hexID(1)
	r.entries[id] = &entry{info: &Info{FullID: id}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = r.Lookup(id)
		}
	})
}

func BenchmarkLookupMiss(b *testing.B) {
	r := NewRegistry(Options{Docker: []string{}, Containerd: []string{}, CRI: []string{}})
	id := hexID(1)
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Lookup(id)
	}
}

func TestObserversSeeRunningContainersStartsAndExits(t *testing.T) {
	f := newFake()
	running, started := hexID(7), hexID(8)
	f.add(running, "already-running")
	f.live = []string{running}
	type seen struct {
		name   string
		exited bool
	}
	got := make(chan seen, 16)
	opts := Options{}
	opts.Docker, opts.Containerd, opts.CRI = []string{}, []string{}, []string{}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	r := NewRegistry(opts)
	r.clients = []*clientState{{c: f, explicit: true}}
	r.Observe(func(i *Info, exited bool) { got <- seen{i.Name, exited} })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	next := func() seen {
		select {
		case s := <-got:
			return s
		case <-time.After(5 * time.Second):
			t.Fatal("no observation within 5s")
			return seen{}
		}
	}
	if s := next(); s != (seen{"already-running", false}) {
		t.Fatalf("first observation %+v, want the running container", s)
	}
	f.add(started, "new")
	f.events <- change{id: started, kind: changeStarted, at: time.Now()}
	if s := next(); s != (seen{"new", false}) {
		t.Fatalf("observation %+v, want the started container", s)
	}
	f.events <- change{id: started, kind: changeExited, at: time.Now()}
	if s := next(); s != (seen{"new", true}) {
		t.Fatalf("observation %+v, want the exit", s)
	}
}
