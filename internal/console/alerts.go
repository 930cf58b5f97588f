package console

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/truesightsec/truesight/internal/output"
	"github.com/truesightsec/truesight/internal/rules"
)

// alertEntry is one alert as the console keeps it: Falco's JSON and the
// values the filters read.
type alertEntry struct {
	Seq      uint64
	JSON     []byte
	Rule     string
	Priority rules.Priority
	// Container is container.id (12 hex or "host") and ContainerName
	// container.name, Pod k8s.pod.name, when the rule's output has them.
	Container, ContainerName, Pod string
	Pid                           int64 // proc.pid, 0 when not in the output
}

// jsonOptions make the console's alerts Falco's JSON with every property,
// whatever the outputs were told to leave out: the page shows them all.
var jsonOptions = output.JSONOptions{IncludeMessage: true}

// newAlertEntry encodes an alert; everything it keeps is a copy, so the
// alert may be reused once it returns.
func newAlertEntry(al *output.Alert) *alertEntry {
	e := &alertEntry{JSON: al.JSON(jsonOptions), Rule: strings.Clone(al.Rule)}
	e.Priority, _ = rules.ParsePriority(al.Priority)
	str := func(k string) string {
		if v, ok := al.Fields[k]; ok && v != nil {
			return strings.Clone(fmt.Sprint(v))
		}
		return ""
	}
	e.Container, e.ContainerName, e.Pod = str("container.id"), str("container.name"), str("k8s.pod.name")
	switch v := al.Fields["proc.pid"].(type) {
	case int64:
		e.Pid = v
	case uint64:
		e.Pid = int64(v)
	case int:
		e.Pid = int64(v)
	}
	return e
}

// alertFilter selects alerts: every set criterion must hold.
type alertFilter struct {
	// MinPriority keeps alerts at least this severe (Priority counts from
	// Emergency = 0); -1 keeps all.
	MinPriority rules.Priority
	Rule        string // exact rule name
	Container   string // container.id, its prefix, or container.name
	Pod         string // k8s.pod.name
	Text        string // lower-case text anywhere in the alert's JSON
}

func (f *alertFilter) match(e *alertEntry) bool {
	switch {
	case f.MinPriority >= 0 && e.Priority > f.MinPriority:
		return false
	case f.Rule != "" && e.Rule != f.Rule:
		return false
	case f.Container != "" && f.Container != e.ContainerName && (e.Container == "" || !strings.HasPrefix(f.Container, e.Container)):
		// A full id names the alert's 12-character container.id too.
		return false
	case f.Pod != "" && e.Pod != f.Pod:
		return false
	case f.Text != "" && !bytes.Contains(bytes.ToLower(e.JSON), []byte(f.Text)):
		return false
	}
	return true
}

// alertHub keeps the most recent alerts in a ring and hands each new one
// to the live clients without ever waiting for them.
type alertHub struct {
	mu      sync.Mutex
	ring    []*alertEntry
	next    uint64 // Seq of the next alert; alerts start at 1
	clients map[*alertClient]struct{}

	queue int // each client's channel length
	// Received counts alerts observed; Dropped counts alerts a live
	// client lost because its queue was full.
	Received, Dropped atomic.Uint64
}

// alertClient is one live reader (an SSE stream).
type alertClient struct {
	ch      chan *alertEntry
	dropped atomic.Uint64
}

func newAlertHub(size, queue int) *alertHub {
	return &alertHub{ring: make([]*alertEntry, size), next: 1, clients: map[*alertClient]struct{}{}, queue: queue}
}

// add keeps e in the ring (its Seq set) and offers it to every client;
// a client whose queue is full loses it. add never blocks on a client.
func (h *alertHub) add(e *alertEntry) {
	h.Received.Add(1)
	h.mu.Lock()
	e.Seq = h.next
	h.next++
	h.ring[e.Seq%uint64(len(h.ring))] = e
	for c := range h.clients {
		select {
		case c.ch <- e:
		default:
			c.dropped.Add(1)
			h.Dropped.Add(1)
		}
	}
	h.mu.Unlock()
}

// since returns the alerts still in the ring whose Seq is after seq,
// oldest first, that f selects, at most limit of them (the newest).
func (h *alertHub) since(seq uint64, f *alertFilter, limit int) []*alertEntry {
	h.mu.Lock()
	kept := h.keptLocked(seq)
	h.mu.Unlock()
	return selectNewest(kept, f, limit)
}

// keptLocked returns the ring's alerts whose Seq is after seq, newest
// first. It only copies pointers: the filters run outside the lock, so
// that a query over a large ring never holds up add (the pipeline).
// Entries are never changed once added.
func (h *alertHub) keptLocked(seq uint64) []*alertEntry {
	n := uint64(len(h.ring))
	first := seq + 1
	if h.next > n && first < h.next-n {
		first = h.next - n
	}
	var out []*alertEntry
	if h.next > first {
		out = make([]*alertEntry, 0, h.next-first)
	}
	for s := h.next - 1; s >= first && s > 0; s-- {
		if e := h.ring[s%n]; e != nil && e.Seq == s {
			out = append(out, e)
		}
	}
	return out
}

// selectNewest keeps, of alerts newest first, the first limit that f
// selects, and returns them oldest first.
func selectNewest(newestFirst []*alertEntry, f *alertFilter, limit int) []*alertEntry {
	var out []*alertEntry
	for _, e := range newestFirst {
		if len(out) >= limit {
			break
		}
		if f == nil || f.match(e) {
			out = append(out, e)
		}
	}
	slices.Reverse(out)
	return out
}

// subscribe registers a live client and returns the alerts after seq
// still in the ring (at most limit), so that nothing falls between the
// backlog and the live alerts.
func (h *alertHub) subscribe(seq uint64, f *alertFilter, limit int) (*alertClient, []*alertEntry) {
	c := &alertClient{ch: make(chan *alertEntry, h.queue)}
	h.mu.Lock()
	h.clients[c] = struct{}{}
	kept := h.keptLocked(seq)
	h.mu.Unlock()
	return c, selectNewest(kept, f, limit)
}

func (h *alertHub) unsubscribe(c *alertClient) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
}

// stats are the hub's figures for the health view.
func (h *alertHub) stats() (kept, size, clients int, last uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	kept = int(min(h.next-1, uint64(len(h.ring))))
	return kept, len(h.ring), len(h.clients), h.next - 1
}

// pidAlerts counts the ring's alerts per proc.pid, for marking alerting
// processes in a tree.
func (h *alertHub) pidAlerts() map[int64]int {
	h.mu.Lock()
	kept := h.keptLocked(0)
	h.mu.Unlock()
	m := map[int64]int{}
	for _, e := range kept {
		if e.Pid > 0 {
			m[e.Pid]++
		}
	}
	return m
}
