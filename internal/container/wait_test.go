package container

import (
	"context"
	"io"
	"log/slog"
	"testing"
)

// gatedRuntime is a fakeRuntime whose answers the test releases: inspect
// says which id it was asked for, then waits for the gate.
type gatedRuntime struct {
	*fakeRuntime
	asking chan string
	gate   chan struct{}
}

func newGated() *gatedRuntime {
	return &gatedRuntime{fakeRuntime: newFake(), asking: make(chan string, 16), gate: make(chan struct{})}
}

func (g *gatedRuntime) inspect(ctx context.Context, id string) (*Info, error) {
	g.asking <- id
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.fakeRuntime.inspect(ctx, id)
}

// gatedRegistry runs a registry whose only runtime is g.
func gatedRegistry(t *testing.T, g *gatedRuntime) *Registry {
	t.Helper()
	r := NewRegistry(Options{Docker: []string{}, Containerd: []string{}, CRI: []string{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	r.clients = []*clientState{{c: g, explicit: true}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	<-r.Synced()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func (r *Registry) waiting(id string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.waiters[id])
}

func TestWaitReturnsTheMetadataWhenTheRuntimeAnswers(t *testing.T) {
	g := newGated()
	id := hexID(7)
	g.add(id, "web")
	r := gatedRegistry(t, g)

	got := make(chan *Info, 2)
	for range 2 {
		go func() { got <- r.Wait(context.Background(), id) }()
	}
	if asked := <-g.asking; asked != id {
		t.Fatalf("runtime asked for %s, want %s", asked, id)
	}
	eventually(t, "both waiters registered", func() bool { return r.waiting(id) == 2 })
	select {
	case i := <-got:
		t.Fatalf("Wait returned %+v before the runtime answered", i)
	default:
	}
	close(g.gate)
	// The context never ends: only the runtime's answer can release them.
	for range 2 {
		if i := <-got; i == nil || i.Name != "web" {
			t.Fatalf("Wait = %+v, want the metadata of web", i)
		}
	}
	if n := g.timesAsked(id); n != 1 {
		t.Errorf("runtime asked %d times for two waiters, want 1", n)
	}
	if n := r.waiting(id); n != 0 {
		t.Errorf("%d waiters left after the answer", n)
	}
}

func TestWaitReturnsNilWhenItsContextEnds(t *testing.T) {
	g := newGated()
	id := hexID(8)
	g.add(id, "slow")
	r := gatedRegistry(t, g)
	t.Cleanup(func() { close(g.gate) })

	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan *Info, 1)
	go func() { got <- r.Wait(ctx, id) }()
	<-g.asking
	eventually(t, "the waiter registered", func() bool { return r.waiting(id) == 1 })
	cancel()
	if i := <-got; i != nil {
		t.Fatalf("Wait after its context ended = %+v, want nil", i)
	}
	if n := r.waiting(id); n != 0 {
		t.Errorf("%d waiters left after the context ended", n)
	}
}

func TestWaitForADescribedContainerDoesNotWait(t *testing.T) {
	f := newFake()
	id := hexID(9)
	f.add(id, "db")
	r, stop := fakeRegistry(t, f, Options{})
	defer stop()
	eventually(t, "metadata", func() bool { return r.Lookup(id) != nil })

	done, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name, id, want string
	}{
		{"described container", id, "db"},
		{"no container", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			i := r.Wait(done, c.id)
			switch {
			case c.want == "" && i != nil:
				t.Fatalf("Wait(%q) = %+v, want nil", c.id, i)
			case c.want != "" && (i == nil || i.Name != c.want):
				t.Fatalf("Wait(%q) = %+v, want %s", c.id, i, c.want)
			}
		})
	}
}
